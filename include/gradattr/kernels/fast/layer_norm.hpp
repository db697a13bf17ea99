#pragma once
// Fast float layer normalization: the semantics of kernels/reference/layer_norm.hpp, rows spread
// over threads, each row's mean, variance and x - mean in double (two passes, as the
// reference) so that a row of large, nearly equal values loses nothing to the float sums; the
// elementwise work is float. The scale and bias gradients sum over rows per thread block and
// then across blocks in a fixed order (deterministic for a given thread count).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "gradattr/core/parallel.hpp"
#include "gradattr/core/tensor.hpp"

namespace gradattr::kernels::fast {

inline void layer_norm(Tensor<float>& y, Tensor<float>& xhat, Tensor<float>& inv_std, const Tensor<float>& x,
                       const float* scale, const float* bias, std::int64_t row, float eps) noexcept {
  const std::int64_t rows = x.numel() / row;
  const float* xd = x.data();
  float* yd = y.data();
  float* hd = xhat.data();
  float* id = inv_std.data();
  parallel_for(0, rows, [&](std::int64_t r) {
    const float* in = xd + r * row;
    double s = 0;
    for (std::int64_t j = 0; j < row; ++j) s += in[j];
    const double mean = s / static_cast<double>(row);
    double v = 0;
    for (std::int64_t j = 0; j < row; ++j) v += (in[j] - mean) * (in[j] - mean);
    const double inv = 1.0 / std::sqrt(v / static_cast<double>(row) + static_cast<double>(eps));
    id[r] = static_cast<float>(inv);
    float* h = hd + r * row;
    float* out = yd + r * row;
    // x - mean in double: a float mean of a row far from 0 (|x| ~ 1e3) would cost ~1e-5 relative.
    for (std::int64_t j = 0; j < row; ++j) h[j] = static_cast<float>((in[j] - mean) * inv);
    if (bias)
      for (std::int64_t j = 0; j < row; ++j) out[j] = h[j] * scale[j] + bias[j];
    else
      for (std::int64_t j = 0; j < row; ++j) out[j] = h[j] * scale[j];
  });
}

inline void layer_norm_backward(float* dx, float* dscale, float* dbias, const Tensor<float>& dy,
                                const Tensor<float>& xhat, const Tensor<float>& inv_std, const float* scale,
                                std::int64_t row) noexcept {
  const std::int64_t rows = dy.numel() / row;
  const float* gd = dy.data();
  const float* hd = xhat.data();
  if (dx)
    parallel_for(0, rows, [&](std::int64_t r) {
      const float* g = gd + r * row;
      const float* h = hd + r * row;
      double mg = 0, mgh = 0;
      for (std::int64_t j = 0; j < row; ++j) {
        const float gs = g[j] * scale[j];
        mg += gs;
        mgh += static_cast<double>(gs) * h[j];
      }
      const float a = static_cast<float>(mg / static_cast<double>(row)), b = static_cast<float>(mgh / static_cast<double>(row));
      const float inv = inv_std[r];
      float* out = dx + r * row;
      for (std::int64_t j = 0; j < row; ++j) out[j] = inv * (g[j] * scale[j] - a - h[j] * b);
    });
  if (!dscale && !dbias) return;
  // Per-block partial sums (a fixed number of blocks), added in block order.
  const std::int64_t blocks = std::min<std::int64_t>(rows, 16);
  std::vector<float> ps(static_cast<std::size_t>(blocks * row), 0.0f), pb(static_cast<std::size_t>(blocks * row), 0.0f);
  parallel_for(0, blocks, [&](std::int64_t b) {
    const std::int64_t r0 = rows * b / blocks, r1 = rows * (b + 1) / blocks;
    float* s = ps.data() + b * row;
    float* t = pb.data() + b * row;
    for (std::int64_t r = r0; r < r1; ++r) {
      const float* g = gd + r * row;
      const float* h = hd + r * row;
      for (std::int64_t j = 0; j < row; ++j) {
        s[j] += g[j] * h[j];
        t[j] += g[j];
      }
    }
  });
  for (std::int64_t b = 0; b < blocks; ++b)
    for (std::int64_t j = 0; j < row; ++j) {
      if (dscale) dscale[j] += ps[static_cast<std::size_t>(b * row + j)];
      if (dbias) dbias[j] += pb[static_cast<std::size_t>(b * row + j)];
    }
}

}  // namespace gradattr::kernels::fast
