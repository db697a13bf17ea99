#pragma once
// The equivalent-model audit (docs/methods.md §4, the CLI's `gradattr audit`): for one model and one
// input, every attribution method (audit_methods(model): the attention ones too on a ViT) × every
// score policy on the model and on its shifted twin
// z′ = z + K Σ_k A_{k,0,0} (models::Shifted), with how much each map moved, and the
// information-gain check (docs/methods.md §1) on both models.
//
//   auto report = metrics::audit(model, x, {.layer = "features.35", .k = 1000});
//   for (const auto& row : report.rows)   // one row per (method, policy), in methods × policies order
//     print(row.method, row.policy, row.spearman_raw, row.relative_diff_raw, row.invariant, ...);
//
// Per row (raw maps before any ReLU; displayed = Attribution::displayed at the input's size):
//   spearman_raw            Spearman rank correlation of the raw maps (model vs twin; NaN when a
//                           map is constant, as metrics::spearman)
//   max_abs_diff_raw        max |raw − raw′|;  max_abs_raw = max |raw| (its scale)
//   relative_diff_raw       max_abs_diff_raw / max_abs_raw (0 when both maps are zero)
//   max_abs_diff_displayed  max |displayed − displayed′| (both in [0, 1])
//   expected_invariant      the policy's shift_invariant (Post, LogSoftmax: yes; Pre: may move)
//   invariant               relative_diff_raw <= report.tolerance
//   as_expected()           invariant, for a shift-invariant policy; always for Pre (see AuditRow)
// The tolerance. The twin's logits are z + t with |t| up to K·Σ_k A_k00, so they carry a
// rounding of ε·max|z′| that every Post/LogSoftmax seed inherits: an invariant method's maps then
// differ by about that, relative. report.tolerance = options.tolerance when > 0, else
// max(floor, 64·ε·max|z′| / (1 − y_c)) with floor 1e-4 in float and 1e-9 in double (ε of the
// model's scalar type; 1 − y_c its minimum over the images: the seeds are of size 1 − y_c, so a
// saturated image amplifies the rounding, docs/methods.md §1). Measured on the tiny VGG (tests/metrics/audit.cpp, one image): float, K = 10
// (max|z′| ≈ 154, tolerance 1.2e-3): every Post/Log row ≤ 4.3e-5 relative, Pre rows 0.95 – 49;
// double, K = 1000: Post/Log ≤ 2e-12, Pre Grad-CAM 2.4e3. (Float at K = 1000, max|z′| ≈ 1.5e4:
// Post/Log Grad-CAM maps ≈ 5e-4 relative — the rounding of z′, tests/models/equivalent.cpp.)
// Path and noise methods use options.steps / options.smoothgrad_samples (small defaults: the
// audit is a check, not a figure); SmoothGrad draws the same noise for both models (one seed).
// Cost: 2 models × 4 policies × the methods' own costs; options.progress(done, total) counts
// (method, policy) pairs.
// Errors: those of the methods and of models::Shifted (ArgumentError for an unknown method name,
// an unknown layer, a shift layer after the CAM layer).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "gradattr/attribution/methods.hpp"
#include "gradattr/attribution/runtime.hpp"
#include "gradattr/core/error.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/metrics/agreement.hpp"
#include "gradattr/metrics/information_gain.hpp"
#include "gradattr/models/classifier.hpp"
#include "gradattr/models/equivalent.hpp"
#include "gradattr/nn/classifier.hpp"
#include "gradattr/score/policies.hpp"

