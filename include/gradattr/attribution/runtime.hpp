#pragma once
// Choosing a method and a score space at run time (the CLI, the audit, the experiments):
//
//   auto m = parse_method("rsi-gradcam");                  // ArgumentError lists the valid names
//   RunOptions o{.layer = "features.35", .steps = 50};
//   Attribution<float> r = run_method(m, ScoreKind::Post, model, x, Target{}, o);
//
// GRADATTR_METHODS below is the one list of methods: the Method enum, the names, the
// descriptions (the CLI's help, README.md's list, tests/attribution/registry.cpp checks both),
// the audit's method set and run_method's dispatch all derive from it. Adding a method is
// writing its class template and adding one row.
//
// kVariantInfo below is the one table of the methods' documented alternatives (--variant): per
// method, its default first, then each variant, with its source (a paper's equation or the authors'
// code) and a description; parse_variant, the CLI's help, README.md's variant table (checked by
// tests/attribution/registry.cpp) and docs/methods.md derive from it. A method's rows are in the
// order of its Options::variant enum (row i of the method = enum value i).
//
// run_method builds the method's functor (a class template on the policy type and the model's
// scalar type) with the common options mapped onto its Options struct and calls it; the maths is
// the functor's. Methods whose Options lack a field ignore it (e.g. steps for Grad-CAM).
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "gradattr/attribution/methods.hpp"
#include "gradattr/score/runtime.hpp"

