#pragma once
// parallel_for over OpenMP with a serial fallback. The body must not throw: check every
// argument before calling (exceptions cannot cross an OpenMP region). Static scheduling,
// so an index always lands on the same thread for a given thread count.
#include <cstdint>

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

// Calls body(i) for i in [begin, end). Runs serially when the range is smaller than
// min_parallel or when already inside a parallel region (no nested teams).
template <class Body>
void parallel_for(std::int64_t begin, std::int64_t end, Body&& body, std::int64_t min_parallel = 2) noexcept {
  if (end <= begin) return;
#ifdef _OPENMP
  if (end - begin >= min_parallel && !in_parallel_region() && omp_get_max_threads() > 1) {
#pragma omp parallel for schedule(static)
    for (std::int64_t i = begin; i < end; ++i) body(i);
    return;
  }
#endif
  for (std::int64_t i = begin; i < end; ++i) body(i);
}

}  // namespace gradattr