namespace gradattr::metrics {

// The methods every model runs, by CLI name (`gradattr explain --method`): kGeneralMethods.
inline const std::vector<std::string>& audit_methods() {
  static const std::vector<std::string> m = [] {
    std::vector<std::string> names;
    for (Method method : kGeneralMethods) names.emplace_back(to_string(method));
    return names;
  }();
  return m;
}

// The methods the audit runs on `model` by default: audit_methods(), and on a model with
// attention layers (a ViT) the attention methods after them. Rollout takes no gradient, so its
// map must not move on the twin in any score space; attention relevance moves in Pre only.
template <models::Classifier M>
std::vector<std::string> audit_methods(const M& model) {
  std::vector<std::string> names = audit_methods();
  if (!nn::attention_layers(model).empty())
    for (Method method : kAllMethods)
      if (is_attention_method(method)) names.emplace_back(to_string(method));
  return names;
}

struct AuditOptions {
  std::string layer = {};        // the CAM layer; empty: default_cam_layer(model)
  std::string shift_layer = {};  // where t is built; empty: the CAM layer (docs/methods.md §4's case)
  double k = 1000;               // K
  std::vector<std::string> methods = {};  // subset of audit_methods(); empty: all
  Target target = {};            // default: the top class of each image
  std::int64_t steps = 16;       // RSI Grad-CAM, Integrated Grad-CAM, Integrated Gradients
  std::int64_t smoothgrad_samples = 8;
  std::uint64_t seed = 0;        // SmoothGrad's noise (the same for both models)
  std::int64_t batch_size = 16;
  double tolerance = 0;          // relative raw difference counted as invariant; 0: automatic
  std::function<void(std::size_t, std::size_t)> progress = {};  // ((method, policy) pairs done, total)
};

struct AuditRow {
  std::string method;  // CLI name
  std::string policy;  // "pre", "post", "log"
  double spearman_raw = 0;
  double max_abs_diff_raw = 0;
  double max_abs_raw = 0;
  double relative_diff_raw = 0;
  double max_abs_diff_displayed = 0;
  double score = 0;       // S of the first image on the model
  double score_twin = 0;  // ... and on the twin (Pre: z_c + t; Post/Log: the same)
  bool expected_invariant = false;  // the policy is shift-invariant (Post, LogSoftmax)
  bool invariant = false;           // relative_diff_raw <= tolerance
  // A shift-invariant policy must give an invariant map. A Pre map MAY move: it moves by the
  // shift's own gradient, which is zero where t does not depend on what is explained (e.g. every
  // ReLU of A[:, :, 0, 0] inactive along the path), so a Pre row that did not move is no failure.
  bool as_expected() const noexcept { return !expected_invariant || invariant; }
};

struct AuditReport {
  std::string layer;        // canonical CAM layer
  std::string shift_layer;  // canonical
  double k = 0;
  std::vector<std::int64_t> classes;  // per image
  double tolerance = 0;               // the one used for `invariant`
  double max_abs_logit = 0;           // max |z′| on the twin (what sets the automatic tolerance)
  double min_one_minus_yc = 1;        // min over images of 1 − y_c (saturation widens the tolerance)
  double max_abs_diff_probability = 0;  // max |y − y′|: the twin decides the same
  double information_gain_error = 0;       // check_information_gain(model).relative_error
  double information_gain_error_twin = 0;  // ... on the twin
  std::vector<AuditRow> rows;

