#pragma once
// The equivalent-model audit (METHODS.md §4, the CLI's `gradattr audit`): for one model and one
// input, every attribution method × every score policy on the model and on its shifted twin
// z′ = z + K Σ_k A_{k,0,0} (models::Shifted), with how much each map moved, and the
// information-gain check (METHODS.md §1) on both models.
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
//   expected_invariant      the policy's shift_invariant (Post, LogSoftmax: yes; Pre: no)
//   invariant               relative_diff_raw <= report.tolerance
//   as_expected()           invariant == expected_invariant
// The tolerance. The twin's logits are z + t with |t| up to K·Σ_k A_k00, so they carry a
// rounding of ε·max|z′| that every Post/LogSoftmax seed inherits: an invariant method's maps then
// differ by about that, relative. report.tolerance = options.tolerance when > 0, else
// max(floor, 64·ε·max|z′|) with floor 1e-4 in float and 1e-9 in double (ε of the model's scalar
// type). Measured on the tiny VGG (tests/metrics/audit.cpp, one image): float, K = 10
// (max|z′| ≈ 154, tolerance 1.2e-3): every Post/Log row ≤ 4.3e-5 relative, Pre rows 0.95 – 49;
// double, K = 1000: Post/Log ≤ 2e-12, Pre Grad-CAM 2.4e3. (Float at K = 1000, max|z′| ≈ 1.5e4:
// Post/Log Grad-CAM maps ≈ 5e-4 relative — the rounding of z′, tests/models/equivalent.cpp.)
// Path and noise methods use options.steps / options.smoothgrad_samples (small defaults: the
// audit is a check, not a figure); SmoothGrad draws the same noise for both models (one seed).
// Cost: 2 models × 3 policies × the methods' own costs; options.progress(done, total) counts
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
#include "gradattr/core/error.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/metrics/agreement.hpp"
#include "gradattr/metrics/information_gain.hpp"
#include "gradattr/models/classifier.hpp"
#include "gradattr/models/equivalent.hpp"
#include "gradattr/score/policies.hpp"

namespace gradattr::metrics {

// Every method the audit knows, by its CLI name (`gradattr explain --method`).
inline const std::vector<std::string>& audit_methods() {
  static const std::vector<std::string> m{"gradcam",  "gradcam+",    "gradcam++",          "hirescam", "xgradcam",
                                          "layercam", "scorecam",    "rsi-gradcam",        "integrated-gradcam",
                                          "saliency", "inputxgrad",  "ig",                 "smoothgrad"};
  return m;
}

struct AuditOptions {
  std::string layer = {};        // the CAM layer; empty: default_cam_layer(model)
  std::string shift_layer = {};  // where t is built; empty: the CAM layer (METHODS.md §4's case)
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
  bool expected_invariant = false;
  bool invariant = false;
  bool as_expected() const noexcept { return invariant == expected_invariant; }
};

struct AuditReport {
  std::string layer;        // canonical CAM layer
  std::string shift_layer;  // canonical
  double k = 0;
  std::vector<std::int64_t> classes;  // per image
  double tolerance = 0;               // the one used for `invariant`
  double max_abs_logit = 0;           // max |z′| on the twin (what sets the automatic tolerance)
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

[[noreturn]] inline void throw_unknown(const std::string& method) {
  std::string known;
  for (const auto& n : audit_methods()) known += (known.empty() ? "" : ", ") + n;
  throw ArgumentError("audit: unknown method '" + method + "' (known: " + known + ")");
}

template <ScoreSpace P, class Model, class T>
Attribution<T> run(const std::string& method, const Model& m, const std::string& layer, const Tensor<T>& x,
                   const Target& target, const AuditOptions& o) {
  if (method == "gradcam") return GradCam<P>(m, layer)(x, target);
  if (method == "gradcam+") return GradCamPlus<P>(m, layer)(x, target);
  if (method == "gradcam++") return GradCamPlusPlus<P>(m, layer)(x, target);
  if (method == "hirescam") return HiResCam<P>(m, layer)(x, target);
  if (method == "xgradcam") return XGradCam<P>(m, layer)(x, target);
  if (method == "layercam") return LayerCam<P>(m, layer)(x, target);
  if (method == "scorecam") return ScoreCam<P>(m, layer, {.batch_size = o.batch_size})(x, target);
  if (method == "rsi-gradcam") return RsiGradCam<P>(m, layer, {.steps = o.steps, .batch_size = o.batch_size})(x, target);
  if (method == "integrated-gradcam")
    return IntegratedGradCam<P>(m, layer, {.steps = o.steps, .batch_size = o.batch_size})(x, target);
  if (method == "saliency") return Saliency<P>(m)(x, target);
  if (method == "inputxgrad") return InputXGradient<P>(m)(x, target);
  if (method == "ig") return IntegratedGradients<P>(m, {.steps = o.steps, .batch_size = o.batch_size})(x, target);
  if (method == "smoothgrad")
    return SmoothGrad<P>(m, {.samples = o.smoothgrad_samples, .seed = o.seed, .batch_size = o.batch_size})(x, target);
  throw_unknown(method);
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
  const std::vector<std::string> methods = options.methods.empty() ? audit_methods() : options.methods;
  for (const auto& name : methods)
    if (std::find(audit_methods().begin(), audit_methods().end(), name) == audit_methods().end())
      audit_detail::throw_unknown(name);

  AuditReport rep;
  rep.layer = options.layer.empty() ? default_cam_layer(model) : model.resolve_layer(options.layer);
  rep.shift_layer = options.shift_layer.empty() ? rep.layer : model.resolve_layer(options.shift_layer);
  rep.k = options.k;
  const models::Shifted<const M&> twin(model, rep.shift_layer, options.k);

  const Tensor<T> z = model.forward(x), zt = twin.forward(x);
  rep.classes = options.target.resolve(z, "audit");
  const Target target(rep.classes);  // fixed from the model's logits, used for both models
  rep.max_abs_logit = audit_detail::max_abs(zt);
  {
    auto y = Tensor<T>::uninitialized(z.shape()), yt = Tensor<T>::uninitialized(z.shape());
    kernels::softmax(y, z);
    kernels::softmax(yt, zt);
    rep.max_abs_diff_probability = audit_detail::max_abs_diff(y, yt);
  }
  constexpr double eps = std::numeric_limits<T>::epsilon();
  rep.tolerance = options.tolerance > 0
                      ? options.tolerance
                      : std::max(std::is_same_v<T, float> ? 1e-4 : 1e-9, 64 * eps * rep.max_abs_logit);
  rep.information_gain_error = check_information_gain(model, x, target).relative_error;
  rep.information_gain_error_twin = check_information_gain(twin, x, target).relative_error;

  const std::size_t total = methods.size() * 3;
  std::size_t done = 0;
  const auto H = x.dim(2), W = x.dim(3);
  for (const auto& method : methods) {
    auto one = [&](auto policy) {
      using P = decltype(policy);
      const Attribution<T> a = audit_detail::run<P>(method, model, rep.layer, x, target, options);
      const Attribution<T> b = audit_detail::run<P>(method, twin, rep.layer, x, target, options);
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
    one(Pre{});
    one(Post{});
    one(LogSoftmax{});
  }
  return rep;
}

}  // namespace gradattr::metrics
