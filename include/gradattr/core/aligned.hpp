#pragma once
// 64-byte aligned buffers: one cache line, one AVX-512 register.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>

#include "gradattr/core/detail/buffer_cache.hpp"

namespace gradattr {

inline constexpr std::size_t kAlignment = 64;

namespace detail {
struct FreeDeleter {
  void operator()(void* p) const noexcept { std::free(p); }
};
// Returns a large block to the BufferCache (which frees it when the cache is off or full).
struct CacheDeleter {
  std::size_t bytes;
  void operator()(void* p) const noexcept { BufferCache::instance().give_back(p, bytes); }
};
}  // namespace detail

// An uninitialised aligned array of n T's (n may be 0). Throws std::bad_alloc. Buffers of 32 MiB
// and more come from, and go back to, detail::BufferCache when it is on.
template <class T>
std::shared_ptr<T[]> make_aligned_buffer(std::size_t n) {
  if (n > (SIZE_MAX - kAlignment) / sizeof(T)) throw std::bad_alloc();
  std::size_t bytes = ((n * sizeof(T) + kAlignment - 1) / kAlignment) * kAlignment;
  if (bytes >= detail::BufferCache::kMinBytes) {
    bytes = detail::BufferCache::rounded(bytes);
    void* p = detail::BufferCache::instance().take(bytes);
    if (!p) p = std::aligned_alloc(kAlignment, bytes);
    if (!p) throw std::bad_alloc();
    return std::shared_ptr<T[]>(static_cast<T*>(p), detail::CacheDeleter{bytes});
  }
  void* p = std::aligned_alloc(kAlignment, bytes == 0 ? kAlignment : bytes);
  if (!p) throw std::bad_alloc();
  return std::shared_ptr<T[]>(static_cast<T*>(p), detail::FreeDeleter{});
}

}  // namespace gradattr
