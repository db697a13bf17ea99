#pragma once
// Batched matrix product kernels as the library calls them (see conv2d.hpp for the dispatch
// rule). Operands promoted to rank >= 2 and aligned to y's rank by the caller (ad::matmul),
// shapes validated by kernels::matmul_output_shape.
#include <type_traits>

#include "gradattr/kernels/fast/matmul.hpp"
#include "gradattr/kernels/reference/matmul.hpp"

namespace gradattr::kernels {

// bias: null, or N = y's last extent values added to every row
template <class T>
void matmul_forward(Tensor<T>& y, const Tensor<T>& a, const Tensor<T>& b, const T* bias = nullptr) {
  if constexpr (std::is_same_v<T, float>)
    fast::matmul_forward(y, a, b, bias);
  else
    reference::matmul_forward(y, a, b, bias);
}
template <class T>
void matmul_backward_a(Tensor<T>& da, const Tensor<T>& dy, const Tensor<T>& b) {
  if constexpr (std::is_same_v<T, float>)
    fast::matmul_backward_a(da, dy, b);
  else
    reference::matmul_backward_a(da, dy, b);
}
template <class T>
void matmul_backward_b(Tensor<T>& db, const Tensor<T>& dy, const Tensor<T>& a) {
  if constexpr (std::is_same_v<T, float>)
    fast::matmul_backward_b(db, dy, a);
  else
    reference::matmul_backward_b(db, dy, a);
}
template <class T>
void matmul_backward_b_shared(Tensor<T>& db, const Tensor<T>& dy, const Tensor<T>& a) {
  if constexpr (std::is_same_v<T, float>)
    fast::matmul_backward_b_shared(db, dy, a);
  else
    reference::matmul_backward_b_shared(db, dy, a);
}

}  // namespace gradattr::kernels
