#pragma once
// Choosing a method and a score space at run time (the CLI, the audit, the experiments):
//
//   auto m = parse_method("rsi-gradcam");                  // ArgumentError lists the valid names
//   RunOptions o{.layer = "features.35", .steps = 50};
//   Attribution<float> r = run_method(m, ScoreKind::Post, model, x, Target{}, o);
//
// run_method builds the method's functor (a class template on the policy type) with the common
// options mapped onto its Options struct and calls it; the maths is the functor's. Methods whose
// Options lack a field ignore it (e.g. steps for Grad-CAM).
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "gradattr/attribution/methods.hpp"
#include "gradattr/score/runtime.hpp"

namespace gradattr {

enum class Method {
  GradCam, GradCamPlus, GradCamPlusPlus, HiResCam, XGradCam, LayerCam, ScoreCam, RsiGradCam, IntegratedGradCam,
  Saliency, InputXGradient, IntegratedGradients, SmoothGrad
};

inline constexpr std::array<Method, 13> kAllMethods = {
    Method::GradCam,    Method::GradCamPlus,       Method::GradCamPlusPlus, Method::HiResCam,
    Method::XGradCam,   Method::LayerCam,          Method::ScoreCam,        Method::RsiGradCam,
    Method::IntegratedGradCam, Method::Saliency,   Method::InputXGradient,  Method::IntegratedGradients,
    Method::SmoothGrad};

namespace attr_detail {
struct MethodNames {
  std::string_view cli;      // the CLI name (DESIGN.md's contract)
  std::string_view display;  // a display label
};
constexpr MethodNames method_names(Method m) noexcept {
  switch (m) {
    case Method::GradCam: return {"gradcam", "Grad-CAM"};
    case Method::GradCamPlus: return {"gradcam+", "Grad-CAM+"};
    case Method::GradCamPlusPlus: return {"gradcam++", "Grad-CAM++"};
    case Method::HiResCam: return {"hirescam", "HiResCAM"};
    case Method::XGradCam: return {"xgradcam", "XGrad-CAM"};
    case Method::LayerCam: return {"layercam", "LayerCAM"};
    case Method::ScoreCam: return {"scorecam", "Score-CAM"};
    case Method::RsiGradCam: return {"rsi-gradcam", "RSI Grad-CAM"};
    case Method::IntegratedGradCam: return {"integrated-gradcam", "Int. Grad-CAM"};
    case Method::Saliency: return {"saliency", "Saliency"};
    case Method::InputXGradient: return {"inputxgrad", "Input x Grad"};
    case Method::IntegratedGradients: return {"ig", "Int. Gradients"};
    case Method::SmoothGrad: return {"smoothgrad", "SmoothGrad"};
  }
  return {"?", "?"};
}
}  // namespace attr_detail

// The CLI names (DESIGN.md's contract).
constexpr std::string_view to_string(Method m) noexcept { return attr_detail::method_names(m).cli; }

// A display label ("Grad-CAM++").
constexpr std::string_view display_name(Method m) noexcept { return attr_detail::method_names(m).display; }

inline Method parse_method(std::string_view s) {
  for (Method m : kAllMethods)
    if (s == to_string(m)) return m;
  std::string valid;
  for (Method m : kAllMethods) valid += std::string(valid.empty() ? "" : ", ") + std::string(to_string(m));
  throw ArgumentError("unknown method '" + std::string(s) + "' (valid: " + valid + ")");
}

// True for the methods that explain a layer's activations (CAM maps at the layer's resolution).
constexpr bool is_layer_method(Method m) noexcept {
  return m != Method::Saliency && m != Method::InputXGradient && m != Method::IntegratedGradients &&
         m != Method::SmoothGrad;
}

struct RunOptions {
  std::string layer;                 // CAM methods; empty = the model's default CAM layer
  std::int64_t steps = 50;           // path methods: M; SmoothGrad: samples
  std::int64_t samples = 50;
  std::uint64_t seed = 0;            // SmoothGrad's noise
  Tensor<double> baseline = {};      // path methods' x′; empty = zero tensor
  std::int64_t batch_size = 16;      // model evaluations per call for the batched methods
  bool gradcampp_paper_form = false;
  ProgressCallback progress = {};
};

namespace attr_detail {
template <class Options>
void apply_common(Options& o, const RunOptions& r) {
  if constexpr (requires { o.steps; }) o.steps = r.steps;
  if constexpr (requires { o.samples; }) o.samples = r.samples;
  if constexpr (requires { o.seed; }) o.seed = r.seed;
  if constexpr (requires { o.baseline; }) o.baseline = r.baseline;
  if constexpr (requires { o.batch_size; }) o.batch_size = r.batch_size;
  if constexpr (requires { o.progress; }) o.progress = r.progress;
  if constexpr (requires { o.paper_form; }) o.paper_form = r.gradcampp_paper_form;
}

template <template <class> class Functor, class Policy, models::Classifier M, class T>
Attribution<T> run_functor(bool layer_method, const M& model, const Tensor<T>& x, const Target& target,
                           const RunOptions& r) {
  typename Functor<Policy>::Options o;
  apply_common(o, r);
  if constexpr (requires { Functor<Policy>(model, std::string(), o); }) {
    if (layer_method) {
      const std::string layer = r.layer.empty() ? default_cam_layer(model) : r.layer;
      return Functor<Policy>(model, layer, o)(x, target);
    }
  }
  return Functor<Policy>(model, o)(x, target);
}
}  // namespace attr_detail

template <models::Classifier M, class T>
Attribution<T> run_method(Method method, score::ScoreKind kind, const M& model, const Tensor<T>& x,
                          const Target& target = {}, const RunOptions& r = {}) {
  return score::dispatch_score(kind, [&](auto policy) -> Attribution<T> {
    using P = decltype(policy);
    using namespace attr_detail;
    const bool L = is_layer_method(method);
    switch (method) {
      case Method::GradCam: return run_functor<GradCam, P>(L, model, x, target, r);
      case Method::GradCamPlus: return run_functor<GradCamPlus, P>(L, model, x, target, r);
      case Method::GradCamPlusPlus: return run_functor<GradCamPlusPlus, P>(L, model, x, target, r);
      case Method::HiResCam: return run_functor<HiResCam, P>(L, model, x, target, r);
      case Method::XGradCam: return run_functor<XGradCam, P>(L, model, x, target, r);
      case Method::LayerCam: return run_functor<LayerCam, P>(L, model, x, target, r);
      case Method::ScoreCam: return run_functor<ScoreCam, P>(L, model, x, target, r);
      case Method::RsiGradCam: return run_functor<RsiGradCam, P>(L, model, x, target, r);
      case Method::IntegratedGradCam: return run_functor<IntegratedGradCam, P>(L, model, x, target, r);
      case Method::Saliency: return run_functor<Saliency, P>(L, model, x, target, r);
      case Method::InputXGradient: return run_functor<InputXGradient, P>(L, model, x, target, r);
      case Method::IntegratedGradients: return run_functor<IntegratedGradients, P>(L, model, x, target, r);
      case Method::SmoothGrad: return run_functor<SmoothGrad, P>(L, model, x, target, r);
    }
    throw ArgumentError("run_method: unknown method");
  });
}

}  // namespace gradattr
