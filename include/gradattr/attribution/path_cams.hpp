#pragma once
// Path CAM methods (docs/methods.md §2), class templates on the score space:
//
//   RsiGradCam<Post> rsi(model, "features.35", {.steps = 50});
//   auto r = rsi(x);            // r.weights = (1/Z) Σ_ij G, r.raw = Σ_k w_k A_k(x),
//                               // r.completeness = Σ G, r.score_difference = S(x) − S(x′)
//   IntegratedGradCam<Post> igc(model, "features.35", {.steps = 50});
//
// RSI Grad-CAM (Lucas, Lerma, Furst & Raicu 2022): x_m = x′ + (m/M)(x − x′), m = 0..M,
// G = Σ_{m=1..M} ½(g_{m−1} + g_m) ⊙ (A_m − A_{m−1}) (cam::RsiAccumulator), w_k = (1/Z) Σ_ij G_kij.
// Options from the authors' code:
//   relu_gradients  g ← ReLU(g) at every path point before integrating;
//   guided          g ← g · [A > 0] · [g > 0] at every path point (the "guided gradients" of
//                   the Keras Grad-CAM code the authors build on: only positive gradients where
//                   the activation is positive). We could not read the authors' definition of
//                   their guided mask; this is the documented meaning here.
// Integrated Grad-CAM (Sattarzadeh et al. 2021): Σ_{m=0..M−1} of the Grad-CAM map at x_m
// (a plain sum, no 1/M; m = 0 is the baseline itself).
//
// Baseline x′: Options::baseline ([N,C,H,W] or [1,C,H,W], in the method's scalar type T) or the
// overload call(x, target, baseline); empty = the zero tensor (right for an
// input given preprocessed as NPY; for "black image after preprocessing" the caller, who knows
// the preprocessing, passes (0 − mean)/std).
// Cost: the activation at x is computed once, by forward_until(x); the head pass there gives
// the class, S(x), and the path's last point. The other M points go through forward_until in
// batches (see detail/path.hpp): model_evaluations = M + 1. Progress ticks once per batch.
// The class is resolved at x and kept along the path.
// Errors: steps or batch_size < 1 → ArgumentError; baseline of another shape → ShapeError;
// plus those of the gradient CAMs.
#include <string>
#include <utility>

#include "gradattr/attribution/cam_maths.hpp"
#include "gradattr/attribution/detail/engine.hpp"
#include "gradattr/attribution/detail/method_base.hpp"
#include "gradattr/attribution/detail/path.hpp"
#include "gradattr/attribution/rsi_accumulator.hpp"
#include "gradattr/score/policies.hpp"

