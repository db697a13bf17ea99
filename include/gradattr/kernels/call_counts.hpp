#pragma once
// Counters of kernel calls, always on (one relaxed atomic increment per call, nothing per
// element). They let tests prove what the autodiff did NOT run, e.g. that a gradient with
// respect to an activation never calls a weight-gradient kernel.
#include <array>
#include <atomic>
#include <cstdint>

namespace gradattr::kernels {

enum class KernelId : int {
  conv2d_forward, conv2d_backward_data, conv2d_backward_weights,
  linear_forward, linear_backward_data, linear_backward_weights,
  max_pool2d_forward, max_pool2d_backward,
  adaptive_avg_pool2d_forward, adaptive_avg_pool2d_backward,
  relu_forward, relu_backward,
  avg_pool2d_forward, avg_pool2d_backward,
  conv3x3_filter_transform,  // Winograd filters transformed inside a call (no prepared pack)
  count_
};

namespace detail {
inline std::array<std::atomic<std::int64_t>, static_cast<int>(KernelId::count_)>& call_count_table() noexcept {
  static std::array<std::atomic<std::int64_t>, static_cast<int>(KernelId::count_)> table{};
  return table;
}
inline void count_call(KernelId id) noexcept {
  call_count_table()[static_cast<std::size_t>(id)].fetch_add(1, std::memory_order_relaxed);
}
}  // namespace detail

inline std::int64_t call_count(KernelId id) noexcept {
  return detail::call_count_table()[static_cast<std::size_t>(id)].load(std::memory_order_relaxed);
}
inline void reset_call_counts() noexcept {
  for (auto& c : detail::call_count_table()) c.store(0, std::memory_order_relaxed);
}

}  // namespace gradattr::kernels
