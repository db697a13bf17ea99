#pragma once
// Elementwise activation kernels as the library calls them.
#include "gradattr/kernels/call_counts.hpp"
#include "gradattr/kernels/reference/activation.hpp"

namespace gradattr::kernels {

template <class T>
void relu_forward(Tensor<T>& y, const Tensor<T>& x) noexcept {
  detail::count_call(KernelId::relu_forward);
  reference::relu_forward(y, x);
}
template <class T>
void relu_backward(Tensor<T>& dx, const Tensor<T>& dy, const Tensor<T>& y) noexcept {
  detail::count_call(KernelId::relu_backward);
  reference::relu_backward(dx, dy, y);
}

}  // namespace gradattr::kernels
