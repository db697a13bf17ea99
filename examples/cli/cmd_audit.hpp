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
  std::string steps = "16";  // parse_count: bounded by kMaxSteps
  bool double_precision = false;
  bool json = false;
};

// 1 - y_c below this makes float32 Post/LogSoftmax gradients mostly rounding error (docs/methods.md §1).
inline constexpr double kAuditSaturation = gradattr::score::kSaturationThreshold;

// y_c of image 0 for class c under the model (softmax in double of the model's logits).
template <class M, class T>
double probability_of(const M& model, const gradattr::Tensor<T>& x, std::int64_t c) {
  const auto z = model.forward(x);
  gradattr::Tensor<T> p(z.shape());
  gradattr::kernels::softmax(p, z);
  return static_cast<double>(p(0, c));
}

inline int run_audit(const AuditArgs& a) {
  if (!(a.k != 0 && std::isfinite(a.k))) throw UsageError("--equivalent K must be finite and non-zero");
  const auto steps = parse_count("--steps", a.steps, kMaxSteps);
  Session s = open_session(a.model);
  gradattr::metrics::AuditOptions o;
  o.layer = check_layer(s.lm.model, a.layer, true);
  o.k = a.k;
  o.steps = steps;
  ProgressBar bar("audit");
  o.progress = [&bar](std::size_t d, std::size_t t) { bar(d, t); };
  gradattr::metrics::AuditReport report;
  double y_c = 0;
  if (a.double_precision) {  // the same weights widened exactly to double: no float rounding in the check
    const auto model64 = load_model_f64(a.model.weights);
    const auto x64 = s.input.x.cast<double>();
    report = gradattr::metrics::audit(model64, x64, o);
    y_c = probability_of(model64, x64, report.classes.empty() ? 0 : report.classes[0]);
  } else {
    report = gradattr::metrics::audit(s.lm.model, s.input.x, o);
    y_c = probability_of(s.lm.model, s.input.x, report.classes.empty() ? 0 : report.classes[0]);
  }
  bar.finish();
  const double gap = 1.0 - y_c;
  const bool saturated = gap < kAuditSaturation;
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
  if (a.json) {
    nlohmann::ordered_json j;
    j["model"] = s.lm.description;
    j["shift_layer"] = report.shift_layer;
    j["k"] = report.k;
    j["layer"] = report.layer;
    j["class"] = report.classes.empty() ? -1 : report.classes[0];
    j["precision"] = a.double_precision ? "double" : "float";
    j["max_abs_diff_probability"] = json_number(report.max_abs_diff_probability);
    j["y_c"] = json_number(y_c);
    j["one_minus_y_c"] = json_number(gap);
    j["saturated"] = saturated;
    auto rows = nlohmann::ordered_json::array();
    for (const auto& r : report.rows)
      rows.push_back({{"method", r.method},
                      {"score", r.policy},
                      {"spearman", json_number(r.spearman_raw)},
                      {"max_abs_diff_raw", json_number(r.max_abs_diff_raw)},
                      {"relative_diff_raw", json_number(r.relative_diff_raw)},
                      {"max_abs_diff_map", json_number(r.max_abs_diff_displayed)},
                      {"invariant", r.invariant},
                      {"expected_invariant", r.expected_invariant},
                      {"as_expected", r.as_expected()}});
    j["rows"] = rows;
    j["tolerance"] = json_number(report.tolerance);
    j["information_gain_error"] = json_number(report.information_gain_error);
    j["information_gain_error_twin"] = json_number(report.information_gain_error_twin);
    j["invariant_ok"] = inv_ok;
    j["invariant_expected"] = inv;
    j["pre_moved"] = pre_moved;
    j["pre_total"] = pre;
    print_json(j);
    return 0;
  }
  say("model: %s\nshifted twin: z' = z + K * sum_k A[k,0,0] at %s, K = %g; CAM layer %s; class %lld\n", s.lm.description.c_str(),
      report.shift_layer.c_str(), report.k, report.layer.c_str(),
      static_cast<long long>(report.classes.empty() ? -1 : report.classes[0]));
  say("max |y - y'| = %.3g (the twin decides the same); precision: %s\n", report.max_abs_diff_probability,
      a.double_precision ? "double" : "float");
  say("y_c = %.10g (1 - y_c = %.3g)\n", y_c, gap);
  if (saturated && !a.double_precision)
    say("note: y_c is saturated; in float32 the Post/LogSoftmax gradients are then mostly rounding error and\n"
        "      the twin's shifted logits round differently, so those rows may not look invariant: use --double\n");
  say("%-19s %-8s %10s %12s %12s %10s %9s %s\n", "method", "score", "spearman", "max|raw-raw'|", "relative", "max|map-map'|",
      "invariant", "expected");
  for (const auto& r : report.rows)
    say("%-19s %-8s %10.4f %12.4g %12.4g %10.4g %9s %s\n", r.method.c_str(), r.policy.c_str(), r.spearman_raw, r.max_abs_diff_raw,
        r.relative_diff_raw, r.max_abs_diff_displayed, r.invariant ? "yes" : "no", r.as_expected() ? "as expected" : "UNEXPECTED");
  say("invariance tolerance (relative raw difference): %.3g\n", report.tolerance);
  say("information gain: dL/dx = -d log y_c/dx, max relative error %.3g (model), %.3g (twin)\n", report.information_gain_error,
      report.information_gain_error_twin);
  say("audit: %zu/%zu shift-invariant maps invariant (post, log, centered: must be all); %zu/%zu Pre maps moved (a Pre map moves by\n"
      "       the shift's own gradient, zero where t(x) does not depend on what is explained)\n",
      inv_ok, inv, pre_moved, pre);
  return 0;
}

}  // namespace gradattr_cli
