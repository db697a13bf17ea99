#pragma once
// Deletion and insertion curves and their area (docs/methods.md §5): how fast the class score falls
// when the pixels an explanation ranks highest are removed first (deletion; lower area = more
// faithful), or how fast it rises when they are added first (insertion; higher area = more
// faithful).
//
//   auto map = GradCam<Pre>(model, layer)(x).displayed(H, W);          // [1, H, W]
//   auto del = metrics::deletion_curve<Post>(model, x, map, Target{}, {.steps = 50,
//                                            .explanation_policy = "pre"});
//   del.scores (steps + 1 points), del.auc, del.evaluation_policy == "post"
//
// Procedure, for one image x [1, C, H, W] and a map [H, W] at the input's resolution (also
// accepted: [1, H, W], [1, 1, H, W]):
//  - Pixels are ordered by map value, largest first; ties keep index order (row-major), so the
//    order is deterministic (a stable sort by index). A pixel is all C channels at (i, j).
//  - Step s = 0..steps changes the first n_s = ⌊s·H·W / steps⌋ pixels of that order
//    (n_0 = 0, n_steps = H·W):
//      deletion:  start from x, changed pixels take the baseline's values;
//      insertion: start from the baseline, changed pixels take x's values.
//    The baseline is options.baseline ([1, C, H, W]) or, when empty, the constant
//    options.baseline_value (default 0: "black" for an input already preprocessed to zero mean,
//    as docs/methods.md's baselines). For insertion a blurred copy of x is the usual alternative
//    (RISE, Petsiuk et al. 2018): pass baseline = gaussian_blur(x, sigma).
//  - scores[s] = the evaluation policy's score S (Pre: z_c, Post: y_c, LogSoftmax: log y_c) of
//    the class, resolved once from the clean image x (Target: top class by default).
//  - auc = (1/steps) Σ_{s=1..steps} (scores[s−1] + scores[s]) / 2: the trapezoid rule on
//    the abscissa s/steps ∈ [0, 1] (= the fraction of pixels changed, up to the flooring of n_s).
// The evaluation policy (the template parameter, or a runtime ScoreKind) is recorded beside the
// explanation's policy (options.explanation_policy, free text, recorded only): comparing, e.g.,
// Pre explanations under a Post evaluation is the point of docs/methods.md §5.
//
// Cost: steps + 1 model.forward evaluations, batched options.batch_size images at a time;
// options.progress(done, steps + 1) after each batch. Memory: one batch of images.
// Errors: ShapeError for x not [1, C, H, W], a map or baseline of the wrong shape;
// ArgumentError for steps < 1, batch_size < 1, NaN in the map, a bad target.
// Thread safety: nothing shared; a const model may be used by several threads at once.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <numeric>
#include <string>
#include <string_view>
#include <vector>

#include "gradattr/attribution/target.hpp"
#include "gradattr/core/error.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/models/classifier.hpp"
#include "gradattr/score/policies.hpp"
#include "gradattr/score/runtime.hpp"
#include "gradattr/score/score_space.hpp"

namespace gradattr::metrics {

enum class Perturbation { Deletion, Insertion };

constexpr std::string_view to_string(Perturbation p) noexcept {
  return p == Perturbation::Deletion ? "deletion" : "insertion";
}

template <class T>
struct PerturbationOptions {
  std::int64_t steps = 50;                 // the curve has steps + 1 points
  std::int64_t batch_size = 16;            // perturbed images per model.forward call
  Tensor<T> baseline = {};                 // [1, C, H, W]; empty: every value baseline_value
  T baseline_value = T{0};
  std::string explanation_policy = {};     // recorded only (e.g. Attribution::score_space)
  std::string explanation_method = {};     // recorded only (e.g. Attribution::method)
  std::function<void(std::size_t, std::size_t)> progress = {};  // (images evaluated, steps + 1)
};

struct PerturbationCurve {
  Perturbation kind = Perturbation::Deletion;
  std::string evaluation_policy;    // the policy of `scores`: "pre", "post", "log", ...
  std::string explanation_policy;   // as given in the options
  std::string explanation_method;   // as given in the options
  std::int64_t cls = 0;             // the class scored
  std::int64_t steps = 0;
  std::int64_t pixels = 0;                   // H·W
  std::vector<std::int64_t> pixels_changed;  // [steps + 1]: n_s
  std::vector<double> scores;                // [steps + 1]: S after step s (s = 0: nothing changed)
  double auc = 0;                            // trapezoid, normalised by steps
};

// Pixel indices (row-major, i·W + j) by decreasing map value; ties in increasing index order.
template <class T>
std::vector<std::int64_t> pixel_order(const Tensor<T>& map) {
  for (std::int64_t i = 0; i < map.numel(); ++i)
    if (std::isnan(static_cast<double>(map[i])))
      throw ArgumentError("pixel_order: the map has a NaN at element " + std::to_string(i));
  std::vector<std::int64_t> order(static_cast<std::size_t>(map.numel()));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) { return map[a] > map[b]; });
  return order;
}

