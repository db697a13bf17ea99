// End-to-end VGG19 at 224x224 with seeded random weights: forward (batch 1 and 8), forward +
// input gradient, the Grad-CAM path (gradient to features.35 only), full backward with weight
// gradients, RSI Grad-CAM and IG (M = 50). The workloads are examples/cli/workloads.hpp, the same
// the `gradattr bench` command times; the PyTorch comparison is benchmarks/compare_pytorch.py.
// Counters: peak_rss_mb is the process's peak resident set after the benchmark (monotone over
// the run: run one workload per process, --benchmark_filter, to read it per workload).
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <random>

#include "workloads.hpp"

namespace {

const gradattr_cli::WorkloadModel& vgg19_model() {
  static const auto model = gradattr::models::vgg19<float>(0);
  return model;
}

gradattr::Tensor<float> input(std::int64_t batch) {
  gradattr::Tensor<float> x(gradattr::Shape{batch, 3, 224, 224});
  std::mt19937_64 rng(1);
  std::normal_distribution<float> nd;
  for (auto& v : x) v = nd(rng);
  return x;
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

void run(benchmark::State& state, const char* workload, int steps = 50) {
  const auto x = input(state.range(0));
  auto fn = gradattr_cli::bench_workload(workload, vgg19_model(), x, steps);
  fn();  // warm-up
  for (auto _ : state) fn();
  state.counters["images/s"] = benchmark::Counter(static_cast<double>(state.iterations() * state.range(0)),
                                                  benchmark::Counter::kIsRate);
  state.counters["peak_rss_mb"] = peak_rss_mb();
}

void BM_vgg19_forward(benchmark::State& s) { run(s, "forward"); }
void BM_vgg19_input_grad(benchmark::State& s) { run(s, "input-grad"); }
void BM_vgg19_gradcam(benchmark::State& s) { run(s, "gradcam"); }
void BM_vgg19_full_backward(benchmark::State& s) { run(s, "full"); }
void BM_vgg19_rsi_gradcam_m50(benchmark::State& s) { run(s, "rsi-gradcam"); }
void BM_vgg19_ig_m50(benchmark::State& s) { run(s, "ig"); }

}  // namespace

BENCHMARK(BM_vgg19_forward)->Arg(1)->Arg(8)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_vgg19_input_grad)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_vgg19_gradcam)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_vgg19_full_backward)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_vgg19_rsi_gradcam_m50)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK(BM_vgg19_ig_m50)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
BENCHMARK_MAIN();
