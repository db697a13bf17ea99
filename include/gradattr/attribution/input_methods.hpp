#pragma once
// Input (pixel) methods (docs/methods.md §3), class templates on the score space. Raw maps are
// [N, C, H, W] at the input's resolution (Saliency with max_over_channels: [N, 1, H, W]).
//
//   Saliency<Post> sal(model, {.abs = true});            auto r = sal(x);
//   InputXGradient<Post> ixg(model);
//   IntegratedGradients<Post> ig(model, {.steps = 50});  r.completeness_gap = Σ IG − (S(x) − S(x′))
//   SmoothGrad<Post> sg(model, {.samples = 50, .seed = 1});
//
// All use the model's pseudo-layer "input": forward_from(input_cut(x), tape) records the whole
// network and one backward pass gives every image (row) its own ∂S/∂x.
// Cost and batching: Saliency and Input×Gradient: one recorded forward (model_evaluations 1).
// IG: the path points are batched (⌊batch_size/N⌋ points per model call); the first batch
// holds x itself, whose logits fix the class before any backward pass, so x is evaluated once:
// M + 1 evaluations (Riemann: M points plus a forward of x′ for S(x′); trapezoid: M + 1
// points). SmoothGrad: x and the noisy copies are batched the same way (N_samples + 1).
// Progress ticks once per batched model call.
// SmoothGrad noise: ε_s = σ_n · e_s with σ_n = sigma_fraction · (max − min) over image n and
// e_s ~ N(0, 1) drawn from std::mt19937_64 seeded by (seed, s) — one draw per sample shared by
// the images of the batch, so an image's result does not depend on the rest of the batch.
// Options::noise gives ε explicitly (one [N, C, H, W] tensor per sample, already scaled; added
// to x in the working precision), for tests against other implementations.
#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gradattr/attribution/detail/engine.hpp"
#include "gradattr/attribution/detail/method_base.hpp"
#include "gradattr/attribution/detail/path.hpp"
#include "gradattr/score/policies.hpp"

namespace gradattr {

// Saliency's variants (docs/methods.md §3; rows of GRADATTR_VARIANTS, in this order): what the
// displayed map shows. raw is the signed gradient either way (unless abs/max_over_channels).
enum class SaliencyVariant {
  MaxAbs,  // max_c |∂S/∂x| (Simonyan et al. 2014, §3.1)
  Signed,  // Σ_c ∂S/∂x
};
struct SaliencyOptions {
  SaliencyVariant variant = SaliencyVariant::MaxAbs;
  bool abs = false;                // |∂S/∂x|
  bool max_over_channels = false;  // max over c (after abs) -> [N, 1, H, W]
  bool check_finite = true;
};
struct InputXGradientOptions {
  bool check_finite = true;
};
enum class IntegrationRule {
  RiemannRight,  // (1/M) Σ_{m=1..M} g(x_m)
  Trapezoid,     // (1/M) Σ_{m=1..M} ½(g(x_{m−1}) + g(x_m))
};
template <class T>
struct IntegratedGradientsOptions {
  std::int64_t steps = 50;
  IntegrationRule rule = IntegrationRule::RiemannRight;
  Tensor<T> baseline = {};  // [N,C,H,W] or [1,C,H,W]; empty = zero tensor
  std::int64_t batch_size = 16;
  bool check_finite = true;
  ProgressCallback progress = {};
};
enum class SmoothGradVariant {
  Mean,     // SmoothGrad: (1/S) Σ g_s
  Squared,  // SmoothGrad²: (1/S) Σ g_s²
  VarGrad,  // VarGrad: (1/S) Σ g_s² − ((1/S) Σ g_s)²
};
template <class T>
struct SmoothGradOptions {
  std::int64_t samples = 50;
  double sigma_fraction = 0.15;   // σ_n = sigma_fraction · (max − min) of image n
  std::uint64_t seed = 0;
  SmoothGradVariant variant = SmoothGradVariant::Mean;
  std::vector<Tensor<T>> noise = {};  // explicit ε (overrides samples/seed/sigma) — tests
  std::int64_t batch_size = 16;
  bool check_finite = true;
  ProgressCallback progress = {};
};

template <ScoreSpace Score = Post, class T = float>
class Saliency : public attr_detail::MethodBase<Score, T, SaliencyOptions> {
  using Base = attr_detail::MethodBase<Score, T, SaliencyOptions>;
  using Base::model_, Base::options_, Base::policy_;

 public:
  using Options = SaliencyOptions;
  using Base::Base;