// (1/steps) Σ_{s=1..steps} (v[s−1] + v[s]) / 2 for v of steps + 1 points; 0 for fewer than 2.
inline double trapezoid_auc(const std::vector<double>& v) {
  if (v.size() < 2) return 0.0;
  double a = 0;
  for (std::size_t s = 1; s < v.size(); ++s) a += 0.5 * (v[s - 1] + v[s]);
  return a / static_cast<double>(v.size() - 1);
}

// A Gaussian blur of each channel of x [N, C, H, W] (separable, kernel radius ⌈3σ⌉ unless given,
// normalised to sum 1, edges replicated): an insertion baseline. sigma = 0 returns a copy.
template <class T>
Tensor<T> gaussian_blur(const Tensor<T>& x, double sigma, std::int64_t radius = -1) {
  if (x.rank() != 4) throw ShapeError("gaussian_blur: x must be [N, C, H, W], got " + x.shape().str());
  if (!(sigma >= 0) || !std::isfinite(sigma)) throw ArgumentError("gaussian_blur: sigma must be finite and >= 0");
  if (sigma == 0) return x.clone();
  if (radius < 0) radius = static_cast<std::int64_t>(std::ceil(3 * sigma));
  std::vector<double> k(static_cast<std::size_t>(2 * radius + 1));
  double ksum = 0;
  for (std::int64_t d = -radius; d <= radius; ++d)
    ksum += k[static_cast<std::size_t>(d + radius)] = std::exp(-0.5 * static_cast<double>(d * d) / (sigma * sigma));
  for (auto& v : k) v /= ksum;
  const std::int64_t planes = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3);
  auto out = Tensor<T>::uninitialized(x.shape());
  std::vector<double> tmp(static_cast<std::size_t>(H * W));
  for (std::int64_t p = 0; p < planes; ++p) {
    const T* src = x.data() + p * H * W;
    T* dst = out.data() + p * H * W;
    for (std::int64_t i = 0; i < H; ++i)  // along rows
      for (std::int64_t j = 0; j < W; ++j) {
        double s = 0;
        for (std::int64_t d = -radius; d <= radius; ++d)
          s += k[static_cast<std::size_t>(d + radius)] * static_cast<double>(src[i * W + std::clamp(j + d, std::int64_t{0}, W - 1)]);
        tmp[static_cast<std::size_t>(i * W + j)] = s;
      }
    for (std::int64_t i = 0; i < H; ++i)  // along columns
      for (std::int64_t j = 0; j < W; ++j) {
        double s = 0;
        for (std::int64_t d = -radius; d <= radius; ++d)
          s += k[static_cast<std::size_t>(d + radius)] * tmp[static_cast<std::size_t>(std::clamp(i + d, std::int64_t{0}, H - 1) * W + j)];
        dst[i * W + j] = static_cast<T>(s);
      }
  }
  return out;
}

