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
// Options::variant (docs/methods.md §2; rows of GRADATTR_VARIANTS in runtime.hpp, in this order):
//   Paper (default)  the formula above;
//   ReluGradients    the authors' notebooks: g ← ReLU(g) at every path point before integrating;
//   Guided           the authors' notebooks: their mask applied to the integrated G,
//                    G ← G · [A(x) > 0] · [G > 0] · [A(x) − A(x′) > 0], then w_k = (1/Z) Σ_ij G_kij.
//   Completeness (Σ G) is that of the integral before any mask.
// Integrated Grad-CAM (Sattarzadeh et al. 2021): Σ_{m=0..M−1} of the Grad-CAM map at x_m
// (no 1/M; m = 0 is the baseline itself), each map clamped at 0 before the sum as in the
// authors' code (default, Clamped), or the signed maps (variant Signed).
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

enum class RsiGradCamVariant {
  Paper,          // G = Σ ½(g_{m−1}+g_m) ⊙ (A_m − A_{m−1})
  ReluGradients,  // the same with ReLU(g) (authors' notebooks)
  Guided,         // G · [A(x) > 0] · [G > 0] · [A(x) − A(x′) > 0] (authors' notebooks)
};
enum class IntegratedGradCamVariant {
  Clamped,  // Σ_m ReLU(Grad-CAM map at x_m) (authors' code)
  Signed,   // Σ_m Grad-CAM map at x_m
};

template <class T>
struct RsiGradCamOptions {
  std::int64_t steps = 50;        // M
  Tensor<T> baseline = {};        // x′; empty = zero tensor
  RsiGradCamVariant variant = RsiGradCamVariant::Paper;
  std::int64_t batch_size = 16;   // images (rows) per model call along the path
  bool check_finite = true;
  ProgressCallback progress = {};
};

template <class T>
struct IntegratedGradCamOptions {
  std::int64_t steps = 50;
  Tensor<T> baseline = {};
  IntegratedGradCamVariant variant = IntegratedGradCamVariant::Clamped;
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

    cam::RsiAccumulator<T> acc(options_.variant == RsiGradCamVariant::ReluGradients);
    Tensor<T> A_base;  // A(x′), for the guided mask
    auto feed = [&](const Tensor<T>& A, const Tensor<T>& g) { acc.add(A, g); };
    std::vector<std::int64_t> ms(static_cast<std::size_t>(M));
    for (std::int64_t m = 0; m < M; ++m) ms[static_cast<std::size_t>(m)] = m;
    attr_detail::Progress progress = attr_detail::chunked_progress(options_, ms.size(), N, 1);
    Tensor<T> s_base;
    attr_detail::evaluate_points<T>(
        model_, layer_, ms, N, classes, policy_, options_.batch_size, progress,
        [&](std::int64_t m) { return attr_detail::path_point(x, xb, m, M); },
        [&](std::int64_t m, const Tensor<T>& A, const Tensor<T>& g, const Tensor<T>& S) {
          if (m == 0) {
            s_base = S.clone();
            A_base = A.clone();
          }
          feed(A, g);
        });
    feed(Ax, head.g);  // m = M: x itself
    progress.tick();

    r.weights = options_.variant == RsiGradCamVariant::Guided ? acc.guided_weights(Ax, A_base) : acc.weights();
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
          const bool clamp = options_.variant == IntegratedGradCamVariant::Clamped;
          for (std::int64_t i = 0; i < map.numel(); ++i) {
            const double v = map[i];
            sum[i] += clamp && !(v > 0) ? 0.0 : v;  // the authors' per-step clamp at 0
          }
        });
    r.raw = sum.template cast<T>();
    r.gradient_norm = attr_detail::row_norms(head.g);
    r.model_evaluations = M + 1;
    return r;
  }
};

}  // namespace gradattr