namespace gradattr {

// X(Enum, ClassTemplate, "cli-name", "Display label", kind, "one-line description"); kind is a MethodKind:
// Layer (a CAM map at a layer), Input (a map over the input pixels) or Attention (a ViT's
// attention layers; refused by a model without them).
#define GRADATTR_METHODS(X)                                                                                         \
  X(GradCam, GradCam, "gradcam", "Grad-CAM", Layer, "channel weights: spatial mean of dS/dA (Selvaraju et al. 2017)") \
  X(GradCamPlus, GradCamPlus, "gradcam+", "Grad-CAM+", Layer, "channel weights: spatial mean of ReLU(dS/dA)")        \
  X(GradCamPlusPlus, GradCamPlusPlus, "gradcam++", "Grad-CAM++", Layer,                                              \
    "weights from higher-order terms of exp(S) (Chattopadhay et al. 2018)")                                          \
  X(HiResCam, HiResCam, "hirescam", "HiResCAM", Layer, "elementwise dS/dA * A summed over channels (Draelos 2020)")  \
  X(XGradCam, XGradCam, "xgradcam", "XGrad-CAM", Layer, "activation-normalised gradient weights (Fu et al. 2020)")   \
  X(LayerCam, LayerCam, "layercam", "LayerCAM", Layer, "ReLU(dS/dA) * A summed over channels (Jiang et al. 2021)")   \
  X(ScoreCam, ScoreCam, "scorecam", "Score-CAM", Layer,                                                              \
    "channel weights from the score of the input masked by each channel (Wang et al. 2020)")                        \
  X(RsiGradCam, RsiGradCam, "rsi-gradcam", "RSI Grad-CAM", Layer,                                                    \
    "Riemann-Stieltjes integrated gradients of the layer along the input path (Lucas et al. 2022)")                \
  X(IntegratedGradCam, IntegratedGradCam, "integrated-gradcam", "Int. Grad-CAM", Layer,                              \
    "Grad-CAM maps summed along the input path (Sattarzadeh et al. 2021)")                                           \
  X(Saliency, Saliency, "saliency", "Saliency", Input, "the input gradient dS/dx (Simonyan et al. 2014)")          \
  X(InputXGradient, InputXGradient, "inputxgrad", "Input x Grad", Input, "x * dS/dx (Shrikumar et al. 2016)")        \
  X(IntegratedGradients, IntegratedGradients, "ig", "Int. Gradients", Input,                                       \
    "(x - x') * mean gradient along the straight path (Sundararajan et al. 2017)")                                  \
  X(SmoothGrad, SmoothGrad, "smoothgrad", "SmoothGrad", Input,                                                       \
    "mean input gradient over noisy copies of x (Smilkov et al. 2017)")                                            \
  X(AttentionRollout, AttentionRollout, "rollout", "Attn. Rollout", Attention,                                     \
    "class token's row of the product of head-mean attentions mixed with I (Abnar & Zuidema 2020)")               \
  X(AttentionRelevance, AttentionRelevance, "attention-relevance", "Attn. Relevance", Attention,                   \
    "class token's row of R += mean_h ReLU(dS/dA * A) R over the blocks (Chefer, Gur & Wolf 2021)")

// What a method explains (the fifth column of GRADATTR_METHODS).
enum class MethodKind { Layer, Input, Attention };

enum class Method {
#define GRADATTR_METHOD_ENUM(e, cls, cli, display, kind, description) e,
  GRADATTR_METHODS(GRADATTR_METHOD_ENUM)
#undef GRADATTR_METHOD_ENUM
};

struct MethodInfo {
  Method method;
  std::string_view name;         // the CLI name (the command-line contract)
  std::string_view display;      // a display label
  MethodKind kind;               // a layer's activations, the input pixels, or the attention layers
  bool layer_method;             // kind == Layer: explains a layer's activations (a CAM map at its resolution)
  std::string_view description;  // one line
};

inline constexpr std::array kMethodInfo = {
#define GRADATTR_METHOD_INFO(e, cls, cli, display, kind, description) \
  MethodInfo{Method::e, cli, display, MethodKind::kind, MethodKind::kind == MethodKind::Layer, description},
    GRADATTR_METHODS(GRADATTR_METHOD_INFO)
#undef GRADATTR_METHOD_INFO
};

inline constexpr std::array<Method, kMethodInfo.size()> kAllMethods = [] {
  std::array<Method, kMethodInfo.size()> out{};
  for (std::size_t i = 0; i < kMethodInfo.size(); ++i) out[i] = kMethodInfo[i].method;
  return out;
}();

constexpr const MethodInfo& method_info(Method m) noexcept {
  for (const MethodInfo& i : kMethodInfo)
    if (i.method == m) return i;
  return kMethodInfo[0];  // unreachable for a valid enum value
}

// The methods every Classifier runs: all but the attention methods, which need a model with
// attention layers (a ViT). The audit and the paper's experiments use these.
inline constexpr auto kGeneralMethods = [] {
  constexpr std::size_t n = [] {
    std::size_t k = 0;
    for (const MethodInfo& i : kMethodInfo) k += i.kind != MethodKind::Attention;
    return k;
  }();
  std::array<Method, n> out{};
  std::size_t k = 0;
  for (const MethodInfo& i : kMethodInfo)
    if (i.kind != MethodKind::Attention) out[k++] = i.method;
  return out;
}();

// The CLI names (the command-line contract).
constexpr std::string_view to_string(Method m) noexcept { return method_info(m).name; }

// A display label ("Grad-CAM++").
constexpr std::string_view display_name(Method m) noexcept { return method_info(m).display; }

// True for the methods that explain a layer's activations (CAM maps at the layer's resolution).
constexpr bool is_layer_method(Method m) noexcept { return method_info(m).layer_method; }

// True for the attention methods (rollout, attention-relevance): they need a model whose
// attention_layers() is not empty (nn/classifier.hpp) and refuse any other with ArgumentError.
constexpr bool is_attention_method(Method m) noexcept { return method_info(m).kind == MethodKind::Attention; }

// The valid CLI names, comma-separated ("gradcam, gradcam+, ...").
inline std::string method_names_list(std::string_view separator = ", ") {
  std::string out;
  for (const MethodInfo& i : kMethodInfo) out += std::string(out.empty() ? "" : separator) + std::string(i.name);
  return out;
}

inline Method parse_method(std::string_view s) {
  for (const MethodInfo& i : kMethodInfo)
    if (s == i.name) return i.method;
  throw ArgumentError("unknown method '" + std::string(s) + "' (valid: " + method_names_list() + ")");
}

struct VariantInfo {
  Method method;
  std::string_view name;         // the CLI name (--variant); a method's first row is its default
  std::string_view source;       // where it comes from: a paper's equation or the authors' code
  std::string_view description;  // one line
};

inline constexpr std::array kVariantInfo = {
    VariantInfo{Method::GradCamPlusPlus, "exact", "Chattopadhay et al. 2018, Eq. 19, exact derivatives of Y = exp(S)",
                "alpha from the exact 2nd and 3rd derivatives of exp(S) for the score space (head Jacobian for post/log)"},
    VariantInfo{Method::GradCamPlusPlus, "closed-form", "pytorch-grad-cam (grad_cam_plusplus.py)",
                "alpha = g^2 / (2 g^2 + sum(A) g^3 + 1e-6): exact only for a score linear in the logits"},
    VariantInfo{Method::GradCamPlusPlus, "paper", "authors' code (adityac94/Grad_CAM_plus_plus)",
                "closed-form alpha without eps, normalised per channel, times exp(S)"},
    VariantInfo{Method::ScoreCam, "increase", "Wang et al. 2020, Eq. 5-6 (increase of confidence)",
                "w_k = S(x * M_k) - S(x_b), x_b = 0, no softmax"},
    VariantInfo{Method::ScoreCam, "softmax", "pytorch-grad-cam (score_cam.py)", "w = softmax_k S(x * M_k)"},
    VariantInfo{Method::ScoreCam, "raw", "tf-keras-vis (scorecam.py)", "w_k = S(x * M_k)"},
    VariantInfo{Method::RsiGradCam, "paper", "Lucas et al. 2022, Eq. 9-10",
                "G = sum_m (g_{m-1} + g_m)/2 * (A_m - A_{m-1}); w_k = mean G_k"},
    VariantInfo{Method::RsiGradCam, "relu-gradients", "authors' notebooks (mlerma54/RSIGradCAM)",
                "integrates ReLU(dS/dA) at every path point"},
    VariantInfo{Method::RsiGradCam, "guided", "authors' notebooks (mlerma54/RSIGradCAM)",
                "integrated G masked by [A(x) > 0] [G > 0] [A(x) - A(x') > 0]"},
    VariantInfo{Method::IntegratedGradCam, "clamped", "authors' code (smstrzd/IntegratedGradCAM)",
                "sum over path points of the Grad-CAM map clamped at 0"},
    VariantInfo{Method::IntegratedGradCam, "signed", "Sattarzadeh et al. 2021, Eq. 9 read literally",
                "sum over path points of the signed Grad-CAM map"},
    VariantInfo{Method::Saliency, "max-abs", "Simonyan et al. 2014, Sec. 3.1",
                "displays max over channels of |dS/dx| (--save-raw keeps the signed gradient)"},
    VariantInfo{Method::Saliency, "signed", "gradattr before issue 13", "displays the channel sum of dS/dx"},
};

// True when the method has documented alternatives (rows in kVariantInfo).
constexpr bool has_variants(Method m) noexcept {
  for (const VariantInfo& v : kVariantInfo)
    if (v.method == m) return true;
  return false;
}

// The method's variant names joined by separator, default first ("exact, closed-form, paper");
// empty for a method without variants.
inline std::string variant_names_list(Method m, std::string_view separator = ", ") {
  std::string out;
  for (const VariantInfo& v : kVariantInfo)
    if (v.method == m) out += std::string(out.empty() ? "" : separator) + std::string(v.name);
  return out;
}

// The method's default variant's name; empty for a method without variants.
constexpr std::string_view default_variant(Method m) noexcept {
  for (const VariantInfo& v : kVariantInfo)
    if (v.method == m) return v.name;
  return {};
}

// The index of variant `name` among the method's rows (0 = the default; empty name = 0). Throws
// ArgumentError listing the valid names for an unknown one, or saying the method has none.
inline std::int64_t parse_variant(Method m, std::string_view name) {
  if (name.empty()) return 0;
  std::int64_t i = 0;
  for (const VariantInfo& v : kVariantInfo) {
    if (v.method != m) continue;
    if (v.name == name) return i;
    ++i;
  }
  if (i == 0)
    throw ArgumentError("method " + std::string(to_string(m)) + " has no variants (got '" + std::string(name) + "')");
  throw ArgumentError("unknown variant '" + std::string(name) + "' for " + std::string(to_string(m)) +
                      " (valid: " + variant_names_list(m) + ")");
}

struct RunOptions {
  std::string layer;                 // CAM methods; empty = the model's default CAM layer
  std::int64_t steps = 50;           // path methods (RSI Grad-CAM, Int. Grad-CAM, IG): M
  std::int64_t samples = 50;         // SmoothGrad: noisy copies
  std::uint64_t seed = 0;            // SmoothGrad's noise
  std::int64_t batch_size = 16;      // model evaluations per call for the batched methods
  std::string variant;               // a row of kVariantInfo for the method; empty = its default
  ProgressCallback progress = {};
};

namespace attr_detail {
template <class Options>
void apply_common(Options& o, const RunOptions& r, std::int64_t variant) {
  if constexpr (requires { o.steps; }) o.steps = r.steps;
  if constexpr (requires { o.samples; }) o.samples = r.samples;
  if constexpr (requires { o.seed; }) o.seed = r.seed;
  if constexpr (requires { o.batch_size; }) o.batch_size = r.batch_size;
  if constexpr (requires { o.progress; }) o.progress = r.progress;
  if constexpr (requires { o.variant; }) o.variant = static_cast<decltype(o.variant)>(variant);  // row i = enum i
}

template <template <ScoreSpace, class> class Functor, class Policy, models::Classifier M>
Attribution<typename M::scalar_type> run_functor(bool layer_method, std::int64_t variant, const M& model,
                                                 const Tensor<typename M::scalar_type>& x, const Target& target,
                                                 const RunOptions& r,
                                                 const Tensor<typename M::scalar_type>* baseline) {
  using T = typename M::scalar_type;
  using F = Functor<Policy, T>;
  typename F::Options o;
  apply_common(o, r, variant);
  auto call = [&](const F& f) {
    if constexpr (requires { f(x, target, *baseline); })
      if (baseline) return f(x, target, *baseline);
    return f(x, target);
  };
  if constexpr (requires { F(model, std::string(), o); }) {
    if (layer_method) return call(F(model, r.layer.empty() ? default_cam_layer(model) : r.layer, o));
  }
  return call(F(model, o));
}
}  // namespace attr_detail

// run_method for one score space (Policy): the switch over the methods. run_method dispatches
// the run-time ScoreKind to it; a program that wants its build spread over translation units
// instantiates it once per (score space, model type) with GRADATTR_RUN_METHOD_IN (below).
template <class Policy, models::Classifier M>
Attribution<typename M::scalar_type> run_method_in(Method method, std::int64_t variant, const M& model,
                                                   const Tensor<typename M::scalar_type>& x, const Target& target,
                                                   const RunOptions& r,
                                                   const Tensor<typename M::scalar_type>* baseline) {
  using namespace attr_detail;
  const bool L = is_layer_method(method);
  switch (method) {
#define GRADATTR_METHOD_CASE(e, cls, cli, display, kind, description) \
  case Method::e: return run_functor<cls, Policy>(L, variant, model, x, target, r, baseline);
    GRADATTR_METHODS(GRADATTR_METHOD_CASE)
#undef GRADATTR_METHOD_CASE
  }
  throw ArgumentError("run_method: unknown method");
}

// The declaration of run_method_in<Policy, M>, for explicit instantiation: every method in one
// score space for one model type is most of a program's compile time. Put
//   extern template GRADATTR_RUN_METHOD_IN(gradattr::score::Pre, MyModel);
// (one per score space) in a header the callers include, and
//   template GRADATTR_RUN_METHOD_IN(gradattr::score::Pre, MyModel);
// in one .cpp per score space: the score spaces then compile in parallel (examples/cli does).
#define GRADATTR_RUN_METHOD_IN(Policy, M)                                                                  \
  gradattr::Attribution<typename M::scalar_type> gradattr::run_method_in<Policy, M>(                       \
      gradattr::Method, std::int64_t, const M&, const gradattr::Tensor<typename M::scalar_type>&,          \
      const gradattr::Target&, const gradattr::RunOptions&, const gradattr::Tensor<typename M::scalar_type>*)

// Runs `method` in score space `kind` on x. baseline: the path methods' x′ ([N,C,H,W] or
// [1,C,H,W]; null = zero); ignored by the other methods. r.variant: ArgumentError (before any
// work) when it is not one of the method's variants.
template <models::Classifier M>
Attribution<typename M::scalar_type> run_method(Method method, score::ScoreKind kind, const M& model,
                                                const Tensor<typename M::scalar_type>& x, const Target& target = {},
                                                const RunOptions& r = {},
                                                const Tensor<typename M::scalar_type>* baseline = nullptr) {
  using T = typename M::scalar_type;
  const std::int64_t variant = parse_variant(method, r.variant);
  return score::dispatch_score(kind, [&](auto policy) -> Attribution<T> {
    return run_method_in<decltype(policy)>(method, variant, model, x, target, r, baseline);
  });
}

}  // namespace gradattr
