#pragma once
// Path CAM methods (METHODS.md §2), class templates on the score space:
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
// Baseline x′: Options::baseline ([N,C,H,W] or [1,C,H,W], as double; cast to the model's
// type) or the overload call(x, target, baseline); empty = the zero tensor (right for an
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
#include "gradattr/attribution/detail/path.hpp"
#include "gradattr/attribution/rsi_accumulator.hpp"
#include "gradattr/score/policies.hpp"

namespace gradattr {

struct RsiGradCamOptions {
  std::int64_t steps = 50;        // M
  Tensor<double> baseline = {};   // x′; empty = zero tensor
  bool relu_gradients = false;    // integrate ReLU(g)
  bool guided = false;            // integrate g·[A > 0]·[g > 0]
  std::int64_t batch_size = 16;   // images (rows) per model call along the path
  bool check_finite = true;
  ProgressCallback progress = {};
};

struct IntegratedGradCamOptions {
  std::int64_t steps = 50;
  Tensor<double> baseline = {};
  std::int64_t batch_size = 16;
  bool check_finite = true;
  ProgressCallback progress = {};
};

namespace attr_detail {
template <class T>
Tensor<T> resolve_baseline(const Tensor<double>& option, const Tensor<T>* call, const Tensor<T>& x,
                           const std::string& who) {
  Tensor<T> b = call ? *call : option.template cast<T>();
  check_baseline(b, x, who);
  return baseline_batch(b, x);
}
}  // namespace attr_detail

template <ScoreSpace Score = Post>
class RsiGradCam {
 public:
  using Options = RsiGradCamOptions;

  template <models::Classifier M>
  RsiGradCam(const M& model, const std::string& layer, Options options = {}, Score policy = {})
      : model_(model), layer_(model.resolve_layer(layer)), options_(std::move(options)), policy_(std::move(policy)) {}
  template <models::Classifier M>
  explicit RsiGradCam(const M& model, Options options = {}, Score policy = {})
      : RsiGradCam(model, default_cam_layer(model), std::move(options), std::move(policy)) {}

  const std::string& layer() const noexcept { return layer_; }

  template <class T>
  Attribution<T> operator()(const Tensor<T>& x, const Target& target = {}) const {
    return run(x, target, static_cast<const Tensor<T>*>(nullptr));
  }
  template <class T>
  Attribution<T> operator()(const Tensor<T>& x, const Target& target, const Tensor<T>& baseline) const {
    return run(x, target, &baseline);
  }

 private:
  template <class T>
  Attribution<T> run(const Tensor<T>& x, const Target& target, const Tensor<T>* baseline) const {
    const std::string who = "rsi-gradcam";
    attr_detail::check_input(x, options_.check_finite, who);
    attr_detail::require_positive(options_.steps, "steps", who);
    attr_detail::require_positive(options_.batch_size, "batch_size", who);
    const Tensor<T> xb = attr_detail::resolve_baseline(options_.baseline, baseline, x, who);
    if (options_.check_finite) attr_detail::check_input(xb, true, who + " (baseline)");
    const auto N = x.dim(0), M = options_.steps;

    const Tensor<T> Ax = model_.forward_until(x, layer_);  // the activation at x, once
    attr_detail::check_spatial(Ax, layer_, who);
    std::vector<std::int64_t> classes;
    auto head = attr_detail::head_pass(model_, layer_, Ax, policy_, [&](const Tensor<T>& z) {
      classes = target.resolve(z, who);
      return classes;
    });
    Attribution<T> r;
    attr_detail::fill_scores(r, policy_, head.z, classes, who, layer_);

    cam::RsiAccumulator<T> acc(options_.relu_gradients);
    auto feed = [&](const Tensor<T>& A, const Tensor<T>& g) {
      if (!options_.guided) return acc.add(A, g);
      auto gg = Tensor<T>::uninitialized(g.shape());
      for (std::int64_t i = 0; i < g.numel(); ++i) gg[i] = (A[i] > 0 && g[i] > 0) ? g[i] : T{0};  // guided
      acc.add(A, gg);
    };
    std::vector<std::int64_t> ms(static_cast<std::size_t>(M));
    for (std::int64_t m = 0; m < M; ++m) ms[static_cast<std::size_t>(m)] = m;
    attr_detail::Progress progress{&options_.progress, 0,
                                   attr_detail::chunk_count(ms.size(), attr_detail::points_per_chunk(options_.batch_size, N)) + 1};
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

  attr_detail::ClassifierRef model_;
  std::string layer_;
  Options options_;
  Score policy_;
};

template <ScoreSpace Score = Post>
class IntegratedGradCam {
 public:
  using Options = IntegratedGradCamOptions;

  template <models::Classifier M>
  IntegratedGradCam(const M& model, const std::string& layer, Options options = {}, Score policy = {})
      : model_(model), layer_(model.resolve_layer(layer)), options_(std::move(options)), policy_(std::move(policy)) {}
  template <models::Classifier M>
  explicit IntegratedGradCam(const M& model, Options options = {}, Score policy = {})
      : IntegratedGradCam(model, default_cam_layer(model), std::move(options), std::move(policy)) {}

  const std::string& layer() const noexcept { return layer_; }

  template <class T>
  Attribution<T> operator()(const Tensor<T>& x, const Target& target = {}) const {
    return run(x, target, static_cast<const Tensor<T>*>(nullptr));
  }
  template <class T>
  Attribution<T> operator()(const Tensor<T>& x, const Target& target, const Tensor<T>& baseline) const {
    return run(x, target, &baseline);
  }

 private:
  template <class T>
  Attribution<T> run(const Tensor<T>& x, const Target& target, const Tensor<T>* baseline) const {
    const std::string who = "integrated-gradcam";
    attr_detail::check_input(x, options_.check_finite, who);
    attr_detail::require_positive(options_.steps, "steps", who);
    attr_detail::require_positive(options_.batch_size, "batch_size", who);
    const Tensor<T> xb = attr_detail::resolve_baseline(options_.baseline, baseline, x, who);
    if (options_.check_finite) attr_detail::check_input(xb, true, who + " (baseline)");
    const auto N = x.dim(0), M = options_.steps;

    const Tensor<T> Ax = model_.forward_until(x, layer_);
    attr_detail::check_spatial(Ax, layer_, who);
    std::vector<std::int64_t> classes;
    auto head = attr_detail::head_pass(model_, layer_, Ax, policy_, [&](const Tensor<T>& z) {
      classes = target.resolve(z, who);
      return classes;
    });
    Attribution<T> r;
    attr_detail::fill_scores(r, policy_, head.z, classes, who, layer_);

    Tensor<double> sum({N, Ax.dim(2), Ax.dim(3)});
    std::vector<std::int64_t> ms(static_cast<std::size_t>(M));
    for (std::int64_t m = 0; m < M; ++m) ms[static_cast<std::size_t>(m)] = m;
    attr_detail::Progress progress{&options_.progress, 0,
                                   attr_detail::chunk_count(ms.size(), attr_detail::points_per_chunk(options_.batch_size, N))};
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

  attr_detail::ClassifierRef model_;
  std::string layer_;
  Options options_;
  Score policy_;
};

}  // namespace gradattr
