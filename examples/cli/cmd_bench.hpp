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

#include "common.hpp"
#include "workloads.hpp"

namespace gradattr_cli {

struct BenchArgs {
  std::string weights, arch = "vgg19", workload = "forward";
  int size = 224, batch = 1, repeat = 5, threads = 0, steps = 50;
};

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
