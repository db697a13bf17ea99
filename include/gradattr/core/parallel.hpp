#pragma once
// parallel_for over OpenMP with a serial fallback, and the one rule for when a loop is worth a
// team of threads. The body must not throw: check every argument before calling (exceptions
// cannot cross an OpenMP region). Static scheduling, so an index always lands on the same thread
// for a given thread count.
//
// Work. Waking the team and joining it costs 5-50 us per loop (more with
// OMP_WAIT_POLICY=passive, whose idle threads sleep in the kernel), which is more than the whole
// of a small layer's work: the 28x28 Fashion model ran 2x slower on 2 threads than on 1 before
// loops looked at their work (docs/benchmarks.md, "Small models: when a loop goes parallel").
// So every parallel loop states an estimate of its work, in units of one float streamed
// through a pointwise kernel (about 0.1-0.3 ns on one core); compute-bound kernels convert
// with kMacWork. A loop below parallel_threshold() units runs on the calling thread.
// Gradattr never lets Eigen open a team of its own (core/detail/eigen.hpp).
#include <atomic>
#include <strings.h>  // strcasecmp (POSIX)

#include <cstdint>
#include <cstdlib>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace gradattr {

inline int max_threads() noexcept {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

inline bool in_parallel_region() noexcept {
#ifdef _OPENMP
  return omp_in_parallel() != 0;
#else
  return false;
#endif
}

// Work units of one multiply-add inside a register-blocked GEMM or convolution (16 of them
// take about as long as one streamed float).
inline constexpr double kMacWork = 1.0 / 16.0;
// Work units of one exp, erf or division per element (a polynomial of ~10-20 operations).
inline constexpr double kTranscendentalWork = 4.0;

// The default threshold, in work units, by how idle OpenMP threads wait (docs/benchmarks.md,
// "Small models: when a loop goes parallel", measured on the Fashion model at 2 threads; VGG19,
// ResNet-50 and ViT-B/16 did not change at either value):
//  - spinning (OMP_WAIT_POLICY unset or active: libgomp spins before it sleeps), a team wakes in
//    a few us: 2^15 units (about 6 us of one core, PyTorch's grain size too);
//  - OMP_WAIT_POLICY=passive, idle threads sleep in the kernel and each wake-up costs tens of us:
//    2^18 units (about 50 us). At 2^15 the Fashion sweep still ran at 0.6x one thread's speed.
inline constexpr std::int64_t kDefaultParallelThreshold = std::int64_t{1} << 15;
inline constexpr std::int64_t kPassiveParallelThreshold = std::int64_t{1} << 18;

namespace parallel_detail {
inline bool passive_wait() noexcept {
  const char* p = std::getenv("OMP_WAIT_POLICY");  // OpenMP reads it case-insensitively
  return p && ::strcasecmp(p, "passive") == 0;
}
inline std::int64_t threshold_from_environment() noexcept {
  // GRADATTR_PARALLEL_WORK=N overrides the default (0: every loop of 2 or more items goes
  // parallel, as before the threshold existed); an unparsable value keeps the default.
  const std::int64_t fallback = passive_wait() ? kPassiveParallelThreshold : kDefaultParallelThreshold;
  const char* e = std::getenv("GRADATTR_PARALLEL_WORK");
  if (!e || !*e) return fallback;
  char* end = nullptr;
  const long long v = std::strtoll(e, &end, 10);
  return (end && *end == '\0' && v >= 0) ? static_cast<std::int64_t>(v) : fallback;
}
inline std::atomic<std::int64_t>& threshold() noexcept {
  static std::atomic<std::int64_t> t{threshold_from_environment()};
  return t;
}
}  // namespace parallel_detail

// Loops with less work than this run serially. The tests set 0, so that their small odd shapes
// still run the parallel paths at 2 and 3 threads.
inline std::int64_t parallel_threshold() noexcept { return parallel_detail::threshold().load(std::memory_order_relaxed); }
inline void set_parallel_threshold(std::int64_t units) noexcept {
  parallel_detail::threshold().store(units < 0 ? 0 : units, std::memory_order_relaxed);
}

// Whether a loop of `items` items (at least 2) and `work` units in all should wake the team.
inline bool worth_parallel(std::int64_t items, double work) noexcept {
  return items >= 2 && work >= static_cast<double>(parallel_threshold()) && max_threads() > 1 && !in_parallel_region();
}

// The team size for a loop of `work` units over `items` items: 1 when not worth_parallel.
inline int threads_for(std::int64_t items, double work) noexcept {
  if (!worth_parallel(items, work)) return 1;
  const int t = max_threads();
  return items < t ? static_cast<int>(items) : t;
}

// Calls body(i) for i in [begin, end), each call about `work_per_item` units. Serial when the
// whole loop is not worth_parallel, or when already inside a parallel region (no nested teams).
template <class Body>
void parallel_for(std::int64_t begin, std::int64_t end, double work_per_item, Body&& body) noexcept {
  if (end <= begin) return;
#ifdef _OPENMP
  if (worth_parallel(end - begin, work_per_item * static_cast<double>(end - begin))) {
#pragma omp parallel for schedule(static)
    for (std::int64_t i = begin; i < end; ++i) body(i);
    return;
  }
#endif
  for (std::int64_t i = begin; i < end; ++i) body(i);
}

}  // namespace gradattr