  // Rows whose invariance is not what their policy predicts (empty when the audit passes).
  std::vector<const AuditRow*> unexpected() const {
    std::vector<const AuditRow*> r;
    for (const auto& row : rows)
      if (!row.as_expected()) r.push_back(&row);
    return r;
  }
};

namespace audit_detail {

[[noreturn]] inline void throw_unknown(const std::string& method, const std::vector<std::string>& known_methods) {
  std::string known;
  for (const auto& n : known_methods) known += (known.empty() ? "" : ", ") + n;
  const bool attention = std::any_of(kAllMethods.begin(), kAllMethods.end(),
                                     [&](Method m) { return is_attention_method(m) && to_string(m) == method; });
  throw ArgumentError("audit: " + (attention ? "method '" + method + "' needs a model with attention layers (a ViT); "
                                             : "unknown method '" + method + "' ") +
                      "(known for this model: " + known + ")");
}

// The methods through attribution/runtime.hpp's run_method (the one run-time dispatch).
template <class Model, class T>
Attribution<T> run(Method method, score::ScoreKind kind, const Model& m, const std::string& layer, const Tensor<T>& x,
                   const Target& target, const AuditOptions& o) {
  RunOptions r;
  r.layer = layer;
  r.steps = o.steps;
  r.samples = o.smoothgrad_samples;
  r.seed = o.seed;
  r.batch_size = o.batch_size;
  return run_method(method, kind, m, x, target, r);
}

template <class T>
double max_abs(const Tensor<T>& t) {
  double m = 0;
  for (std::int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::abs(static_cast<double>(t[i])));
  return m;
}
template <class T>
double max_abs_diff(const Tensor<T>& a, const Tensor<T>& b) {
  if (a.shape() != b.shape())
    throw ShapeError("audit: maps " + a.shape().str() + " and " + b.shape().str() + " differ in shape");
  double m = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i)
    m = std::max(m, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
  return m;
}

}  // namespace audit_detail

template <models::Classifier M>
AuditReport audit(const M& model, const Tensor<typename M::scalar_type>& x, const AuditOptions& options = {}) {
  using T = typename M::scalar_type;
  if (x.rank() != 4 || x.dim(0) < 1)
    throw ShapeError("audit: x must be a non-empty [N, C, H, W] batch, got " + x.shape().str());
  const std::vector<std::string> known = audit_methods(model);
  const std::vector<std::string> methods = options.methods.empty() ? known : options.methods;
  for (const auto& name : methods)
    if (std::find(known.begin(), known.end(), name) == known.end()) audit_detail::throw_unknown(name, known);

  AuditReport rep;
  rep.layer = options.layer.empty() ? default_cam_layer(model) : model.resolve_layer(options.layer);
  rep.shift_layer = options.shift_layer.empty() ? rep.layer : model.resolve_layer(options.shift_layer);
  rep.k = options.k;
  const models::Shifted<const M&> twin(model, rep.shift_layer, options.k);

  const Tensor<T> z = model.forward(x), zt = twin.forward(x);
  rep.classes = options.target.resolve(z, "audit");
  const Target target = Target::per_image(rep.classes);  // fixed from the model's logits, used for both models
  rep.max_abs_logit = audit_detail::max_abs(zt);
  {
    auto y = Tensor<T>::uninitialized(z.shape()), yt = Tensor<T>::uninitialized(z.shape());
    kernels::softmax(y, z);
    kernels::softmax(yt, zt);
    rep.max_abs_diff_probability = audit_detail::max_abs_diff(y, yt);
  }
  // Rounding z' = z + t costs eps·|z'| in every logit difference; the Post/LogSoftmax seeds are
  // of size 1 − y_c, so their relative error is eps·|z'| / (1 − y_c): saturation amplifies it.
  {
    auto y = Tensor<T>::uninitialized(z.shape());
    kernels::softmax(y, z);
    rep.min_one_minus_yc = 1;
    for (std::size_t n = 0; n < rep.classes.size(); ++n)
      rep.min_one_minus_yc = std::min(rep.min_one_minus_yc, 1.0 - static_cast<double>(y(static_cast<std::int64_t>(n), rep.classes[n])));
  }
  constexpr double eps = std::numeric_limits<T>::epsilon();
  const double gap = std::max(rep.min_one_minus_yc, eps);
  rep.tolerance = options.tolerance > 0
                      ? options.tolerance
                      : std::max(std::is_same_v<T, float> ? 1e-4 : 1e-9, 64 * eps * rep.max_abs_logit / gap);
  rep.information_gain_error = check_information_gain(model, x, target).relative_error;
  rep.information_gain_error_twin = check_information_gain(twin, x, target).relative_error;

  const std::size_t total = methods.size() * score::kAllScoreKinds.size();
  std::size_t done = 0;
  const auto H = x.dim(2), W = x.dim(3);
  for (const auto& method : methods) {
    auto one = [&](auto policy) {
      using P = decltype(policy);
      const auto kind = score::parse_score_kind(P::name);
      const Attribution<T> a = audit_detail::run(parse_method(method), kind, model, rep.layer, x, target, options);
      const Attribution<T> b = audit_detail::run(parse_method(method), kind, twin, rep.layer, x, target, options);
      AuditRow row;
      row.method = method;
      row.policy = std::string(P::name);
      row.spearman_raw = spearman(a.raw, b.raw);
      row.max_abs_diff_raw = audit_detail::max_abs_diff(a.raw, b.raw);
      row.max_abs_raw = audit_detail::max_abs(a.raw);
      row.relative_diff_raw = row.max_abs_raw > 0 ? row.max_abs_diff_raw / row.max_abs_raw
                                                  : (row.max_abs_diff_raw > 0 ? INFINITY : 0.0);
      row.max_abs_diff_displayed = audit_detail::max_abs_diff(a.displayed(H, W), b.displayed(H, W));
      row.score = static_cast<double>(a.score[0]);
      row.score_twin = static_cast<double>(b.score[0]);
      row.expected_invariant = P::shift_invariant;
      row.invariant = row.relative_diff_raw <= rep.tolerance;
      rep.rows.push_back(std::move(row));
      if (options.progress) options.progress(++done, total);
    };
    for (const score::ScoreKind k : score::kAllScoreKinds) score::dispatch_score(k, one);  // every score space
  }
  return rep;
}

}  // namespace gradattr::metrics
