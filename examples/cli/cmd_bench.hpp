#pragma once
// gradattr bench: end-to-end workloads timed from the command line, one parseable line each:
//   <workload> batch=<N> median_s=<seconds> min_s=<seconds> max_s=<seconds> minflt_per_call=<n>
// minflt_per_call: the process's minor page faults over the timed runs, per run (getrusage). A
// steady-state call that reuses its buffers makes none; one that maps fresh memory faults once
// per 4 KiB page it touches (docs/benchmarks.md, "Memory").
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common.hpp"
#include "progress.hpp"
#include "workloads.hpp"

namespace gradattr_cli {

struct BenchArgs {
  std::string weights, arch = "vgg19", workload = "forward";
  std::optional<int> size;  // not given: a VGG runs at 224, an ONNX model at the size its file fixes
  int batch = 1, repeat = 5, threads = 0;
  std::string steps = "50";  // parse_count: bounded by kMaxSteps
  bool profile = false;       // one more run per workload with per-op timing (graph models)
};

// After the timed runs: one more run of fn with per-node timing, printed as
//   profile <workload> total seconds=<s>
//   profile <workload> <forward|backward> node=<name> op=<op> shape=<output> seconds=<s> calls=<n>
//       gflop=<per call> gflops=<rate> share=<% of the run>
// slowest first. forward: a graph model's nodes (a VGG has none; a fused step is one row under
// its first node's name, its op e.g. "Conv[1x1]+Add+Relu"); backward: each node's recorded ops
// under the node's name (a VGG's: node=- and the op's name). gflop counts the node's forward
// FLOPs (Conv, Linear, MatMul; "-" for other ops), in the backward too, so its rate there is in
// forward-FLOP equivalents: backward-data costs one forward, backward-weights another.
template <class M>
void profile_workload(const std::string& w, const M& model, const std::function<void()>& fn) {
  using gradattr::ad::OpTime;
  gradattr::ad::OpTimes fwd, bwd;
  const auto* g = model.template get<gradattr::graph::GraphModel<float>>();
  if (g) g->set_profile(&fwd);
  gradattr::ad::backward_profile() = &bwd;
  const auto t0 = std::chrono::steady_clock::now();
  fn();
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  gradattr::ad::backward_profile() = nullptr;
  if (g) g->set_profile(nullptr);
  std::printf("profile %s total seconds=%.6f\n", w.c_str(), total);
  for (const auto& [phase, times] : {std::pair<const char*, const gradattr::ad::OpTimes*>{"forward", &fwd}, {"backward", &bwd}}) {
    std::vector<std::pair<std::string, OpTime>> rows(times->begin(), times->end());
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
    for (auto [label, t] : rows) {
      std::string node = label;
      if (t.op.empty()) {  // a backward row: the node's forward row says what it is
        auto f = fwd.find(label);
        if (f != fwd.end()) {
          t.op = f->second.op, t.shape = f->second.shape, t.flops = f->second.flops;
        } else {  // recorded outside any node: label is the op's name
          t.op = label, node = "-";
        }
      }
      const std::string shape = t.shape.empty() ? "-" : t.shape;
      char rate[64] = "gflop=- gflops=-";
      if (t.flops > 0 && t.seconds > 0)
        std::snprintf(rate, sizeof rate, "gflop=%.4f gflops=%.1f", t.flops * 1e-9,
                      t.flops * 1e-9 * static_cast<double>(t.calls) / t.seconds);
      std::printf("profile %s %s node=%s op=%s shape=%s seconds=%.6f calls=%lld %s share=%.1f%%\n", w.c_str(), phase,
                  node.c_str(), t.op.c_str(), shape.c_str(), t.seconds, static_cast<long long>(t.calls), rate,
                  100.0 * t.seconds / total);
    }
  }
  std::fflush(stdout);
}

// Minor page faults of this process so far (0 where getrusage fails).
inline long minor_faults() noexcept {
  rusage u{};
  return getrusage(RUSAGE_SELF, &u) == 0 ? u.ru_minflt : 0;
}

inline int run_bench(const BenchArgs& a) {
  if (a.size && *a.size < 32) throw UsageError("--size must be at least 32, got " + std::to_string(*a.size));
  if (a.batch < 1) throw UsageError("--batch must be at least 1");
  if (a.repeat < 1) throw UsageError("--repeat must be at least 1");
  const auto steps = parse_count("--steps", a.steps, kMaxSteps);
  std::vector<std::string> workloads;
  if (a.workload == "all") {
    workloads = bench_workloads();
  } else {
    for (const auto& w : bench_workloads())
      if (w == a.workload) workloads = {w};
    if (workloads.empty())
      throw UsageError("--workload: unknown workload '" + a.workload + "' (valid: " + bench_workload_list() + ", all)");
  }
  if (!a.weights.empty()) check_arch_name(a.arch);
  if (a.threads > 0) omp_set_num_threads(a.threads);
  LoadedModel lm = a.weights.empty() ? seeded_model(a.arch, 0) : load_model_file(a.weights);
  // A VGG takes any size (224 by default); an ONNX model the size its file fixes.
  const gradattr::Shape in = lm.model.input_shape();
  std::int64_t height = a.size.value_or(224), width = height;
  if (is_onnx_path(a.weights)) {
    if (a.size && (*a.size != in[2] || *a.size != in[3]))
      throw UsageError("--size " + std::to_string(*a.size) + ": " + a.weights + " takes " + std::to_string(in[2]) + "x" +
                       std::to_string(in[3]) + " inputs");
    height = in[2], width = in[3];
  }
  gradattr::Tensor<float> x(gradattr::Shape{a.batch, in[1], height, width});
  std::mt19937_64 rng(1);
  std::normal_distribution<float> nd;
  for (auto& v : x) v = nd(rng);

  ProgressBar bar("bench");
  const std::size_t stages = workloads.size() * static_cast<std::size_t>(a.repeat + 1);
  std::size_t stage = 0;
  for (const auto& w : workloads) {
    auto fn = bench_workload(w, lm.model, x, static_cast<int>(steps));
    bar.stage(stage++, stages);
    fn();  // warm-up: first-touch of buffers, prepared weights
    std::vector<double> t;
    const long faults0 = minor_faults();
    for (int r = 0; r < a.repeat; ++r) {
      bar.stage(stage++, stages);
      const auto t0 = std::chrono::steady_clock::now();
      fn();
      t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    const double faults = static_cast<double>(minor_faults() - faults0) / a.repeat;
    std::sort(t.begin(), t.end());
    const double median = t.size() % 2 ? t[t.size() / 2] : 0.5 * (t[t.size() / 2 - 1] + t[t.size() / 2]);
    bar.finish();
    std::printf("%s batch=%d median_s=%.6f min_s=%.6f max_s=%.6f minflt_per_call=%.0f\n", w.c_str(), a.batch, median,
                t.front(), t.back(), faults);
    std::fflush(stdout);
    if (a.profile) profile_workload(w, lm.model, fn);
  }
  return 0;
}

}  // namespace gradattr_cli
