#pragma once
// Elementwise activation kernels as the library calls them.
#include <type_traits>

#include "gradattr/kernels/call_counts.hpp"
#include "gradattr/kernels/fast/activation.hpp"
#include "gradattr/kernels/reference/activation.hpp"

namespace gradattr::kernels {

template <class T>
void relu_forward(Tensor<T>& y, const Tensor<T>& x) noexcept {
  detail::count_call(KernelId::relu_forward);
  if constexpr (std::is_same_v<T, float>)
    fast::relu_forward<xsimd::default_arch>(y, x);
  else
    reference::relu_forward(y, x);
}
template <class T>
void relu_backward(Tensor<T>& dx, const Tensor<T>& dy, const Tensor<T>& y) noexcept {
  detail::count_call(KernelId::relu_backward);
  if constexpr (std::is_same_v<T, float>)
    fast::relu_backward<xsimd::default_arch>(dx, dy, y);
  else
    reference::relu_backward(dx, dy, y);
}

}  // namespace gradattr::kernels
