#pragma once
// Fully-connected kernels as the library calls them (see conv2d.hpp for the dispatch rule).
#include <type_traits>

#include "gradattr/kernels/call_counts.hpp"
#include "gradattr/kernels/fast/dense.hpp"
#include "gradattr/kernels/params.hpp"
#include "gradattr/kernels/reference/dense.hpp"

namespace gradattr::kernels {

// y [N, Out] = x [N, In] w^T + b
template <class T>
void linear_forward(Tensor<T>& y, const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& b) noexcept {
  detail::count_call(KernelId::linear_forward);
  if constexpr (std::is_same_v<T, float>)
    fast::linear_forward(y, x, w, b);
  else
    reference::linear_forward(y, x, w, b);
}
template <class T>
void linear_backward_data(Tensor<T>& dx, const Tensor<T>& dy, const Tensor<T>& w) noexcept {
  detail::count_call(KernelId::linear_backward_data);
  if constexpr (std::is_same_v<T, float>)
    fast::linear_backward_data(dx, dy, w);
  else
    reference::linear_backward_data(dx, dy, w);
}
template <class T>
void linear_backward_weights(Tensor<T>& dw, Tensor<T>& db, const Tensor<T>& dy, const Tensor<T>& x) noexcept {
  detail::count_call(KernelId::linear_backward_weights);
  if constexpr (std::is_same_v<T, float>)
    fast::linear_backward_weights(dw, db, dy, x);
  else
    reference::linear_backward_weights(dw, db, dy, x);
}

}  // namespace gradattr::kernels
