// The machine's single-precision FMA peak: kChains independent FMA chains on full-width vectors
// (AVX-512, else AVX2+FMA, chosen at compile time; the project builds with -march=native), the
// accumulators in registers, no memory traffic. GFLOP/s = 2 * lanes * chains * iterations / s
// (an FMA is 2 FLOPs), on 1 thread and on every OpenMP thread (best of 5 runs of ~0.2 s each).
// The roof of the roofline in docs/benchmarks.md ("ONNX Runtime as the anchor").
//   OMP_WAIT_POLICY=PASSIVE ./build/benchmarks/bench_fma_peak [threads...]   (default: 1 and 2)
// Prints one line per thread count:  fma_peak isa=<avx512|avx2> threads=<T> gflops=<G>, then
// the memory roof:                   read_bandwidth threads=<T> gbps=<GB/s> (read_gbps below)
// (A plain main: benchmarks/CMakeLists.txt links Google Benchmark into every bench_*; unused here.)
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

constexpr int kChains = 12;  // > FMA latency (4) x FMA ports (2): the pipes never wait

#if defined(__AVX512F__)
using Vec = __m512;
constexpr int kLanes = 16;
constexpr const char* kIsa = "avx512";
inline Vec vset(float x) { return _mm512_set1_ps(x); }
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline Vec vadd(Vec a, Vec b) { return _mm512_add_ps(a, b); }
inline Vec vload(const float* p) { return _mm512_loadu_ps(p); }
inline float vsum(Vec a) { return _mm512_reduce_add_ps(a); }
#elif defined(__AVX2__) && defined(__FMA__)
using Vec = __m256;
constexpr int kLanes = 8;
constexpr const char* kIsa = "avx2";
inline Vec vset(float x) { return _mm256_set1_ps(x); }
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline Vec vadd(Vec a, Vec b) { return _mm256_add_ps(a, b); }
inline Vec vload(const float* p) { return _mm256_loadu_ps(p); }
inline float vsum(Vec a) {
  alignas(32) float t[8];
  _mm256_store_ps(t, a);
  float s = 0;
  for (float v : t) s += v;
  return s;
}
#else
#error "bench_fma_peak needs AVX2+FMA or AVX-512 (-march=native on such a CPU)"
#endif

// iters x kChains FMAs; a and b come from the caller so nothing folds at compile time.
float fma_chains(long iters, float a, float b) {
  Vec acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = vset(0.001f * static_cast<float>(c));
  const Vec va = vset(a), vb = vset(b);
  for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int c = 0; c < kChains; ++c) acc[c] = vfma(acc[c], va, vb);
  }
  Vec s = acc[0];
  for (int c = 1; c < kChains; ++c) s = vadd(s, acc[c]);
  return vsum(s);
}

// Best GFLOP/s of 5 runs on `threads` threads, each thread running `iters` iterations.
double peak_gflops(int threads, long iters, float a, float b, float& sink) {
  double best = 0;
  for (int run = 0; run < 5; ++run) {
    std::vector<float> out(static_cast<std::size_t>(threads));
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
    out[static_cast<std::size_t>(omp_get_thread_num())] = fma_chains(iters, a, b);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (float v : out) sink += v;
    best = std::max(best, 2.0 * kLanes * kChains * static_cast<double>(iters) * threads / s * 1e-9);
  }
  return best;
}

// Best read bandwidth (GB/s) of 5 passes over a 1 GiB buffer (far beyond the caches), the
// threads summing disjoint halves with vector loads: the memory roof of the roofline, what
// bounds a dense layer at batch 1 (every weight read once for 2 FLOPs).
double read_gbps(int threads, float& sink) {
  const std::size_t n = (std::size_t{1} << 30) / sizeof(float);
  std::vector<float> buf(n, 1e-9f);  // touched here: no page faults in the timed passes
  double best = 0;
  for (int run = 0; run < 5; ++run) {
    std::vector<float> out(static_cast<std::size_t>(threads));
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num();
      const std::size_t per = n / static_cast<std::size_t>(threads) / kLanes * kLanes, begin = per * static_cast<std::size_t>(t);
      Vec acc[4] = {vset(0), vset(0), vset(0), vset(0)};
      for (std::size_t i = begin; i < begin + per; i += 4 * kLanes)
        for (int k = 0; k < 4; ++k) acc[k] = vadd(acc[k], vload(buf.data() + i + static_cast<std::size_t>(k) * kLanes));
      out[static_cast<std::size_t>(t)] = vsum(vadd(vadd(acc[0], acc[1]), vadd(acc[2], acc[3])));
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (float v : out) sink += v;
    best = std::max(best, static_cast<double>(n / static_cast<std::size_t>(threads) * static_cast<std::size_t>(threads)) * sizeof(float) / s * 1e-9);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> threads;
  for (int i = 1; i < argc; ++i) threads.push_back(std::max(1, std::atoi(argv[i])));
  if (threads.empty()) threads = {1, 2};
  // a * acc + b with a just below 1 stays finite for any number of iterations.
  const float a = 0.999999f + 1e-7f * static_cast<float>(argc), b = 1e-6f;
  float sink = 0;
  // Calibrate: iterations for ~0.2 s on one thread.
  long iters = 1 << 20;
  for (;;) {
    const auto t0 = std::chrono::steady_clock::now();
    sink += fma_chains(iters, a, b);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s > 0.05) {
      iters = static_cast<long>(static_cast<double>(iters) * 0.2 / s);
      break;
    }
    iters *= 4;
  }
  for (int t : threads)
    std::printf("fma_peak isa=%s threads=%d gflops=%.1f\n", kIsa, t, peak_gflops(t, iters, a, b, sink));
  for (int t : threads) std::printf("read_bandwidth threads=%d gbps=%.1f\n", t, read_gbps(t, sink));
  std::fflush(stdout);
  std::fprintf(stderr, "(checksum %g)\n", static_cast<double>(sink));
  return 0;
}