  Attribution<T> operator()(const Tensor<T>& x, const Target& target = {}) const {
    const std::string who = "saliency";
    attr_detail::check_input(x, options_.check_finite, who);
    Attribution<T> r;
    const auto head = attr_detail::pass_at_x(r, model_, models::kInputLayer, x, policy_, target, who).head;
    Tensor<T> g = head.g;
    if (options_.abs)
      for (auto& v : g) v = std::abs(v);
    if (options_.max_over_channels) {
      const auto N = g.dim(0), C = g.dim(1), P = g.dim(2) * g.dim(3);
      auto m = Tensor<T>::uninitialized({N, 1, g.dim(2), g.dim(3)});
      for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t i = 0; i < P; ++i) {
          T best = g[n * C * P + i];
          for (std::int64_t c = 1; c < C; ++c) best = std::max(best, g[(n * C + c) * P + i]);
          m[n * P + i] = best;
        }
      g = m;
    }
    r.raw = g;
    r.input_display = options_.variant == SaliencyVariant::MaxAbs ? InputDisplay::MaxAbs : InputDisplay::ChannelSum;
    r.gradient_norm = attr_detail::row_norms(head.g);
    r.model_evaluations = 1;
    return r;
  }
};

template <ScoreSpace Score = Post, class T = float>
class InputXGradient : public attr_detail::MethodBase<Score, T, InputXGradientOptions> {
  using Base = attr_detail::MethodBase<Score, T, InputXGradientOptions>;
  using Base::model_, Base::options_, Base::policy_;

 public:
  using Options = InputXGradientOptions;
  using Base::Base;

  Attribution<T> operator()(const Tensor<T>& x, const Target& target = {}) const {
    const std::string who = "inputxgrad";
    attr_detail::check_input(x, options_.check_finite, who);
    Attribution<T> r;
    const auto head = attr_detail::pass_at_x(r, model_, models::kInputLayer, x, policy_, target, who).head;
    r.raw = Tensor<T>::uninitialized(x.shape());
    for (std::int64_t i = 0; i < x.numel(); ++i) r.raw[i] = x[i] * head.g[i];  // x ⊙ ∂S/∂x
    r.gradient_norm = attr_detail::row_norms(head.g);
    r.model_evaluations = 1;
    return r;
  }
};

template <ScoreSpace Score = Post, class T = float>
class IntegratedGradients : public attr_detail::MethodBase<Score, T, IntegratedGradientsOptions<T>>,
                            public attr_detail::PathCalls<IntegratedGradients<Score, T>, T> {
  using Base = attr_detail::MethodBase<Score, T, IntegratedGradientsOptions<T>>;
  using Base::model_, Base::options_, Base::policy_;
  friend attr_detail::PathCalls<IntegratedGradients, T>;

 public:
  using Options = IntegratedGradientsOptions<T>;
  using Base::Base;

 private:
  Attribution<T> run(const Tensor<T>& x, const Target& target, const Tensor<T>* baseline) const {
    const std::string who = "ig";
    const Tensor<T> xb = attr_detail::checked_path_baseline(x, baseline, options_, who);
    const auto N = x.dim(0), M = options_.steps;
    const bool trap = options_.rule == IntegrationRule::Trapezoid;

    std::vector<std::int64_t> ms;  // x first: its logits fix the class
    for (std::int64_t m = M; m >= (trap ? 0 : 1); --m) ms.push_back(m);
    std::vector<std::int64_t> classes;
    Tensor<T> zx, gx, sx, s_base;
    Tensor<double> sum(x.shape());
    attr_detail::Progress progress = attr_detail::chunked_progress(options_, ms.size(), N, trap ? 0 : 1);
    attr_detail::evaluate_points<T>(
        model_, models::kInputLayer, ms, N, classes, policy_, options_.batch_size, progress,
        [&](std::int64_t m) { return attr_detail::path_point(x, xb, m, M); },
        [&](std::int64_t m, const Tensor<T>&, const Tensor<T>& g, const Tensor<T>& S) {
          if (m == M) {
            gx = g.clone();
            sx = S.clone();
          }
          if (m == 0) s_base = S.clone();
          const double w = trap && (m == 0 || m == M) ? 0.5 : 1.0;  // trapezoid end points
          for (std::int64_t i = 0; i < g.numel(); ++i) sum[i] += w * static_cast<double>(g[i]);
        },
        &target, who, &zx);
    if (!trap) {  // S(x′): a forward of the baseline
      s_base = policy_.score(model_.forward(xb), classes);
      progress.tick();
    }
    Attribution<T> r;
    attr_detail::fill_scores(r, policy_, zx, classes, who, models::kInputLayer);
    r.raw = Tensor<T>::uninitialized(x.shape());
    const double invM = 1.0 / static_cast<double>(M);
    for (std::int64_t i = 0; i < x.numel(); ++i)
      r.raw[i] = static_cast<T>((static_cast<double>(x[i]) - static_cast<double>(xb[i])) * sum[i] * invM);  // (x − x′) ⊙ mean g
    const auto P = x.shape().stride(0);
    r.completeness = Tensor<T>::uninitialized({N});
    r.score_difference = Tensor<T>::uninitialized({N});
    r.completeness_gap = Tensor<T>::uninitialized({N});
    for (std::int64_t n = 0; n < N; ++n) {
      double s = 0;
      for (std::int64_t i = 0; i < P; ++i) s += r.raw[n * P + i];
      const double d = static_cast<double>(sx[n]) - static_cast<double>(s_base[n]);
      r.completeness[n] = static_cast<T>(s);
      r.score_difference[n] = static_cast<T>(d);
      r.completeness_gap[n] = static_cast<T>(s - d);
    }
    r.gradient_norm = attr_detail::row_norms(gx);
    r.model_evaluations = M + 1;
    return r;
  }
};

