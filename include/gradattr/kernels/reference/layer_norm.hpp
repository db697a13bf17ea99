#pragma once
// Reference layer normalization (ONNX LayerNormalization, torch.nn.LayerNorm) over rows of
// `row` contiguous elements: y = (x - mean) / sqrt(var + eps) * scale + bias, var the biased
// variance (divided by row, as torch). Scalar loops in T, two passes per row (mean, then the
// centred squares): the oracle kernels/fast/layer_norm.hpp is tested against.
#include <cmath>
#include <cstdint>

#include "gradattr/core/tensor.hpp"

namespace gradattr::kernels::reference {

// y and xhat (the normalised x) [same shape as x]; inv_std [rows]; bias may be null.
template <class T>
void layer_norm(Tensor<T>& y, Tensor<T>& xhat, Tensor<T>& inv_std, const Tensor<T>& x, const T* scale, const T* bias,
                std::int64_t row, T eps) noexcept {
  const std::int64_t rows = x.numel() / row;
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* in = x.data() + r * row;
    T mean = 0;
    for (std::int64_t j = 0; j < row; ++j) mean += in[j];
    mean /= static_cast<T>(row);
    T var = 0;
    for (std::int64_t j = 0; j < row; ++j) var += (in[j] - mean) * (in[j] - mean);
    var /= static_cast<T>(row);
    const T inv = T{1} / std::sqrt(var + eps);
    inv_std[r] = inv;
    for (std::int64_t j = 0; j < row; ++j) {
      const T h = (in[j] - mean) * inv;
      xhat[r * row + j] = h;
      y[r * row + j] = h * scale[j] + (bias ? bias[j] : T{0});
    }
  }
}

// dx = inv_std (g - mean(g) - xhat mean(g xhat)), g = dy * scale (dx may be null: not needed);
// dscale += sum over rows of dy * xhat, dbias += sum over rows of dy (each may be null).
template <class T>
void layer_norm_backward(T* dx, T* dscale, T* dbias, const Tensor<T>& dy, const Tensor<T>& xhat, const Tensor<T>& inv_std,
                         const T* scale, std::int64_t row) noexcept {
  const std::int64_t rows = dy.numel() / row;
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* g = dy.data() + r * row;
    const T* h = xhat.data() + r * row;
    if (dx) {
      T mg = 0, mgh = 0;
      for (std::int64_t j = 0; j < row; ++j) {
        mg += g[j] * scale[j];
        mgh += g[j] * scale[j] * h[j];
      }
      mg /= static_cast<T>(row);
      mgh /= static_cast<T>(row);
      for (std::int64_t j = 0; j < row; ++j) dx[r * row + j] = inv_std[r] * (g[j] * scale[j] - mg - h[j] * mgh);
    }
    for (std::int64_t j = 0; j < row; ++j) {
      if (dscale) dscale[j] += g[j] * h[j];
      if (dbias) dbias[j] += g[j];
    }
  }
}

}  // namespace gradattr::kernels::reference