template <ScoreSpace Eval = Post, models::Classifier M>
PerturbationCurve perturbation_curve(const M& model, Perturbation kind, const Tensor<typename M::scalar_type>& x,
                                     const Tensor<typename M::scalar_type>& map, const Target& target = {},
                                     const PerturbationOptions<typename M::scalar_type>& options = {},
                                     const Eval& policy = {}) {
  using T = typename M::scalar_type;
  const std::string who(to_string(kind));
  if (x.rank() != 4 || x.dim(0) != 1)
    throw ShapeError(who + ": x must be one image [1, C, H, W], got " + x.shape().str());
  const std::int64_t C = x.dim(1), H = x.dim(2), W = x.dim(3), P = H * W;
  const bool map_ok = (map.rank() == 2 && map.dim(0) == H && map.dim(1) == W) ||
                      (map.rank() == 3 && map.dim(0) == 1 && map.dim(1) == H && map.dim(2) == W) ||
                      (map.rank() == 4 && map.dim(0) == 1 && map.dim(1) == 1 && map.dim(2) == H && map.dim(3) == W);
  if (!map_ok)
    throw ShapeError(who + ": the map " + map.shape().str() + " is not [H, W] = [" + std::to_string(H) + ", " +
                     std::to_string(W) + "] (the input's resolution; upsample a layer map with display_map first)");
  if (!options.baseline.empty() && options.baseline.shape() != x.shape())
    throw ShapeError(who + ": the baseline " + options.baseline.shape().str() + " does not match x " + x.shape().str());
  if (options.steps < 1) throw ArgumentError(who + ": steps must be >= 1, got " + std::to_string(options.steps));
  if (options.batch_size < 1) throw ArgumentError(who + ": batch_size must be >= 1, got " + std::to_string(options.batch_size));
  const std::vector<std::int64_t> order = pixel_order(map);

  const Tensor<T> z = model.forward(x);
  const std::int64_t cls = target.resolve(z, who)[0];
  const Tensor<T> base = options.baseline.empty() ? Tensor<T>(x.shape(), options.baseline_value) : options.baseline;
  const Tensor<T>& from = kind == Perturbation::Deletion ? x : base;  // the start image
  const Tensor<T>& to = kind == Perturbation::Deletion ? base : x;    // where changed pixels come from

  PerturbationCurve r;
  r.kind = kind;
  r.evaluation_policy = std::string(Eval::name);
  r.explanation_policy = options.explanation_policy;
  r.explanation_method = options.explanation_method;
  r.cls = cls;
  r.steps = options.steps;
  r.pixels = P;
  const std::int64_t points = options.steps + 1;
  r.pixels_changed.resize(static_cast<std::size_t>(points));
  for (std::int64_t s = 0; s < points; ++s)
    r.pixels_changed[static_cast<std::size_t>(s)] = s * P / options.steps;  // ⌊s·P/steps⌋ (s·P < 2^63 for any image)
  r.scores.resize(static_cast<std::size_t>(points));

  Tensor<T> cur = from.clone();
  std::int64_t applied = 0;
  for (std::int64_t s0 = 0; s0 < points; s0 += options.batch_size) {
    const std::int64_t b = std::min(options.batch_size, points - s0);
    auto batch = Tensor<T>::uninitialized({b, C, H, W});
    for (std::int64_t i = 0; i < b; ++i) {
      const std::int64_t n = r.pixels_changed[static_cast<std::size_t>(s0 + i)];
      for (; applied < n; ++applied) {
        const std::int64_t p = order[static_cast<std::size_t>(applied)];
        for (std::int64_t c = 0; c < C; ++c) cur[c * P + p] = to[c * P + p];
      }
      std::copy(cur.begin(), cur.end(), batch.data() + i * C * P);
    }
    const Tensor<T> zb = model.forward(batch);
    const std::vector<std::int64_t> classes(static_cast<std::size_t>(b), cls);
    const Tensor<T> sb = policy.score(zb, classes);
    for (std::int64_t i = 0; i < b; ++i) r.scores[static_cast<std::size_t>(s0 + i)] = static_cast<double>(sb[i]);
    if (options.progress) options.progress(static_cast<std::size_t>(s0 + b), static_cast<std::size_t>(points));
  }
  r.auc = trapezoid_auc(r.scores);
  return r;
}

template <ScoreSpace Eval = Post, models::Classifier M>
PerturbationCurve deletion_curve(const M& model, const Tensor<typename M::scalar_type>& x,
                                 const Tensor<typename M::scalar_type>& map, const Target& target = {},
                                 const PerturbationOptions<typename M::scalar_type>& options = {}, const Eval& policy = {}) {
  return perturbation_curve<Eval>(model, Perturbation::Deletion, x, map, target, options, policy);
}

template <ScoreSpace Eval = Post, models::Classifier M>
PerturbationCurve insertion_curve(const M& model, const Tensor<typename M::scalar_type>& x,
                                  const Tensor<typename M::scalar_type>& map, const Target& target = {},
                                  const PerturbationOptions<typename M::scalar_type>& options = {}, const Eval& policy = {}) {
  return perturbation_curve<Eval>(model, Perturbation::Insertion, x, map, target, options, policy);
}

// The evaluation policy chosen at run time (the CLI's --score).
template <models::Classifier M>
PerturbationCurve perturbation_curve(ScoreKind evaluation, const M& model, Perturbation kind,
                                     const Tensor<typename M::scalar_type>& x, const Tensor<typename M::scalar_type>& map,
                                     const Target& target = {},
                                     const PerturbationOptions<typename M::scalar_type>& options = {}) {
  return dispatch_score(evaluation, [&](auto policy) {
    return perturbation_curve<decltype(policy)>(model, kind, x, map, target, options, policy);
  });
}

}  // namespace gradattr::metrics
