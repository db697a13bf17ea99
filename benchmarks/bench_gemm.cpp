// The transformer products of ViT-B/16 (197 tokens): kernels::matmul_forward (the packed GEMM
// of kernels/fast/gemm.hpp) against Eigen's GEMM on the same operands, tiled over the OpenMP
// team as the library tiled it before (256 x 384 output tiles, Eigen serial inside each), so the
// two rows of a shape differ in the GEMM only. And ResNet-50's 1x1 convolutions (a GEMM of
// weights [Co, Ci] by the NCHW image [Ci, H W]): kernels::conv2d_forward against Eigen in the
// 256 x 512 tiles the convolution used before the packed GEMM. Fresh operands per shape, reused across
// iterations (cache-hot, as a model's activations are; the weights are not). Run with
//   OMP_NUM_THREADS=2 ./bench_gemm --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
#include "gradattr/core/detail/intrinsics.hpp"  // first: see there

#include <benchmark/benchmark.h>
#include <Eigen/Core>

#include <algorithm>
#include <cstdint>
#include <string>

#include "gradattr/kernels/conv2d.hpp"
#include "gradattr/kernels/matmul.hpp"

#include "bench_support.hpp"

using namespace gradattr;

namespace {

using bench::random;

struct Product {
  std::int64_t M, K, N;
};
// ViT-B/16 at batch 1: in-projection, out-projection, MLP up and down.
constexpr Product kVitB16[] = {{197, 768, 2304}, {197, 768, 768}, {197, 768, 3072}, {197, 3072, 768}};

void count(benchmark::State& state, const Product& p) {
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(p.M * p.K * p.N),
                                                 benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}

void bm_packed(benchmark::State& state, Product p) {
  const auto a = random(Shape{p.M, p.K}, 1), b = random(Shape{p.K, p.N}, 2);
  auto y = Tensor<float>::uninitialized(Shape{p.M, p.N});
  for (auto _ : state) {
    kernels::matmul_forward(y, a, b);
    benchmark::DoNotOptimize(y.data());
  }
  count(state, p);
}

// y [M, N] = a [M, K] b [K, N] by Eigen, serial inside output tiles of tm x tn
void bm_eigen_tiled(benchmark::State& state, Product p, std::int64_t tm, std::int64_t tn) {
  using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Stride = Eigen::OuterStride<>;
  const auto a = random(Shape{p.M, p.K}, 1), b = random(Shape{p.K, p.N}, 2);
  auto y = Tensor<float>::uninitialized(Shape{p.M, p.N});
  const std::int64_t rows = (p.M + tm - 1) / tm, cols = (p.N + tn - 1) / tn;
  for (auto _ : state) {
#pragma omp parallel for schedule(dynamic, 1)
    for (std::int64_t t = 0; t < rows * cols; ++t) {
      const std::int64_t m0 = t / cols * tm, n0 = t % cols * tn;
      const std::int64_t mr = std::min(tm, p.M - m0), nc = std::min(tn, p.N - n0);
      Eigen::Map<const RowMat, Eigen::Unaligned, Stride> am(a.data() + m0 * p.K, mr, p.K, Stride(p.K));
      Eigen::Map<const RowMat, Eigen::Unaligned, Stride> bm(b.data() + n0, p.K, nc, Stride(p.N));
      Eigen::Map<RowMat, Eigen::Unaligned, Stride> ym(y.data() + m0 * p.N + n0, mr, nc, Stride(p.N));
      ym.noalias() = am * bm;
    }
    benchmark::DoNotOptimize(y.data());
  }
  count(state, p);
}

void bm_eigen(benchmark::State& state, Product p) { bm_eigen_tiled(state, p, 256, 384); }

// ResNet-50 at 224: {Co, Ci, H W} of its 1x1 convolutions, stage by stage (reduce, expand)
constexpr Product kResnet50Pointwise[] = {{64, 256, 3136},  {256, 64, 3136}, {128, 512, 784}, {512, 128, 784},
                                          {256, 1024, 196}, {1024, 256, 196}, {512, 2048, 49}, {2048, 512, 49}};

void bm_conv1x1(benchmark::State& state, Product p) {
  const std::int64_t side = p.N == 3136 ? 56 : p.N == 784 ? 28 : p.N == 196 ? 14 : 7;
  const auto x = random(Shape{1, p.K, side, side}, 1), w = random(Shape{p.M, p.K, 1, 1}, 2),
             b = random(Shape{p.M}, 3);
  auto y = Tensor<float>::uninitialized(Shape{1, p.M, side, side});
  for (auto _ : state) {
    kernels::conv2d_forward(y, x, w, b, kernels::Conv2dParams{});
    benchmark::DoNotOptimize(y.data());
  }
  count(state, p);
}

void bm_conv1x1_eigen(benchmark::State& state, Product p) { bm_eigen_tiled(state, p, 256, 512); }

const bool registered = [] {
  for (const Product& p : kVitB16) {
    const std::string shape = std::to_string(p.M) + "x" + std::to_string(p.K) + "x" + std::to_string(p.N);
    benchmark::RegisterBenchmark(("matmul_packed/" + shape).c_str(), bm_packed, p)->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark(("matmul_eigen/" + shape).c_str(), bm_eigen, p)->Unit(benchmark::kMillisecond)->UseRealTime();
  }
  for (const Product& p : kResnet50Pointwise) {
    const std::string shape = std::to_string(p.M) + "x" + std::to_string(p.K) + "x" + std::to_string(p.N);
    benchmark::RegisterBenchmark(("conv1x1/" + shape).c_str(), bm_conv1x1, p)->Unit(benchmark::kMicrosecond)->UseRealTime();
    benchmark::RegisterBenchmark(("conv1x1_eigen/" + shape).c_str(), bm_conv1x1_eigen, p)
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime();
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
