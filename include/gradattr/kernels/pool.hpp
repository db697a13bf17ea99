#pragma once
// Pooling kernels as the library calls them (see conv2d.hpp for the dispatch rule).
#include <type_traits>

#include "gradattr/kernels/call_counts.hpp"
#include "gradattr/kernels/fast/pool.hpp"
#include "gradattr/kernels/params.hpp"
#include "gradattr/kernels/reference/pool.hpp"

namespace gradattr::kernels {

// y, argmax [N, C, OH, OW] from x [N, C, H, W]; argmax indexes the input plane (h*W + w).
template <class T>
void max_pool2d_forward(Tensor<T>& y, Tensor<std::int32_t>& argmax, const Tensor<T>& x, const Pool2dParams& p) noexcept {
  detail::count_call(KernelId::max_pool2d_forward);
  if constexpr (std::is_same_v<T, float>)
    fast::max_pool2d_forward<xsimd::default_arch>(y, argmax, x, p);
  else
    reference::max_pool2d_forward(y, argmax, x, p);
}
template <class T>
void max_pool2d_backward(Tensor<T>& dx, const Tensor<T>& dy, const Tensor<std::int32_t>& argmax) noexcept {
  detail::count_call(KernelId::max_pool2d_backward);
  if constexpr (std::is_same_v<T, float>)
    fast::max_pool2d_backward(dx, dy, argmax);
  else
    reference::max_pool2d_backward(dx, dy, argmax);
}
// y [N, C, OH, OW] from x [N, C, H, W]: ONNX AveragePool / torch avg_pool2d (see
// reference::avg_window for the divisor rule).
template <class T>
void avg_pool2d_forward(Tensor<T>& y, const Tensor<T>& x, const Pool2dParams& p, bool count_include_pad) noexcept {
  detail::count_call(KernelId::avg_pool2d_forward);
  if constexpr (std::is_same_v<T, float>)
    fast::avg_pool2d_forward(y, x, p, count_include_pad);
  else
    reference::avg_pool2d_forward(y, x, p, count_include_pad);
}
template <class T>
void avg_pool2d_backward(Tensor<T>& dx, const Tensor<T>& dy, const Pool2dParams& p, bool count_include_pad) noexcept {
  detail::count_call(KernelId::avg_pool2d_backward);
  if constexpr (std::is_same_v<T, float>)
    fast::avg_pool2d_backward(dx, dy, p, count_include_pad);
  else
    reference::avg_pool2d_backward(dx, dy, p, count_include_pad);
}
template <class T>
void adaptive_avg_pool2d_forward(Tensor<T>& y, const Tensor<T>& x) noexcept {
  detail::count_call(KernelId::adaptive_avg_pool2d_forward);
  if constexpr (std::is_same_v<T, float>)
    fast::adaptive_avg_pool2d_forward(y, x);
  else
    reference::adaptive_avg_pool2d_forward(y, x);
}
template <class T>
void adaptive_avg_pool2d_backward(Tensor<T>& dx, const Tensor<T>& dy) noexcept {
  detail::count_call(KernelId::adaptive_avg_pool2d_backward);
  if constexpr (std::is_same_v<T, float>)
    fast::adaptive_avg_pool2d_backward(dx, dy);
  else
    reference::adaptive_avg_pool2d_backward(dx, dy);
}

}  // namespace gradattr::kernels
