#pragma once
// Row-wise softmax / log-softmax kernels as the library calls them (see conv2d.hpp for the
// dispatch rule): x, y [..., C], rows over the last dimension; outputs assigned.
#include <type_traits>

#include "gradattr/kernels/fast/softmax.hpp"
#include "gradattr/kernels/reference/softmax.hpp"

namespace gradattr::kernels {

template <class T>
void log_softmax(Tensor<T>& y, const Tensor<T>& x) noexcept {
  if constexpr (std::is_same_v<T, float>)
    fast::log_softmax<xsimd::default_arch>(y, x);
  else
    reference::log_softmax(y, x);
}
template <class T>
void softmax(Tensor<T>& y, const Tensor<T>& x) noexcept {
  if constexpr (std::is_same_v<T, float>)
    fast::softmax<xsimd::default_arch>(y, x);
  else
    reference::softmax(y, x);
}
// dx = y * (dy - sum_c dy_c y_c), y the softmax output
template <class T>
void softmax_backward(Tensor<T>& dx, const Tensor<T>& dy, const Tensor<T>& y) noexcept {
  if constexpr (std::is_same_v<T, float>)
    fast::softmax_backward<xsimd::default_arch>(dx, dy, y);
  else
    reference::softmax_backward(dx, dy, y);
}
// dx = dy - softmax * sum_c dy_c, ly the log-softmax output
// Always the scalar kernel: it runs on logits only ([N, classes], microseconds), and its careful
// 1 − y_c (see there) matters more here than SIMD.
template <class T>
void log_softmax_backward(Tensor<T>& dx, const Tensor<T>& dy, const Tensor<T>& ly) noexcept {
  reference::log_softmax_backward(dx, dy, ly);
}

}  // namespace gradattr::kernels
