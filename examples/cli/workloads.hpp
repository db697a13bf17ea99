#pragma once
// The end-to-end workloads timed by `gradattr bench` and benchmarks/bench_vgg19.cpp (one
// definition, so the CLI and the Google Benchmark numbers measure the same thing).
//   forward      logits, nothing recorded
//   input-grad   forward + ∂z_c/∂x (the whole network recorded, backward-data only)
//   gradcam      forward_until(the default CAM layer) unrecorded + recorded head + ∂z_c/∂A + the map
//   full         forward + backward with every weight gradient and the input gradient
//   rsi-gradcam  RsiGradCam<Post> with `steps` path points;  ig: IntegratedGradients<Post>;
//   smoothgrad   SmoothGrad<Post> with `steps` noisy samples;  scorecam: ScoreCam<Post>, 32 masked
//                images per forward (the method-level rows of benchmarks/compare_methods.py)
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include <gradattr/attribution/cam_maths.hpp>
#include <gradattr/attribution/detail/tokens.hpp>
#include <gradattr/attribution/runtime.hpp>
#include <gradattr/autodiff/autodiff.hpp>
#include <gradattr/graph/graph_model.hpp>
#include <gradattr/models/vgg.hpp>
#include <gradattr/score/policies.hpp>

namespace gradattr_cli {

using WorkloadModel = gradattr::models::Vgg<float>;

// The whole network with every weight a variable: a VGG or a graph model, directly or behind
// AnyClassifier.
template <class M>
gradattr::nn::TrainOutput<float> forward_train(const M& model, const gradattr::ad::Var<float>& x, gradattr::ad::Tape<float>& tape) {
  if constexpr (requires { model.forward_train(x, tape); }) {
    return model.forward_train(x, tape);
  } else {
    if (const auto* vgg = model.template get<gradattr::models::Vgg<float>>()) return vgg->forward_train(x, tape);
    if (const auto* g = model.template get<gradattr::graph::GraphModel<float>>()) return g->forward_train(x, tape);
    throw gradattr::ArgumentError("the full workload needs a VGG or a graph model");
  }
}

// The layer the gradcam workload cuts at: the model's default CAM layer.
template <class M>
std::string workload_cam_layer(const M& model) {
  if constexpr (requires { model.default_cam_layer(); }) return model.default_cam_layer();
  else return model.resolve_layer("last_conv");
}

// The workloads, in the order `--workload all` runs them: the one list.
inline const std::vector<std::string>& bench_workloads() {
  static const std::vector<std::string> all = {"forward", "input-grad", "gradcam", "full", "rsi-gradcam", "ig", "smoothgrad", "scorecam"};
  return all;
}
// "forward, input-grad, ...": for error messages.
inline std::string bench_workload_list() {
  std::string s;
  for (const auto& w : bench_workloads()) s += (s.empty() ? "" : ", ") + w;
  return s;
}

inline std::vector<std::int64_t> top_classes(const gradattr::Tensor<float>& z) {
  std::vector<std::int64_t> c(static_cast<std::size_t>(z.dim(0)));
  for (std::int64_t n = 0; n < z.dim(0); ++n) {
    std::int64_t best = 0;
    for (std::int64_t k = 1; k < z.dim(1); ++k)
      if (z(n, k) > z(n, best)) best = k;
    c[static_cast<std::size_t>(n)] = best;
  }
  return c;
}

// One workload as a callable; the model and input are built once, outside the timing.
template <class M>
std::function<void()> bench_workload(const std::string& w, const M& model, const gradattr::Tensor<float>& x, int steps) {
  namespace ad = gradattr::ad;
  const std::string last = workload_cam_layer(model);
  if (w == "forward") return [&] { (void)model.forward(x); };
  if (w == "input-grad")
    return [&] {
      ad::Tape<float> tape;
      auto xv = tape.variable(x);
      auto z = model.forward_from(gradattr::models::input_cut(xv), tape);
      auto seed = gradattr::Pre::seed(z.value(), top_classes(z.value()));
      (void)ad::grad_once(tape, z, {xv}, seed);
    };
  if (w == "gradcam")
    return [&, last] {
      // a ViT's token layer is folded into its patch grid as the CAM methods see it (no-op on a CNN)
      auto cut = gradattr::attr_detail::fold_tokens(model.forward_until(x, last));
      const auto& a = cut.activation.value();
      ad::Tape<float> tape;
      auto av = tape.variable(a);
      auto z = model.forward_from(gradattr::attr_detail::unfold_tokens(cut.with_activation(av)), tape);
      auto seed = gradattr::Pre::seed(z.value(), top_classes(z.value()));
      auto g = ad::grad_once(tape, z, {av}, seed);
      (void)gradattr::cam::gradcam_map(a, g[0]);
    };
  if (w == "full")
    return [&] {
      ad::Tape<float> tape;
      auto xv = tape.variable(x);
      auto out = forward_train(model, xv, tape);
      auto seed = gradattr::Pre::seed(out.logits.value(), top_classes(out.logits.value()));
      auto targets = out.vars();
      targets.push_back(xv);
      (void)ad::grad_once(tape, out.logits, targets, seed);
    };
  if (w == "rsi-gradcam" || w == "ig" || w == "smoothgrad" || w == "scorecam")
    return [&, w, steps] {
      gradattr::RunOptions o;
      o.steps = steps;
      o.samples = steps;
      if (w == "scorecam") o.batch_size = 32;
      (void)gradattr::run_method(gradattr::parse_method(w), gradattr::ScoreKind::Post, model, x, gradattr::Target{}, o);
    };
  throw gradattr::ArgumentError("--workload: unknown workload '" + w + "' (valid: " + bench_workload_list() + ", all)");
}

}  // namespace gradattr_cli
