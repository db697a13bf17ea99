#pragma once
// gradattr bench: end-to-end workloads timed from the command line, one parseable line each:
//   <workload> batch=<N> median_s=<seconds> min_s=<seconds> max_s=<seconds>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <gradattr/attribution/cam_maths.hpp>
#include <gradattr/attribution/runtime.hpp>
#include <gradattr/autodiff/autodiff.hpp>
#include <gradattr/score/policies.hpp>

#include "common.hpp"

namespace gradattr_cli {

struct BenchArgs {
  std::string weights, arch = "vgg19", workload = "forward";
  int size = 224, batch = 1, repeat = 5, threads = 0, steps = 50;
};

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
inline std::function<void()> bench_workload(const std::string& w, const Model& model, const gradattr::Tensor<float>& x,
                                            int steps) {
  namespace ad = gradattr::ad;
  const std::string last = model.resolve_layer("last_conv");
  if (w == "forward") return [&] { (void)model.forward(x); };
  if (w == "input-grad")
    return [&] {
      ad::Tape<float> tape;
      auto xv = tape.variable(x);
      auto z = model.forward_from(xv, gradattr::models::kInputLayer, tape);
      auto seed = gradattr::Pre::seed(z.value(), top_classes(z.value()));
      (void)ad::grad(tape, z, {xv}, seed);
    };
  if (w == "gradcam")
    return [&, last] {
      auto a = model.forward_until(x, last);
      ad::Tape<float> tape;
      auto av = tape.variable(a);
      auto z = model.forward_from(av, last, tape);
      auto seed = gradattr::Pre::seed(z.value(), top_classes(z.value()));
      auto g = ad::grad(tape, z, {av}, seed);
      (void)gradattr::cam::gradcam_map(a, g[0]);
    };
  if (w == "full")
    return [&] {
      ad::Tape<float> tape;
      auto xv = tape.variable(x);
      auto out = model.forward_train(xv, tape);
      auto seed = gradattr::Pre::seed(out.logits.value(), top_classes(out.logits.value()));
      auto targets = out.vars();
      targets.push_back(xv);
      (void)ad::grad(tape, out.logits, targets, seed);
    };
  if (w == "rsi-gradcam" || w == "ig")
    return [&, w, steps] {
      gradattr::RunOptions o;
      o.steps = steps;
      (void)gradattr::run_method(w == "ig" ? gradattr::Method::IntegratedGradients : gradattr::Method::RsiGradCam,
                                 gradattr::ScoreKind::Post, model, x, gradattr::Target{}, o);
    };
  throw UsageError("--workload: unknown workload '" + w + "' (valid: forward, input-grad, gradcam, full, rsi-gradcam, ig, all)");
}

inline int run_bench(const BenchArgs& a) {
  if (a.size < 32) throw UsageError("--size must be at least 32 for VGG, got " + std::to_string(a.size));
  if (a.batch < 1) throw UsageError("--batch must be at least 1");
  if (a.repeat < 1) throw UsageError("--repeat must be at least 1");
  if (a.steps < 1) throw UsageError("--steps must be at least 1");
  if (a.threads > 0) omp_set_num_threads(a.threads);
  LoadedModel lm = a.weights.empty() ? seeded_model(a.arch, 0) : load_model_file(a.weights);
  const std::int64_t channels = lm.model.config().in_channels;
  gradattr::Tensor<float> x(gradattr::Shape{a.batch, channels, a.size, a.size});
  std::mt19937_64 rng(1);
  std::normal_distribution<float> nd;
  for (auto& v : x) v = nd(rng);

  std::vector<std::string> workloads;
  if (a.workload == "all")
    workloads = {"forward", "input-grad", "gradcam", "full"};
  else
    workloads = {a.workload};
  for (const auto& w : workloads) {
    auto fn = bench_workload(w, lm.model, x, a.steps);
    fn();  // warm-up: first-touch of buffers, prepared weights
    std::vector<double> t;
    for (int r = 0; r < a.repeat; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      fn();
      t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(t.begin(), t.end());
    const double median = t.size() % 2 ? t[t.size() / 2] : 0.5 * (t[t.size() / 2 - 1] + t[t.size() / 2]);
    std::printf("%s batch=%d median_s=%.6f min_s=%.6f max_s=%.6f\n", w.c_str(), a.batch, median, t.front(), t.back());
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace gradattr_cli
