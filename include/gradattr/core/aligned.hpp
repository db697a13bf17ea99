#pragma once
// 64-byte aligned buffers: one cache line, one AVX-512 register.
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>

namespace gradattr {

inline constexpr std::size_t kAlignment = 64;

namespace detail {
struct FreeDeleter {
  void operator()(void* p) const noexcept { std::free(p); }
};
}  // namespace detail

// An uninitialised aligned array of n T's (n may be 0). Throws std::bad_alloc.
template <class T>
std::shared_ptr<T[]> make_aligned_buffer(std::size_t n) {
  const std::size_t bytes = ((n * sizeof(T) + kAlignment - 1) / kAlignment) * kAlignment;
  void* p = std::aligned_alloc(kAlignment, bytes == 0 ? kAlignment : bytes);
  if (!p) throw std::bad_alloc();
  return std::shared_ptr<T[]>(static_cast<T*>(p), detail::FreeDeleter{});
}

}  // namespace gradattr
