#pragma once
// Layer normalization kernels as the library calls them (see conv2d.hpp for the dispatch rule:
// float to fast/, double to reference/). Rows of `row` contiguous elements; scale and bias hold
// `row` values (bias may be null). Shapes are validated by the caller (graph_params.hpp,
// layer_norm_row). Forward writes y, xhat (the normalised x, kept for the backward) and inv_std
// [rows]; backward writes dx (assigned) and adds into dscale and dbias (each may be null).
#include <cstdint>
#include <type_traits>

#include "gradattr/kernels/fast/layer_norm.hpp"
#include "gradattr/kernels/reference/layer_norm.hpp"

namespace gradattr::kernels {

template <class T>
void layer_norm(Tensor<T>& y, Tensor<T>& xhat, Tensor<T>& inv_std, const Tensor<T>& x, const T* scale, const T* bias,
                std::int64_t row, T eps) noexcept {
  if constexpr (std::is_same_v<T, float>)
    fast::layer_norm(y, xhat, inv_std, x, scale, bias, row, eps);
  else
    reference::layer_norm(y, xhat, inv_std, x, scale, bias, row, eps);
}
template <class T>
void layer_norm_backward(T* dx, T* dscale, T* dbias, const Tensor<T>& dy, const Tensor<T>& xhat, const Tensor<T>& inv_std,
                         const T* scale, std::int64_t row) noexcept {
  if constexpr (std::is_same_v<T, float>)
    fast::layer_norm_backward(dx, dscale, dbias, dy, xhat, inv_std, scale, row);
  else
    reference::layer_norm_backward(dx, dscale, dbias, dy, xhat, inv_std, scale, row);
}

}  // namespace gradattr::kernels
