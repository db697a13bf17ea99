#pragma once
// Broadcasting kernels as the library calls them (see conv2d.hpp for the dispatch rule: float
// to fast/, double to reference/). Shapes are validated by the caller (graph_params.hpp):
// binary: a and b broadcast to y; sum_to: dx broadcasts to dy; expand: x broadcasts to y.
#include <type_traits>

#include "gradattr/kernels/fast/broadcast.hpp"
#include "gradattr/kernels/reference/broadcast.hpp"

namespace gradattr::kernels {

template <class T>
void binary(Tensor<T>& y, const Tensor<T>& a, const Tensor<T>& b, BinaryOp op) noexcept {
  if constexpr (std::is_same_v<T, float>)
    fast::binary<xsimd::default_arch>(y, a, b, op);
  else
    reference::binary(y, a, b, op);
}
template <class T>
void sum_to(Tensor<T>& dx, const Tensor<T>& dy) noexcept {
  if constexpr (std::is_same_v<T, float>)
    fast::sum_to<xsimd::default_arch>(dx, dy);
  else
    reference::sum_to(dx, dy);
}
template <class T>
void expand(Tensor<T>& y, const Tensor<T>& x) noexcept {
  if constexpr (std::is_same_v<T, float>)
    fast::expand<xsimd::default_arch>(y, x);
  else
    reference::expand(y, x);
}

}  // namespace gradattr::kernels
