#pragma once
// The gradient CAM methods (docs/methods.md §2) as functors, each a class template on its score
// space:
//
//   GradCam<Post> cam(model, "features.35");      // or GradCam<Post> cam(model): default layer
//   Attribution<float> r = cam(x);                // x [N, C, H, W]; top class per image
//   auto r7 = cam(x, 7);  auto rn = cam(x, Target::per_image({5, 8}));
//   GradCam<Post, double> cam64(model64, "features.35");   // a double model: say so in the type
//
//   GradCam, GradCamPlus (positive gradients), GradCamPlusPlus (Options::paper_form),
//   HiResCam, XGradCam, LayerCam.
//
// Cost: one unrecorded forward_until(x, layer) and one recorded pass through the head
// (forward_from + backward from the logits to the activation only) — model_evaluations = 1.
// The maths is cam_maths.hpp's. Raw maps [N, H, W] at the layer, signed.
// Thread safety: operator() is const; each call has its own tape.
// Errors: ShapeError for an input that is not [N, C, H, W]; ArgumentError for NaN/inf in the
// input (unless Options::check_finite = false), a bad target, a layer without spatial dims,
// an unknown layer (from the model), or an input type that is not the model's scalar type.
#include <string>
#include <utility>

#include "gradattr/attribution/cam_maths.hpp"
#include "gradattr/attribution/detail/engine.hpp"
#include "gradattr/attribution/detail/method_base.hpp"
#include "gradattr/attribution/result.hpp"
#include "gradattr/attribution/target.hpp"
#include "gradattr/score/policies.hpp"

namespace gradattr {

enum class GradientCamKind { GradCam, GradCamPlus, GradCamPlusPlus, HiResCam, XGradCam, LayerCam };

template <GradientCamKind K>
struct GradientCamOptions {
  bool check_finite = true;  // reject NaN / infinity in the input (ArgumentError)
};
template <>
struct GradientCamOptions<GradientCamKind::GradCamPlusPlus> {
  bool check_finite = true;
  // false: pytorch-grad-cam's closed form (α with ε = 1e-6); true: the original paper's code
  // (exp(S)-scaled, α normalised per channel over positive gradients; cam::gradcam_pp_paper_*).
  bool paper_form = false;
};

constexpr const char* method_name(GradientCamKind k) noexcept {
  switch (k) {
    case GradientCamKind::GradCam: return "gradcam";
    case GradientCamKind::GradCamPlus: return "gradcam+";
    case GradientCamKind::GradCamPlusPlus: return "gradcam++";
    case GradientCamKind::HiResCam: return "hirescam";
    case GradientCamKind::XGradCam: return "xgradcam";
    case GradientCamKind::LayerCam: return "layercam";
  }
  return "?";
}

template <ScoreSpace Score, GradientCamKind Kind, class T = float>
class GradientCam : public attr_detail::LayerMethodBase<Score, T, GradientCamOptions<Kind>> {
  using Base = attr_detail::LayerMethodBase<Score, T, GradientCamOptions<Kind>>;
  using Base::model_, Base::layer_, Base::options_, Base::policy_;

 public:
  using Options = GradientCamOptions<Kind>;
  using Base::Base;

  const Options& options() const noexcept { return options_; }

  Attribution<T> operator()(const Tensor<T>& x, const Target& target = {}) const {
    const std::string who = method_name(Kind);
    attr_detail::check_input(x, options_.check_finite, who);
    Attribution<T> r;
    const auto pass = attr_detail::pass_at_x(r, model_, layer_, x, policy_, target, who);
    const Tensor<T>& A = pass.A();
    const auto& head = pass.head;
    const Tensor<T>& g = head.g;
    if constexpr (Kind == GradientCamKind::GradCam) {
      r.weights = cam::gradcam_weights(g);
    } else if constexpr (Kind == GradientCamKind::GradCamPlus) {
      r.weights = cam::gradcam_plus_weights(g);
    } else if constexpr (Kind == GradientCamKind::GradCamPlusPlus) {
      r.weights = options_.paper_form ? cam::gradcam_pp_paper_weights(A, g, head.score) : cam::gradcam_pp_weights(A, g);
    } else if constexpr (Kind == GradientCamKind::XGradCam) {
      r.weights = cam::xgradcam_weights(A, g);
    }
    if constexpr (Kind == GradientCamKind::HiResCam)
      r.raw = cam::hirescam_map(A, g);
    else if constexpr (Kind == GradientCamKind::LayerCam)
      r.raw = cam::layercam_map(A, g);
    else
      r.raw = cam::weighted_sum_map(A, r.weights);
    r.gradient_norm = attr_detail::row_norms(g);
    r.model_evaluations = 1;
    return r;
  }
};

template <ScoreSpace Score = Post, class T = float>
using GradCam = GradientCam<Score, GradientCamKind::GradCam, T>;
template <ScoreSpace Score = Post, class T = float>
using GradCamPlus = GradientCam<Score, GradientCamKind::GradCamPlus, T>;
template <ScoreSpace Score = Post, class T = float>
using GradCamPlusPlus = GradientCam<Score, GradientCamKind::GradCamPlusPlus, T>;
template <ScoreSpace Score = Post, class T = float>
using HiResCam = GradientCam<Score, GradientCamKind::HiResCam, T>;
template <ScoreSpace Score = Post, class T = float>
using XGradCam = GradientCam<Score, GradientCamKind::XGradCam, T>;
template <ScoreSpace Score = Post, class T = float>
using LayerCam = GradientCam<Score, GradientCamKind::LayerCam, T>;

}  // namespace gradattr
