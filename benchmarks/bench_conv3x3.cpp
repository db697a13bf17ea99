// The 3x3 / stride 1 / pad 1 fast path (Winograd F(4x4,3x3)) on every VGG19 conv shape, batch 1,
// forward (bias + fused ReLU, prepared filters) and backward-data. GFLOP/s count the direct-
// convolution FLOPs 2*N*Co*Ci*9*H*W so the numbers compare with direct implementations.
// BM_vgg19_conv_forward_total runs the 16 convs of VGG19 in sequence (the sum to compare with
// PyTorch's 0.265 s full forward).
//   OMP_NUM_THREADS=2 ./bench_conv3x3 --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <vector>

#include "gradattr/kernels/fast/conv3x3.hpp"

using namespace gradattr;
namespace fast = gradattr::kernels::fast;

namespace {

struct Layer {
  std::int64_t ci, co, hw;
};
// VGG19's 16 convolutions in order.
const std::vector<Layer> kVgg19 = {{3, 64, 224},   {64, 64, 224},  {64, 128, 112}, {128, 128, 112},
                                   {128, 256, 56}, {256, 256, 56}, {256, 256, 56}, {256, 256, 56},
                                   {256, 512, 28}, {512, 512, 28}, {512, 512, 28}, {512, 512, 28},
                                   {512, 512, 14}, {512, 512, 14}, {512, 512, 14}, {512, 512, 14}};

Tensor<float> seeded(const Shape& s, float scale) {
  auto t = Tensor<float>::uninitialized(s);
  std::uint32_t state = 12345;
  for (auto& v : t) {
    state = state * 1664525u + 1013904223u;
    v = scale * (static_cast<float>(state >> 8) / static_cast<float>(1u << 24) - 0.5f);
  }
  return t;
}

double direct_flops(std::int64_t n, const Layer& l) { return 2.0 * n * l.co * l.ci * 9.0 * l.hw * l.hw; }

void BM_conv3x3_forward(benchmark::State& state) {
  const Layer l{state.range(0), state.range(1), state.range(2)};
  auto x = seeded({1, l.ci, l.hw, l.hw}, 1.0f), w = seeded({l.co, l.ci, 3, 3}, 0.1f), b = seeded({l.co}, 0.1f);
  auto y = Tensor<float>::uninitialized({1, l.co, l.hw, l.hw});
  const auto f = fast::conv3x3_prepare(w);
  for (auto _ : state) {
    fast::conv3x3_relu_forward(y, x, w, b, &f);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(direct_flops(1, l) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_conv3x3_backward_data(benchmark::State& state) {
  const Layer l{state.range(0), state.range(1), state.range(2)};
  auto dy = seeded({1, l.co, l.hw, l.hw}, 1.0f), w = seeded({l.co, l.ci, 3, 3}, 0.1f);
  auto dx = Tensor<float>::uninitialized({1, l.ci, l.hw, l.hw});
  const auto f = fast::conv3x3_prepare(w);
  for (auto _ : state) {
    fast::conv3x3_backward_data(dx, dy, w, &f);
    benchmark::DoNotOptimize(dx.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(direct_flops(1, l) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

struct Net {
  std::vector<Tensor<float>> x, y, w, b;
  std::vector<fast::Conv3x3Filters> f;
  Net() {
    for (const auto& l : kVgg19) {
      x.push_back(seeded({1, l.ci, l.hw, l.hw}, 1.0f));
      y.push_back(Tensor<float>::uninitialized({1, l.co, l.hw, l.hw}));
      w.push_back(seeded({l.co, l.ci, 3, 3}, 0.1f));
      b.push_back(seeded({l.co}, 0.1f));
      f.push_back(fast::conv3x3_prepare(w.back()));
    }
  }
};

void BM_vgg19_conv_forward_total(benchmark::State& state) {
  Net net;
  double flops = 0;
  for (const auto& l : kVgg19) flops += direct_flops(1, l);
  for (auto _ : state)
    for (std::size_t i = 0; i < kVgg19.size(); ++i) {
      fast::conv3x3_relu_forward(net.y[i], net.x[i], net.w[i], net.b[i], &net.f[i]);
      benchmark::DoNotOptimize(net.y[i].data());
    }
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// The backward-data pass an input gradient needs: every conv but the first needs dx; the first
// one's dx is the input gradient itself, so all 16.
void BM_vgg19_conv_backward_data_total(benchmark::State& state) {
  Net net;
  double flops = 0;
  for (const auto& l : kVgg19) flops += direct_flops(1, l);
  for (auto _ : state)
    for (std::size_t i = kVgg19.size(); i-- > 0;) {
      fast::conv3x3_backward_data(net.x[i], net.y[i], net.w[i], &net.f[i]);
      benchmark::DoNotOptimize(net.x[i].data());
    }
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void vgg_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"ci", "co", "hw"});
  const Layer distinct[] = {{3, 64, 224},  {64, 64, 224},  {64, 128, 112}, {128, 128, 112}, {128, 256, 56},
                            {256, 256, 56}, {256, 512, 28}, {512, 512, 28}, {512, 512, 14}};
  for (const auto& l : distinct) b->Args({l.ci, l.co, l.hw});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace

BENCHMARK(BM_conv3x3_forward)->Apply(vgg_shapes);
BENCHMARK(BM_conv3x3_backward_data)->Apply(vgg_shapes);
BENCHMARK(BM_vgg19_conv_forward_total)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_vgg19_conv_backward_data_total)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
