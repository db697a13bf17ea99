#pragma once
// One row of the sweep's results table (docs/sweep.md, "results"): one image x [1, C, H, W],
// one method (and variant) in one score space, with the optional deletion/insertion AUCs (in
// one or several evaluation score spaces) and the raw map; or the random-map reference of a
// faithfulness comparison. Header-only (no SQLite): gradattr::run_method and
// metrics::perturbation_curve do the work; this records what they return.
//
//   Job job{Method::GradCam, "", ScoreKind::Post};
//   ResultRow row = compute_row(model, x, job, Target{}, options, image_index);  // never throws
//                                                   // gradattr::Error: row.error holds it
#include <chrono>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "gradattr/attribution/runtime.hpp"
#include "gradattr/metrics/deletion.hpp"
#include "gradattr/sweep/store.hpp"

namespace gradattr::sweep {

struct Job {
  Method method;
  std::string variant;  // "" for a method without variants, else one of its kVariantInfo names
  score::ScoreKind score;
  // The reference map of a faithfulness comparison instead of a method (docs/sweep.md, "The
  // random map"): U(0, 1) per pixel, seeded by (seed, image index); method, variant and score
  // are ignored. Its rows are keyed ("random", "", "none").
  bool random_map = false;
};

inline constexpr const char* kRandomMapMethod = "random";
inline constexpr const char* kRandomMapScore = "none";

// The (method, variant, score) strings a job's row is stored under (the key of resume and merge).
inline std::tuple<std::string, std::string, std::string> job_key(const Job& j) {
  if (j.random_map) return {kRandomMapMethod, "", kRandomMapScore};
  return {std::string(to_string(j.method)), j.variant, std::string(score::to_string(j.score))};
}

struct ComputeOptions {
  RunOptions run;                                // layer, steps, samples, seed, variant set per job
  std::vector<metrics::Perturbation> metrics;    // deletion and/or insertion
  std::int64_t metric_steps = 20;                // points of each curve minus one
  std::int64_t metric_batch = 16;                // perturbed images per forward of a curve
  // The curves' evaluation score spaces: each metric is computed under each (the first one's
  // AUCs are also the row's deletion/insertion).
  std::vector<score::ScoreKind> metric_scores = {score::ScoreKind::Post};
  bool save_maps = false;
};

// The random map of image `image` (Job::random_map): [1, H, W], U(0, 1), the same on every
// shard and rank for a given seed and image index.
inline Tensor<float> random_map(std::uint64_t seed, std::int64_t image, std::int64_t H, std::int64_t W) {
  // splitmix64 of the image index, mixed with the seed: neighbouring indices give unrelated streams
  std::uint64_t z = static_cast<std::uint64_t>(image) + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  std::mt19937_64 rng(seed ^ 0x5EEDull ^ z);
  std::uniform_real_distribution<float> U(0.f, 1.f);
  auto map = Tensor<float>::uninitialized({1, H, W});
  for (auto& v : map) v = U(rng);
  return map;
}

// The row for (x, job) of image `image` (its index in the sweep's list: the random map's seed);
// a gradattr::Error of the method or the metric (a non-finite output, a class out of range)
// becomes row.error, with the numbers left empty. Other exceptions (std::bad_alloc) propagate:
// they are not about this image.
template <class M>
ResultRow compute_row(const M& model, const Tensor<float>& x, const Job& job, const Target& target, const ComputeOptions& o,
                      std::int64_t image = 0) {
  ResultRow row;
  std::tie(row.method, row.variant, row.score) = job_key(job);
  const auto t0 = std::chrono::steady_clock::now();
  try {
    const auto H = x.dim(2), W = x.dim(3);
    Tensor<float> shown;  // [1, H, W]: the map the curves perturb by
    std::string explanation_policy, explanation_method;
    if (job.random_map) {
      const Tensor<float> z = model.forward(x);
      if (!std::isfinite(z[0])) throw Error("the model's output is not finite (logit " + std::to_string(z[0]) + ")");
      const std::int64_t cls = target.resolve(z, "sweep")[0];
      row.cls = cls;
      row.z_c = z[cls];
      row.y_c = std::exp(static_cast<double>(LogSoftmax::score(z, std::vector<std::int64_t>{cls})[0]));
      shown = random_map(o.run.seed, image, H, W);
      explanation_method = kRandomMapMethod;
      if (o.save_maps) {
        row.map.assign(shown.begin(), shown.end());
        row.map_shape = {H, W};
      }
    } else {
      RunOptions ro = o.run;
      ro.variant = job.variant;
      const Attribution<float> r = run_method(job.method, job.score, model, x, target, ro);
      if (!std::isfinite(r.logit[0]) || !std::isfinite(r.probability[0]))
        throw Error("the model's output is not finite (logit " + std::to_string(r.logit[0]) + ")");
      row.cls = r.classes[0];
      row.y_c = r.probability[0];
      row.z_c = r.logit[0];
      row.s = r.score[0];
      if (!r.gradient_norm.empty()) row.gradient_norm = r.gradient_norm[0];
      if (!r.completeness_gap.empty()) row.completeness_gap = r.completeness_gap[0];
      if (!o.metrics.empty()) shown = r.displayed(H, W);
      explanation_policy = r.score_space;
      explanation_method = r.method;
      if (o.save_maps) {
        const auto one = r.raw.slice_batch(0);
        row.map.assign(one.begin(), one.end());
        for (int d = 1; d < r.raw.rank(); ++d) row.map_shape.push_back(r.raw.dim(d));
      }
    }
    if (!o.metrics.empty()) {
      metrics::PerturbationOptions<float> po;
      po.steps = o.metric_steps;
      po.batch_size = o.metric_batch;
      po.explanation_policy = explanation_policy;
      po.explanation_method = explanation_method;
      for (auto kind : o.metrics)
        for (std::size_t e = 0; e < o.metric_scores.size(); ++e) {
          const auto curve = metrics::perturbation_curve(o.metric_scores[e], model, kind, x, shown, Target::all(*row.cls), po);
          row.aucs.push_back({std::string(metrics::to_string(kind)), std::string(score::to_string(o.metric_scores[e])), curve.auc});
          if (e == 0) (kind == metrics::Perturbation::Deletion ? row.deletion : row.insertion) = curve.auc;
        }
    }
  } catch (const Error& e) {  // keep the row's key, drop whatever was measured before the error
    ResultRow failed;
    failed.method = std::move(row.method);
    failed.variant = std::move(row.variant);
    failed.score = std::move(row.score);
    failed.error = e.what();
    row = std::move(failed);
  }
  row.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return row;
}

}  // namespace gradattr::sweep
