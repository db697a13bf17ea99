// Microbenchmarks of the float kernels through the public kernels:: entry points, so they
// measure whatever path dispatch picks (Winograd for 3x3/s1/p1 when present, im2col + GEMM
// otherwise). Batch 1, VGG19's shapes. Run with OMP_NUM_THREADS set, e.g.
//   OMP_NUM_THREADS=2 ./bench_kernels --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
#include "gradattr/core/detail/intrinsics.hpp"  // first: see there

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>

#include "gradattr/kernels/activation.hpp"
#include "gradattr/kernels/conv2d.hpp"
#include "gradattr/kernels/dense.hpp"
#include "gradattr/kernels/pool.hpp"

#include "bench_support.hpp"

using namespace gradattr;

namespace {

using bench::random;

struct ConvLayer {
  std::int64_t ci, co, hw;
};
// VGG19's distinct 3x3 convolution shapes (Ci -> Co at H = W).
constexpr ConvLayer kVgg19[] = {{3, 64, 224},   {64, 64, 224},  {64, 128, 112}, {128, 128, 112}, {128, 256, 56},
                                {256, 256, 56}, {256, 512, 28}, {512, 512, 28}, {512, 512, 14}};

enum class ConvOp { forward, backward_data, backward_weights };

void bm_conv(benchmark::State& state, ConvLayer l, ConvOp op) {
  const kernels::Conv2dParams p{1, 1, 1, 1};
  const Shape xs{1, l.ci, l.hw, l.hw}, ws{l.co, l.ci, 3, 3};
  const auto x = random(xs, 1), w = random(ws, 2), b = random(Shape{l.co}, 3);
  const Shape ys = kernels::conv2d_output_shape(xs, ws, p);
  const auto dy = random(ys, 4);
  auto y = Tensor<float>::uninitialized(ys), dx = Tensor<float>::uninitialized(xs);
  auto dw = Tensor<float>::uninitialized(ws), db = Tensor<float>::uninitialized(Shape{l.co});
  const auto prepared = kernels::Conv2dPrepared<float>::prepare(w, p);
  for (auto _ : state) {
    switch (op) {
      case ConvOp::forward: kernels::conv2d_forward(y, x, w, b, p, prepared.get()); break;
      case ConvOp::backward_data: kernels::conv2d_backward_data(dx, dy, w, p, prepared.get()); break;
      case ConvOp::backward_weights: kernels::conv2d_backward_weights(dw, db, dy, x, p); break;
    }
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * static_cast<double>(l.co * l.ci * 9 * ys[2] * ys[3]);
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9 * static_cast<double>(state.iterations()),
                                                 benchmark::Counter::kIsRate);
}

void bm_max_pool(benchmark::State& state, std::int64_t c, std::int64_t hw, bool backward) {
  const kernels::Pool2dParams p{2, 2, 2, 2, 0, 0};
  const Shape xs{1, c, hw, hw};
  const auto x = random(xs, 1);
  const Shape ys = kernels::pool2d_output_shape(xs, p);
  auto y = Tensor<float>::uninitialized(ys);
  auto am = Tensor<std::int32_t>::uninitialized(ys);
  auto dx = Tensor<float>::uninitialized(xs);
  const auto dy = random(ys, 2);
  kernels::max_pool2d_forward(y, am, x, p);
  for (auto _ : state) {
    if (backward)
      kernels::max_pool2d_backward(dx, dy, am);
    else
      kernels::max_pool2d_forward(y, am, x, p);
    benchmark::ClobberMemory();
  }
  // bytes moved: x or dx (4 B), y or dy (4 B) and argmax (4 B) per output quarter
  const double bytes = 4.0 * static_cast<double>(xs.numel()) + 8.0 * static_cast<double>(ys.numel());
  state.counters["GB/s"] = benchmark::Counter(bytes * 1e-9 * static_cast<double>(state.iterations()),
                                              benchmark::Counter::kIsRate);
  state.counters["GFLOP/s"] = benchmark::Counter(3.0 * static_cast<double>(ys.numel()) * 1e-9 *
                                                     static_cast<double>(state.iterations()),
                                                 benchmark::Counter::kIsRate);
}

void bm_relu(benchmark::State& state, Shape s, bool backward) {
  const auto x = random(s, 1), dy = random(s, 2);
  auto y = Tensor<float>::uninitialized(s), dx = Tensor<float>::uninitialized(s);
  kernels::relu_forward(y, x);
  for (auto _ : state) {
    if (backward)
      kernels::relu_backward(dx, dy, y);
    else
      kernels::relu_forward(y, x);
    benchmark::ClobberMemory();
  }
  const double n = static_cast<double>(s.numel()), it = static_cast<double>(state.iterations());
  state.counters["GB/s"] = benchmark::Counter((backward ? 12.0 : 8.0) * n * 1e-9 * it, benchmark::Counter::kIsRate);
  state.counters["GFLOP/s"] = benchmark::Counter(n * 1e-9 * it, benchmark::Counter::kIsRate);
}

enum class DenseOp { forward, backward_data, backward_weights };

void bm_linear(benchmark::State& state, std::int64_t in, std::int64_t out, DenseOp op) {
  const std::int64_t n = state.range(0);
  const auto x = random(Shape{n, in}, 1), w = random(Shape{out, in}, 2), b = random(Shape{out}, 3);
  const auto dy = random(Shape{n, out}, 4);
  auto y = Tensor<float>::uninitialized(Shape{n, out}), dx = Tensor<float>::uninitialized(Shape{n, in});
  auto dw = Tensor<float>::uninitialized(Shape{out, in}), db = Tensor<float>::uninitialized(Shape{out});
  for (auto _ : state) {
    switch (op) {
      case DenseOp::forward: kernels::linear_forward(y, x, w, b); break;
      case DenseOp::backward_data: kernels::linear_backward_data(dx, dy, w); break;
      case DenseOp::backward_weights: kernels::linear_backward_weights(dw, db, dy, x); break;
    }
    benchmark::ClobberMemory();
  }
  const double it = static_cast<double>(state.iterations());
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * static_cast<double>(n * in * out) * 1e-9 * it, benchmark::Counter::kIsRate);
  state.counters["GB/s"] =  // the weight matrix, read (or written) once
      benchmark::Counter(4.0 * static_cast<double>(in * out) * 1e-9 * it, benchmark::Counter::kIsRate);
}

