#pragma once
// Fast float layer normalization: the semantics of kernels/reference/layer_norm.hpp, rows spread
// over threads, each row's mean, variance and x - mean in double (two passes, as the
// reference, each sum in 8 interleaved partial sums) so that a row of large, nearly equal values
// loses nothing to the float sums; the elementwise work is float. The scale and bias gradients
// sum over rows per thread block and then across blocks in a fixed order (deterministic for a
// given thread count).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "gradattr/core/parallel.hpp"
#include "gradattr/core/tensor.hpp"

namespace gradattr::kernels::fast {
namespace layer_norm_detail {
// sum of term(j) for j < n in double, in 8 partial sums (term j goes to sum j % 8) added in a
// fixed order at the end. One running double sum is a chain of dependent adds (a 768-wide ViT
// row: ~3000 cycles per pass, the whole cost of the op); 8 independent ones vectorise. The
// order depends only on n: the same result on every call and thread.
template <class Term>
inline double lane_sum(std::int64_t n, Term&& term) noexcept {
  double p[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::int64_t j = 0;
  for (; j + 8 <= n; j += 8)
#pragma GCC unroll 8
    for (int l = 0; l < 8; ++l) p[l] += term(j + l);
  for (int l = 0; j < n; ++j, ++l) p[l] += term(j);
  return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
}
}  // namespace layer_norm_detail

inline void layer_norm(Tensor<float>& y, Tensor<float>& xhat, Tensor<float>& inv_std, const Tensor<float>& x,
                       const float* scale, const float* bias, std::int64_t row, float eps) noexcept {
  const std::int64_t rows = x.numel() / row;
  const float* xd = x.data();
  float* yd = y.data();
  float* hd = xhat.data();
  float* id = inv_std.data();
  parallel_for(0, rows, 3.0 * static_cast<double>(row), [&](std::int64_t r) {
    const float* in = xd + r * row;
    using layer_norm_detail::lane_sum;
    const double mean = lane_sum(row, [in](std::int64_t j) { return static_cast<double>(in[j]); }) / static_cast<double>(row);
    const double v = lane_sum(row, [in, mean](std::int64_t j) {
      const double c = static_cast<double>(in[j]) - mean;
      return c * c;
    });
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
    parallel_for(0, rows, 3.0 * static_cast<double>(row), [&](std::int64_t r) {
      const float* g = gd + r * row;
      const float* h = hd + r * row;
      using layer_norm_detail::lane_sum;
      const double mg = lane_sum(row, [g, scale](std::int64_t j) { return static_cast<double>(g[j] * scale[j]); });
      const double mgh = lane_sum(row, [g, h, scale](std::int64_t j) {
        return static_cast<double>(g[j] * scale[j]) * static_cast<double>(h[j]);
      });
      const float a = static_cast<float>(mg / static_cast<double>(row)), b = static_cast<float>(mgh / static_cast<double>(row));
      const float inv = inv_std[r];
      float* out = dx + r * row;
      for (std::int64_t j = 0; j < row; ++j) out[j] = inv * (g[j] * scale[j] - a - h[j] * b);
    });
  if (!dscale && !dbias) return;
  // Per-block partial sums (a fixed number of blocks), added in block order.
  const std::int64_t blocks = std::min<std::int64_t>(rows, 16);
  std::vector<float> ps(static_cast<std::size_t>(blocks * row), 0.0f), pb(static_cast<std::size_t>(blocks * row), 0.0f);
  parallel_for(0, blocks, 2.0 * static_cast<double>(rows / blocks * row), [&](std::int64_t b) {
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