namespace gradattr {

template <class T>
struct RsiGradCamOptions {
  std::int64_t steps = 50;        // M
  Tensor<T> baseline = {};        // x′; empty = zero tensor
  bool relu_gradients = false;    // integrate ReLU(g)
  bool guided = false;            // integrate g·[A > 0]·[g > 0]
  std::int64_t batch_size = 16;   // images (rows) per model call along the path
  bool check_finite = true;
  ProgressCallback progress = {};
};

template <class T>
struct IntegratedGradCamOptions {
  std::int64_t steps = 50;
  Tensor<T> baseline = {};
  std::int64_t batch_size = 16;
  bool check_finite = true;
  ProgressCallback progress = {};
};

template <ScoreSpace Score = Post, class T = float>
class RsiGradCam : public attr_detail::LayerMethodBase<Score, T, RsiGradCamOptions<T>>,
                   public attr_detail::PathCalls<RsiGradCam<Score, T>, T> {
  using Base = attr_detail::LayerMethodBase<Score, T, RsiGradCamOptions<T>>;
  using Base::model_, Base::layer_, Base::options_, Base::policy_;
  friend attr_detail::PathCalls<RsiGradCam, T>;

 public:
  using Options = RsiGradCamOptions<T>;
  using Base::Base;

 private:
  Attribution<T> run(const Tensor<T>& x, const Target& target, const Tensor<T>* baseline) const {
    const std::string who = "rsi-gradcam";
    const Tensor<T> xb = attr_detail::checked_path_baseline(x, baseline, options_, who);
    const auto N = x.dim(0), M = options_.steps;
    // The activation at x, once: its head pass gives the class and S(x), and is the path's last point.
    Attribution<T> r;
    auto pass = attr_detail::pass_at_x(r, model_, layer_, x, policy_, target, who);
    const Tensor<T>& Ax = pass.A();
    const auto& head = pass.head;
    auto& classes = pass.classes;

    cam::RsiAccumulator<T> acc(options_.relu_gradients);
    auto feed = [&](const Tensor<T>& A, const Tensor<T>& g) {
      if (!options_.guided) return acc.add(A, g);
      auto gg = Tensor<T>::uninitialized(g.shape());
      for (std::int64_t i = 0; i < g.numel(); ++i) gg[i] = (A[i] > 0 && g[i] > 0) ? g[i] : T{0};  // guided
      acc.add(A, gg);
    };
    std::vector<std::int64_t> ms(static_cast<std::size_t>(M));
    for (std::int64_t m = 0; m < M; ++m) ms[static_cast<std::size_t>(m)] = m;
    attr_detail::Progress progress = attr_detail::chunked_progress(options_, ms.size(), N, 1);
    Tensor<T> s_base;
    attr_detail::evaluate_points<T>(
        model_, layer_, ms, N, classes, policy_, options_.batch_size, progress,
        [&](std::int64_t m) { return attr_detail::path_point(x, xb, m, M); },
        [&](std::int64_t m, const Tensor<T>& A, const Tensor<T>& g, const Tensor<T>& S) {
          if (m == 0) s_base = S.clone();
          feed(A, g);
        });
    feed(Ax, head.g);  // m = M: x itself
    progress.tick();

    r.weights = acc.weights();
    r.raw = cam::weighted_sum_map(Ax, r.weights);
    r.completeness = acc.completeness();
    r.score_difference = Tensor<T>::uninitialized({N});
    r.completeness_gap = Tensor<T>::uninitialized({N});
    for (std::int64_t n = 0; n < N; ++n) {
      r.score_difference[n] = static_cast<T>(static_cast<double>(head.score[n]) - static_cast<double>(s_base[n]));
      r.completeness_gap[n] = static_cast<T>(static_cast<double>(r.completeness[n]) - r.score_difference[n]);
    }
    r.gradient_norm = attr_detail::row_norms(head.g);
    r.model_evaluations = M + 1;
    return r;
  }
};

template <ScoreSpace Score = Post, class T = float>
class IntegratedGradCam : public attr_detail::LayerMethodBase<Score, T, IntegratedGradCamOptions<T>>,
                          public attr_detail::PathCalls<IntegratedGradCam<Score, T>, T> {
  using Base = attr_detail::LayerMethodBase<Score, T, IntegratedGradCamOptions<T>>;
  using Base::model_, Base::layer_, Base::options_, Base::policy_;
  friend attr_detail::PathCalls<IntegratedGradCam, T>;

 public:
  using Options = IntegratedGradCamOptions<T>;
  using Base::Base;

 private:
  Attribution<T> run(const Tensor<T>& x, const Target& target, const Tensor<T>* baseline) const {
    const std::string who = "integrated-gradcam";
    const Tensor<T> xb = attr_detail::checked_path_baseline(x, baseline, options_, who);
    const auto N = x.dim(0), M = options_.steps;
    Attribution<T> r;
    auto pass = attr_detail::pass_at_x(r, model_, layer_, x, policy_, target, who);
    const Tensor<T>& Ax = pass.A();
    const auto& head = pass.head;
    auto& classes = pass.classes;

    Tensor<double> sum({N, Ax.dim(2), Ax.dim(3)});
    std::vector<std::int64_t> ms(static_cast<std::size_t>(M));
    for (std::int64_t m = 0; m < M; ++m) ms[static_cast<std::size_t>(m)] = m;
    attr_detail::Progress progress = attr_detail::chunked_progress(options_, ms.size(), N);
    attr_detail::evaluate_points<T>(
        model_, layer_, ms, N, classes, policy_, options_.batch_size, progress,
        [&](std::int64_t m) { return attr_detail::path_point(x, xb, m, M); },
        [&](std::int64_t, const Tensor<T>& A, const Tensor<T>& g, const Tensor<T>&) {
          const Tensor<T> map = cam::gradcam_map(A, g);  // Grad-CAM at x_m
          for (std::int64_t i = 0; i < map.numel(); ++i) sum[i] += map[i];
        });
    r.raw = sum.template cast<T>();
    r.gradient_norm = attr_detail::row_norms(head.g);
    r.model_evaluations = M + 1;
    return r;
  }
};

}  // namespace gradattr