const int registered = [] {
  for (const auto& l : kVgg19) {
    const std::string name = std::to_string(l.ci) + "to" + std::to_string(l.co) + "@" + std::to_string(l.hw);
    benchmark::RegisterBenchmark(("conv3x3_forward/" + name).c_str(), bm_conv, l, ConvOp::forward)
        ->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark(("conv3x3_backward_data/" + name).c_str(), bm_conv, l, ConvOp::backward_data)
        ->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark(("conv3x3_backward_weights/" + name).c_str(), bm_conv, l, ConvOp::backward_weights)
        ->Unit(benchmark::kMillisecond)->UseRealTime();
  }
  for (auto [c, hw] : {std::pair<std::int64_t, std::int64_t>{64, 224}, {128, 112}, {256, 56}, {512, 28}, {512, 14}}) {
    const std::string name = std::to_string(c) + "@" + std::to_string(hw);
    benchmark::RegisterBenchmark(("max_pool2x2_forward/" + name).c_str(), bm_max_pool, c, hw, false)
        ->Unit(benchmark::kMicrosecond)->UseRealTime();
    benchmark::RegisterBenchmark(("max_pool2x2_backward/" + name).c_str(), bm_max_pool, c, hw, true)
        ->Unit(benchmark::kMicrosecond)->UseRealTime();
  }
  for (auto [s, name] : {std::pair<Shape, const char*>{Shape{1, 64, 224, 224}, "64@224"}, {Shape{1, 4096}, "4096"}}) {
    benchmark::RegisterBenchmark((std::string("relu_forward/") + name).c_str(), bm_relu, s, false)
        ->Unit(benchmark::kMicrosecond)->UseRealTime();
    benchmark::RegisterBenchmark((std::string("relu_backward/") + name).c_str(), bm_relu, s, true)
        ->Unit(benchmark::kMicrosecond)->UseRealTime();
  }
  for (auto [in, out] : {std::pair<std::int64_t, std::int64_t>{25088, 4096}, {4096, 4096}, {4096, 1000}}) {
    const std::string name = std::to_string(in) + "to" + std::to_string(out);
    benchmark::RegisterBenchmark(("linear_forward/" + name).c_str(), bm_linear, in, out, DenseOp::forward)
        ->Arg(1)->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark(("linear_backward_data/" + name).c_str(), bm_linear, in, out, DenseOp::backward_data)
        ->Arg(1)->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark(("linear_backward_weights/" + name).c_str(), bm_linear, in, out,
                                 DenseOp::backward_weights)
        ->Arg(1)->Arg(32)->Unit(benchmark::kMillisecond)->UseRealTime();
  }
  return 0;
}();

}  // namespace

BENCHMARK_MAIN();
