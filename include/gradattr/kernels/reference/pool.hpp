#pragma once
// Reference pooling kernels: max_pool2d (with argmax) and adaptive_avg_pool2d.
#include <cmath>
#include <limits>
#include <cstdint>

#include "gradattr/core/tensor.hpp"
#include "gradattr/kernels/params.hpp"

namespace gradattr::kernels::reference {

// y [N, C, OH, OW], argmax [N, C, OH, OW] (index h*W + w into the input plane) from x [N, C, H, W].
// Ties: the first maximum in row-major window order wins. NaN: as PyTorch's CPU kernel
// (`val > max || isnan(val)`), a NaN in the window makes the output NaN (the last NaN's index).
// A window entirely in the padding cannot occur (pad <= kernel / 2).
template <class T>
void max_pool2d_forward(Tensor<T>& y, Tensor<std::int32_t>& argmax, const Tensor<T>& x, const Pool2dParams& p) noexcept {
  const auto N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), OH = y.dim(2), OW = y.dim(3);
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t c = 0; c < C; ++c)
      for (std::int64_t oh = 0; oh < OH; ++oh)
        for (std::int64_t ow = 0; ow < OW; ++ow) {
          T best = -std::numeric_limits<T>::infinity();
          std::int64_t best_idx = -1;
          for (std::int64_t kh = 0; kh < p.kernel_h; ++kh) {
            const std::int64_t ih = oh * p.stride_h - p.pad_h + kh;
            if (ih < 0 || ih >= H) continue;
            for (std::int64_t kw = 0; kw < p.kernel_w; ++kw) {
              const std::int64_t iw = ow * p.stride_w - p.pad_w + kw;
              if (iw < 0 || iw >= W) continue;
              const T v = x(n, c, ih, iw);
              if (v > best || std::isnan(v) || best_idx < 0) {
                best = v;
                best_idx = ih * W + iw;
              }
            }
          }
          y(n, c, oh, ow) = best;
          argmax(n, c, oh, ow) = static_cast<std::int32_t>(best_idx);
        }
}

// dx [N, C, H, W] (assigned) from dy [N, C, OH, OW] and the forward's argmax.
template <class T>
void max_pool2d_backward(Tensor<T>& dx, const Tensor<T>& dy, const Tensor<std::int32_t>& argmax) noexcept {
  const auto N = dx.dim(0), C = dx.dim(1), HW = dx.dim(2) * dx.dim(3), OHW = dy.dim(2) * dy.dim(3);
  dx.fill(T{0});
  for (std::int64_t nc = 0; nc < N * C; ++nc)
    for (std::int64_t o = 0; o < OHW; ++o) dx[nc * HW + argmax[nc * OHW + o]] += dy[nc * OHW + o];
}

// Window [start, end) of adaptive pooling output index i, as PyTorch computes it.
inline std::int64_t adaptive_start(std::int64_t i, std::int64_t in, std::int64_t out) noexcept { return (i * in) / out; }
inline std::int64_t adaptive_end(std::int64_t i, std::int64_t in, std::int64_t out) noexcept {
  return ((i + 1) * in + out - 1) / out;
}

// y [N, C, OH, OW] = mean of x [N, C, H, W] over each adaptive window.
template <class T>
void adaptive_avg_pool2d_forward(Tensor<T>& y, const Tensor<T>& x) noexcept {
  const auto NC = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3), OH = y.dim(2), OW = y.dim(3);
  for (std::int64_t nc = 0; nc < NC; ++nc)
    for (std::int64_t oh = 0; oh < OH; ++oh)
      for (std::int64_t ow = 0; ow < OW; ++ow) {
        const auto h0 = adaptive_start(oh, H, OH), h1 = adaptive_end(oh, H, OH);
        const auto w0 = adaptive_start(ow, W, OW), w1 = adaptive_end(ow, W, OW);
        T acc = 0;
        for (auto h = h0; h < h1; ++h)
          for (auto w = w0; w < w1; ++w) acc += x[(nc * H + h) * W + w];
        y[(nc * OH + oh) * OW + ow] = acc / static_cast<T>((h1 - h0) * (w1 - w0));
      }
}

// dx [N, C, H, W] (assigned) from dy [N, C, OH, OW].
template <class T>
void adaptive_avg_pool2d_backward(Tensor<T>& dx, const Tensor<T>& dy) noexcept {
  const auto NC = dx.dim(0) * dx.dim(1), H = dx.dim(2), W = dx.dim(3), OH = dy.dim(2), OW = dy.dim(3);
  dx.fill(T{0});
  for (std::int64_t nc = 0; nc < NC; ++nc)
    for (std::int64_t oh = 0; oh < OH; ++oh)
      for (std::int64_t ow = 0; ow < OW; ++ow) {
        const auto h0 = adaptive_start(oh, H, OH), h1 = adaptive_end(oh, H, OH);
        const auto w0 = adaptive_start(ow, W, OW), w1 = adaptive_end(ow, W, OW);
        const T g = dy[(nc * OH + oh) * OW + ow] / static_cast<T>((h1 - h0) * (w1 - w0));
        for (auto h = h0; h < h1; ++h)
          for (auto w = w0; w < w1; ++w) dx[(nc * H + h) * W + w] += g;
      }
}

}  // namespace gradattr::kernels::reference
