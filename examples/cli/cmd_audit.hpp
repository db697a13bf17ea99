#pragma once
// gradattr audit: every method x score space on the model and on its shifted twin
// z' = z + K sum_k A_{k,0,0} (docs/methods.md section 4), as a table: how far each map moved, whether
// it should have (Post and LogSoftmax: no; Pre: yes), and the information-gain identity.
#include <cmath>
#include <cstdio>
#include <string>

#include <gradattr/kernels/softmax.hpp>
#include <gradattr/metrics/audit.hpp>

#include "common.hpp"
#include "progress.hpp"

namespace gradattr_cli {

struct AuditArgs {
  ModelArgs model;
  std::string layer;
  double k = 1000;
  long long steps = 16;
  bool double_precision = false;
};

// 1 - y_c below this makes float32 Post/LogSoftmax gradients mostly rounding error (docs/methods.md §1).
inline constexpr double kAuditSaturation = gradattr::score::kSaturationThreshold;

inline int run_audit(const AuditArgs& a) {
  if (!(a.k != 0 && std::isfinite(a.k))) throw UsageError("--equivalent K must be finite and non-zero");
  if (a.steps < 1) throw UsageError("--steps must be at least 1, got " + std::to_string(a.steps));
  Session s = open_session(a.model);
  gradattr::metrics::AuditOptions o;
  o.layer = a.layer;
  o.k = a.k;
  o.steps = a.steps;
  ProgressBar bar("audit");
  o.progress = [&bar](std::size_t d, std::size_t t) { bar(d, t); };
  gradattr::metrics::AuditReport report;
  if (a.double_precision) {  // the same weights widened exactly to double: no float rounding in the check
    const auto path = a.model.weights.empty() ? default_model_path().string() : a.model.weights;
    const auto model64 = gradattr::models::vgg_from_safetensors<double>(gradattr::io::read_safetensors(path));
    report = gradattr::metrics::audit(model64, s.input.x.cast<double>(), o);
  } else {
    report = gradattr::metrics::audit(s.lm.model, s.input.x, o);
  }
  bar.finish();
  std::printf("model: %s\nshifted twin: z' = z + K * sum_k A[k,0,0] at %s, K = %g; CAM layer %s; class %lld\n",
              s.lm.description.c_str(), report.shift_layer.c_str(), report.k, report.layer.c_str(),
              static_cast<long long>(report.classes.empty() ? -1 : report.classes[0]));
  std::printf("max |y - y'| = %.3g (the twin decides the same); precision: %s\n", report.max_abs_diff_probability,
              a.double_precision ? "double" : "float");
  {
    const auto z = s.lm.model.forward(s.input.x);
    gradattr::Tensor<float> p(z.shape());
    gradattr::kernels::softmax(p, z);
    const auto c = report.classes.empty() ? 0 : report.classes[0];
    const double gap = 1.0 - static_cast<double>(p(0, c));
    std::printf("y_c = %.7f (1 - y_c = %.3g)\n", static_cast<double>(p(0, c)), gap);
    if (gap < kAuditSaturation && !a.double_precision)
      std::printf("note: y_c is saturated; in float32 the Post/LogSoftmax gradients are then mostly rounding error and\n"
                  "      the twin's shifted logits round differently, so those rows may not look invariant: use --double\n");
  }
  std::printf("%-19s %-5s %10s %12s %12s %10s %9s %s\n", "method", "score", "spearman", "max|raw-raw'|", "relative",
              "max|map-map'|", "invariant", "expected");
  for (const auto& r : report.rows)
    std::printf("%-19s %-5s %10.4f %12.4g %12.4g %10.4g %9s %s\n", r.method.c_str(), r.policy.c_str(), r.spearman_raw,
                r.max_abs_diff_raw, r.relative_diff_raw, r.max_abs_diff_displayed, r.invariant ? "yes" : "no",
                r.as_expected() ? "as expected" : "UNEXPECTED");
  std::printf("invariance tolerance (relative raw difference): %.3g\n", report.tolerance);
  std::printf("information gain: dL/dx = -d log y_c/dx, max relative error %.3g (model), %.3g (twin)\n",
              report.information_gain_error, report.information_gain_error_twin);
  std::size_t pre = 0, pre_moved = 0, inv = 0, inv_ok = 0;
  for (const auto& r : report.rows) {
    if (r.expected_invariant) {
      ++inv;
      inv_ok += r.invariant;
    } else {
      ++pre;
      pre_moved += !r.invariant;
    }
  }
  std::printf("audit: %zu/%zu Post/LogSoftmax maps invariant (must be all); %zu/%zu Pre maps moved (a Pre map moves by\n"
              "       the shift's own gradient, zero where t(x) does not depend on what is explained)\n",
              inv_ok, inv, pre_moved, pre);
  return 0;
}

}  // namespace gradattr_cli
