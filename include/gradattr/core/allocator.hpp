#pragma once
// Allocator tuning for tensor-sized buffers (glibc). Call once at program start, before the
// first tensor; the CLI does (examples/cli/main.cpp).
//
// By default glibc serves a large allocation (from 128 KiB, a threshold it raises as it goes)
// with its own mmap and gives it back on free, and trims the heap's free top: a recorded pass
// (every activation and gradient a fresh tensor) then pays a system call and a page fault per
// 4 KiB page for every buffer, again on every pass. With mmap only above 32 MiB (glibc's largest
// threshold), no trimming below 1 GiB and the heap grown 64 MiB at a time, freed tensors are
// reused by the next ones. EfficientNet-B0's input-gradient pass at 2 threads: 0.20 s -> 0.057 s
// (docs/benchmarks.md). The cost: memory freed stays in the process (it is reused, and the
// peak, the high-water mark of what is live, moves little: see the benchmarks' peak RSS).
// Above 32 MiB, where glibc must mmap, freed tensors are kept by gradattr's own cache
// (core/detail/buffer_cache.hpp, up to kBufferCacheBudget) and reused by the next tensor of the
// same size: VGG19's weight-gradient pass, 124k minor faults per call -> ~0.
#include <algorithm>
#include <cstddef>
#include <cstdlib>

#include <unistd.h>

#include "gradattr/core/detail/buffer_cache.hpp"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace gradattr {

// The most bytes of freed large buffers kept for reuse once tuned, by default: 4 GiB, or a
// quarter of the machine's memory if that is less. VGG19's full backward frees ~480 MB of them per
// call; its input gradient at batch 32 ~3 GB, whose buffers a 1 GiB cache (the earlier default)
// gave back to the system to be faulted in again, 793k minor faults and 28% of the time per call
// (docs/benchmarks.md, "Batches and input sizes"). GRADATTR_BUFFER_CACHE_MB=N sets another (0:
// no cache).
inline constexpr std::size_t kBufferCacheBudget = std::size_t{4} << 30;

inline std::size_t default_buffer_cache_budget() noexcept {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return kBufferCacheBudget;
  return std::min(kBufferCacheBudget, static_cast<std::size_t>(pages) / 4 * static_cast<std::size_t>(page));
}

// The budget tune_allocator_for_tensors sets: GRADATTR_BUFFER_CACHE_MB if it is a whole number of
// MiB, else default_buffer_cache_budget().
inline std::size_t buffer_cache_budget_from_environment() noexcept {
  const char* e = std::getenv("GRADATTR_BUFFER_CACHE_MB");
  if (!e || !*e) return default_buffer_cache_budget();
  char* end = nullptr;
  const unsigned long long mb = std::strtoull(e, &end, 10);
  if (!end || *end != '\0' || e[0] == '-' || mb > (std::size_t{1} << 24)) return default_buffer_cache_budget();
  return static_cast<std::size_t>(mb) << 20;
}

// True if the settings were applied (glibc); false elsewhere, where nothing changes (also under
// a sanitizer that replaces malloc: its mallopt applies nothing).
inline bool tune_allocator_for_tensors() noexcept {
#if defined(__GLIBC__)
  bool ok = mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1;
  ok = mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1 && ok;
  ok = mallopt(M_TOP_PAD, 64 << 20) == 1 && ok;
  // Only where glibc's settings apply: under a sanitizer (whose mallopt applies nothing) every
  // free must reach it.
  if (ok) detail::BufferCache::instance().set_budget(buffer_cache_budget_from_environment());
  return ok;
#else
  return false;
#endif
}

}  // namespace gradattr
