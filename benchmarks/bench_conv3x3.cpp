// The 3x3 / stride 1 / pad 1 fast path (Winograd F(4x4,3x3)) on every VGG19 conv shape, batch 1,
// forward (bias + fused ReLU, prepared filters) and backward-data; backward-weights (im2col +
// GEMM, kernels::conv2d_backward_weights as the recorded path calls it) and VGG19's three dense
// layers in all three directions: the per-layer rows of docs/benchmarks.md's roofline. GFLOP/s
// count the direct-convolution FLOPs 2*N*Co*Ci*9*H*W so the numbers compare with direct
// implementations (Winograd does fewer: its rate can pass the machine's FMA peak).
// BM_vgg19_conv_forward_total runs the 16 convs of VGG19 in sequence (the sum to compare with
// PyTorch's 0.265 s full forward).
//   OMP_NUM_THREADS=2 ./bench_conv3x3 --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <vector>

#include "gradattr/kernels/conv2d.hpp"
#include "gradattr/kernels/dense.hpp"
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

void BM_conv3x3_backward_weights(benchmark::State& state) {
  const Layer l{state.range(0), state.range(1), state.range(2)};
  auto dy = seeded({1, l.co, l.hw, l.hw}, 1.0f), x = seeded({1, l.ci, l.hw, l.hw}, 1.0f);
  auto dw = Tensor<float>::uninitialized({l.co, l.ci, 3, 3}), db = Tensor<float>::uninitialized({l.co});
  kernels::Conv2dParams p;
  p.pad_h = p.pad_w = 1;
  for (auto _ : state) {
    kernels::conv2d_backward_weights(dw, db, dy, x, p);
    benchmark::DoNotOptimize(dw.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(direct_flops(1, l) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// VGG19's dense layers at batch 1 (fc6 25088 -> 4096, fc7 4096 -> 4096, fc8 4096 -> 1000):
// direction 0 forward, 1 backward-data, 2 backward-weights. Each reads its whole weight (or
// writes its whole weight gradient) for 2 FLOPs per element: memory-bound at batch 1, so the
// counters give GB/s of weight traffic beside GFLOP/s.
void BM_dense(benchmark::State& state) {
  const std::int64_t in = state.range(0), out = state.range(1), direction = state.range(2);
  auto x = seeded({1, in}, 1.0f), w = seeded({out, in}, 0.01f), b = seeded({out}, 0.1f), dy = seeded({1, out}, 1.0f);
  auto y = Tensor<float>::uninitialized({1, out}), dx = Tensor<float>::uninitialized({1, in});
  auto dw = Tensor<float>::uninitialized({out, in}), db = Tensor<float>::uninitialized({out});
  for (auto _ : state) {
    if (direction == 0) kernels::linear_forward(y, x, w, b);
    if (direction == 1) kernels::linear_backward_data(dx, dy, w);
    if (direction == 2) kernels::linear_backward_weights(dw, db, dy, x);
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * static_cast<double>(in * out);
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GB/s"] = benchmark::Counter(4.0 * static_cast<double>(in * out) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
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
BENCHMARK(BM_conv3x3_backward_weights)->Apply(vgg_shapes);
BENCHMARK(BM_dense)
    ->ArgNames({"in", "out", "dir"})
    ->ArgsProduct({{25088}, {4096}, {0, 1, 2}})
    ->ArgsProduct({{4096}, {4096}, {0, 1, 2}})
    ->ArgsProduct({{4096}, {1000}, {0, 1, 2}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_vgg19_conv_forward_total)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_vgg19_conv_backward_data_total)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
