#pragma once
// ScoreCam<Score>: Score-CAM (Wang et al. 2020; docs/methods.md §2), maths in score_cam_maths.hpp.
//
//   ScoreCam<Post> sc(model, "features.35", {.batch_size = 16});
//   auto r = sc(x);      // r.weights [N, K] = s_k − S(x_b) (default), r.raw [N, H, W]
//
// Cost: forward_until(x, layer) once (A, and the logits at x through the head only), then
// K masked forwards per image, batch_size masked images per forward call, plus (variant
// Increase) one forward of the baseline x_b = 0 — model_evaluations = 1 + K (+ 1). Progress: one tick per batched forward (total = number of
// batches). No gradient is taken, so gradient_norm is empty.
// Conventions (Options): mask upsampling and eps from cam::ScoreCamMaskOptions (default
// half-pixel bilinear, eps 1e-7, as the reference fixtures; ScoreCamMaskOptions::
// pytorch_grad_cam() for pytorch-grad-cam's aligned corners and eps 1e-8); Options::variant:
// the paper's increase over the baseline (default), pytorch-grad-cam's softmax, or the raw scores
// (score_cam_maths.hpp).
#include <algorithm>
#include <string>
#include <utility>

#include "gradattr/attribution/cam_maths.hpp"
#include "gradattr/attribution/detail/engine.hpp"
#include "gradattr/attribution/detail/method_base.hpp"
#include "gradattr/attribution/score_cam_maths.hpp"
#include "gradattr/score/policies.hpp"

namespace gradattr {

struct ScoreCamOptions {
  bool check_finite = true;
  std::int64_t batch_size = 32;  // masked images per forward call
  cam::ScoreCamWeighting variant = cam::ScoreCamWeighting::Increase;
  cam::ScoreCamMaskOptions masks = {};
  ProgressCallback progress = {};
};

template <ScoreSpace Score = Post, class T = float>
class ScoreCam : public attr_detail::LayerMethodBase<Score, T, ScoreCamOptions> {
  using Base = attr_detail::LayerMethodBase<Score, T, ScoreCamOptions>;
  using Base::model_, Base::layer_, Base::options_, Base::policy_;

 public:
  using Options = ScoreCamOptions;
  using Base::Base;

  Attribution<T> operator()(const Tensor<T>& x, const Target& target = {}) const {
    const std::string who = "scorecam";
    attr_detail::check_input(x, options_.check_finite, who);
    attr_detail::require_positive(options_.batch_size, "batch_size", who);
    const models::Cut<T> cut = attr_detail::cut_at(model_, layer_, x, /*spatial=*/true, who);
    const Tensor<T>& A = cut.activation.value();
    const Tensor<T> z = attr_detail::head_forward(model_, cut);
    const auto classes = target.resolve(z, who);
    Attribution<T> r;
    attr_detail::fill_scores(r, policy_, z, classes, who, layer_);

    const auto N = x.dim(0), K = A.dim(1);
    const Tensor<T> masks = cam::scorecam_masks(A, x.dim(2), x.dim(3), options_.masks);
    Tensor<T> s({N, K});
    const std::int64_t per_image = (K + options_.batch_size - 1) / options_.batch_size;
    const auto total = static_cast<std::size_t>(N * per_image);
    std::size_t done = 0;
    for (std::int64_t n = 0; n < N; ++n) {
      for (std::int64_t k0 = 0; k0 < K; k0 += options_.batch_size) {
        const auto count = std::min(options_.batch_size, K - k0);
        const Tensor<T> xm = cam::masked_inputs(x, masks, n, k0, count);
        const Tensor<T> zm = model_.forward(xm);
        const std::vector<std::int64_t> cls(static_cast<std::size_t>(count), classes[static_cast<std::size_t>(n)]);
        const Tensor<T> sk = policy_.score(zm, cls);  // s_k = S(x ⊙ M_k)
        for (std::int64_t j = 0; j < count; ++j) s(n, k0 + j) = sk[j];
        if (options_.progress) options_.progress(++done, total);
      }
    }
    Tensor<T> s_base;
    if (options_.variant == cam::ScoreCamWeighting::Increase)  // S(x_b), x_b = 0: every pixel masked
      s_base = policy_.score(model_.forward(Tensor<T>(x.shape())), classes);
    r.weights = cam::scorecam_weights(s, options_.variant, s_base);
    r.raw = cam::weighted_sum_map(A, r.weights);
    r.model_evaluations = 1 + K + (s_base.empty() ? 0 : 1);
    return r;
  }
};

}  // namespace gradattr
