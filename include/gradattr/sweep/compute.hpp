#pragma once
// One row of the sweep's results table (docs/sweep.md, "results"): one image x [1, C, H, W],
// one method (and variant) in one score space, with the optional deletion/insertion AUCs and
// the raw map. Header-only (no SQLite): gradattr::run_method and metrics::perturbation_curve
// do the work; this records what they return.
//
//   Job job{Method::GradCam, "", ScoreKind::Post};
//   ResultRow row = compute_row(model, x, job, Target{}, options);   // never throws gradattr::Error:
//                                                                     // row.error holds it
#include <chrono>
#include <cmath>
#include <cstdint>
#include <string>
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
};

struct ComputeOptions {
  RunOptions run;                                // layer, steps, samples, seed, variant set per job
  std::vector<metrics::Perturbation> metrics;    // deletion and/or insertion
  std::int64_t metric_steps = 20;                // points of each curve minus one
  score::ScoreKind metric_score = score::ScoreKind::Post;  // the curves' evaluation policy
  bool save_maps = false;
};

// The row for (x, job); a gradattr::Error of the method or the metric (a non-finite output, a
// class out of range) becomes row.error, with the numbers left empty. Other exceptions
// (std::bad_alloc) propagate: they are not about this image.
template <class M>
ResultRow compute_row(const M& model, const Tensor<float>& x, const Job& job, const Target& target, const ComputeOptions& o) {
  ResultRow row;
  row.method = std::string(to_string(job.method));
  row.variant = job.variant;
  row.score = std::string(score::to_string(job.score));
  const auto t0 = std::chrono::steady_clock::now();
  try {
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
    if (!o.metrics.empty()) {
      const auto shown = r.displayed(x.dim(2), x.dim(3));  // [1, H, W]
      metrics::PerturbationOptions<float> po;
      po.steps = o.metric_steps;
      po.explanation_policy = r.score_space;
      po.explanation_method = r.method;
      for (auto kind : o.metrics) {
        const auto curve = metrics::perturbation_curve(o.metric_score, model, kind, x, shown, Target::all(r.classes[0]), po);
        (kind == metrics::Perturbation::Deletion ? row.deletion : row.insertion) = curve.auc;
      }
    }
    if (o.save_maps) {
      const auto one = r.raw.slice_batch(0);
      row.map.assign(one.begin(), one.end());
      for (int d = 1; d < r.raw.rank(); ++d) row.map_shape.push_back(r.raw.dim(d));
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