template <ScoreSpace Score = Post, class T = float>
class SmoothGrad : public attr_detail::MethodBase<Score, T, SmoothGradOptions<T>> {
  using Base = attr_detail::MethodBase<Score, T, SmoothGradOptions<T>>;
  using Base::model_, Base::options_, Base::policy_;

 public:
  using Options = SmoothGradOptions<T>;
  using Base::Base;

  Attribution<T> operator()(const Tensor<T>& x, const Target& target = {}) const {
    const std::string who = "smoothgrad";
    attr_detail::check_input(x, options_.check_finite, who);
    attr_detail::require_positive(options_.batch_size, "batch_size", who);
    const bool given = !options_.noise.empty();
    const std::int64_t S = given ? static_cast<std::int64_t>(options_.noise.size()) : options_.samples;
    attr_detail::require_positive(S, "samples", who);
    for (const auto& e : options_.noise)
      if (e.shape() != x.shape())
        throw ShapeError(who + ": given noise " + e.shape().str() + " does not match the input " + x.shape().str());
    if (!given && !(options_.sigma_fraction >= 0 && std::isfinite(options_.sigma_fraction)))
      throw ArgumentError(who + ": sigma_fraction must be finite and non-negative, got " +
                          std::to_string(options_.sigma_fraction));
    const auto N = x.dim(0), P = x.shape().stride(0);
    std::vector<double> sigma(static_cast<std::size_t>(N));
    for (std::int64_t n = 0; n < N; ++n) {
      const auto [lo, hi] = std::minmax_element(x.data() + n * P, x.data() + (n + 1) * P);
      sigma[static_cast<std::size_t>(n)] = options_.sigma_fraction * (static_cast<double>(*hi) - static_cast<double>(*lo));
    }
    auto noisy = [&](std::int64_t s) -> Tensor<T> {
      if (s < 0) return x;
      auto out = Tensor<T>::uninitialized(x.shape());
      if (given) {
        const auto& e = options_.noise[static_cast<std::size_t>(s)];
        for (std::int64_t i = 0; i < x.numel(); ++i) out[i] = x[i] + e[i];
        return out;
      }
      std::seed_seq seq{static_cast<std::uint32_t>(options_.seed), static_cast<std::uint32_t>(options_.seed >> 32),
                        static_cast<std::uint32_t>(s)};
      std::mt19937_64 rng(seq);
      std::normal_distribution<double> normal(0.0, 1.0);
      std::vector<double> e(static_cast<std::size_t>(P));
      for (auto& v : e) v = normal(rng);
      for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t i = 0; i < P; ++i)
          out[n * P + i] = x[n * P + i] + static_cast<T>(sigma[static_cast<std::size_t>(n)] * e[static_cast<std::size_t>(i)]);
      return out;
    };
    std::vector<std::int64_t> ms{-1};  // x first: its logits fix the class
    for (std::int64_t s = 0; s < S; ++s) ms.push_back(s);
    std::vector<std::int64_t> classes;
    Tensor<T> zx, gx;
    Tensor<double> sum(x.shape()), sum2(x.shape());
    attr_detail::Progress progress = attr_detail::chunked_progress(options_, ms.size(), N);
    attr_detail::evaluate_points<T>(
        model_, models::kInputLayer, ms, N, classes, policy_, options_.batch_size, progress, noisy,
        [&](std::int64_t s, const Tensor<T>&, const Tensor<T>& g, const Tensor<T>&) {
          if (s < 0) {
            gx = g.clone();
            return;
          }
          for (std::int64_t i = 0; i < g.numel(); ++i) {
            const double v = g[i];
            sum[i] += v;
            sum2[i] += v * v;
          }
        },
        &target, who, &zx);
    Attribution<T> r;
    attr_detail::fill_scores(r, policy_, zx, classes, who, models::kInputLayer);
    r.raw = Tensor<T>::uninitialized(x.shape());
    const double inv = 1.0 / static_cast<double>(S);
    for (std::int64_t i = 0; i < x.numel(); ++i) {
      const double mean = sum[i] * inv, sq = sum2[i] * inv;
      const double v = options_.variant == SmoothGradVariant::Mean      ? mean
                       : options_.variant == SmoothGradVariant::Squared ? sq
                                                                        : sq - mean * mean;
      r.raw[i] = static_cast<T>(v);
    }
    r.gradient_norm = attr_detail::row_norms(gx);
    r.model_evaluations = S + 1;
    return r;
  }
};

}  // namespace gradattr
