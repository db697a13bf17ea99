#pragma once
// Reference pooling kernels: max_pool2d (with argmax), avg_pool2d and adaptive_avg_pool2d.
// Windows: output oh covers input rows [oh*stride_h - pad_h, ... + kernel_h), clipped to the
// input; pad_b() / pad_r() and ceil_mode only set the output shape (kernels/params.hpp).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "gradattr/core/tensor.hpp"
#include "gradattr/kernels/params.hpp"

namespace gradattr::kernels::reference {

// y [N, C, OH, OW], argmax [N, C, OH, OW] (index h*W + w into the input plane) from x [N, C, H, W].
// Ties: the first maximum in row-major window order wins. NaN: as PyTorch's CPU kernel
// (`val > max || isnan(val)`), a NaN in the window makes the output NaN (the last NaN's index).
// A window entirely in the padding cannot occur (pads < kernel and the ceil_mode rule of
// pool2d_output_shape).
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

// avg_pool2d of one plane, as torch.nn.functional.avg_pool2d (CPU, divisor_override unset)
// generalised to asymmetric pads, which is ONNX AveragePool. For output oh:
//   hstart = oh*stride_h - pad_h,  hend = min(hstart + kernel_h, H + pad_b)
//   the sum runs over input rows [max(hstart, 0), min(hend, H))  (and so for columns);
//   divisor = (hend - hstart) * (wend - wstart)  with count_include_pad,
//             (rows summed) * (columns summed)   without.
// So padding counts with count_include_pad, but the part of a ceil_mode window that runs past
// the bottom/right padding never counts, even with count_include_pad (checked against torch
// 1.13: 6x6 input, 3x3 / stride 2 / pad 1, ceil_mode, count_include_pad: the last output
// column is the mean over a 3x2 window, e.g. 2/6 for the top right corner of a plane of ones).
struct AvgWindow {
  std::int64_t h0, h1, w0, w1, divisor;
};
inline AvgWindow avg_window(std::int64_t oh, std::int64_t ow, std::int64_t H, std::int64_t W, const Pool2dParams& p,
                            bool count_include_pad) noexcept {
  const std::int64_t hs = oh * p.stride_h - p.pad_h, ws = ow * p.stride_w - p.pad_w;
  const std::int64_t he = std::min<std::int64_t>(hs + p.kernel_h, H + p.pad_b());
  const std::int64_t we = std::min<std::int64_t>(ws + p.kernel_w, W + p.pad_r());
  AvgWindow a{std::max<std::int64_t>(hs, 0), std::min(he, H), std::max<std::int64_t>(ws, 0), std::min(we, W), 0};
  a.divisor = count_include_pad ? (he - hs) * (we - ws) : (a.h1 - a.h0) * (a.w1 - a.w0);
  return a;
}

// One plane: y [OH, OW] from x [H, W].
template <class T>
void avg_pool2d_plane_forward(T* y, const T* x, std::int64_t H, std::int64_t W, std::int64_t OH, std::int64_t OW,
                              const Pool2dParams& p, bool count_include_pad) noexcept {
  for (std::int64_t oh = 0; oh < OH; ++oh)
    for (std::int64_t ow = 0; ow < OW; ++ow) {
      const AvgWindow a = avg_window(oh, ow, H, W, p, count_include_pad);
      T acc = 0;
      for (auto h = a.h0; h < a.h1; ++h)
        for (auto w = a.w0; w < a.w1; ++w) acc += x[h * W + w];
      y[oh * OW + ow] = acc / static_cast<T>(a.divisor);
    }
}

// One plane: dx [H, W] (assigned) from dy [OH, OW]; overlapping windows add in output order.
template <class T>
void avg_pool2d_plane_backward(T* dx, const T* dy, std::int64_t H, std::int64_t W, std::int64_t OH, std::int64_t OW,
                               const Pool2dParams& p, bool count_include_pad) noexcept {
  for (std::int64_t i = 0; i < H * W; ++i) dx[i] = T{0};
  for (std::int64_t oh = 0; oh < OH; ++oh)
    for (std::int64_t ow = 0; ow < OW; ++ow) {
      const AvgWindow a = avg_window(oh, ow, H, W, p, count_include_pad);
      const T g = dy[oh * OW + ow] / static_cast<T>(a.divisor);
      for (auto h = a.h0; h < a.h1; ++h)
        for (auto w = a.w0; w < a.w1; ++w) dx[h * W + w] += g;
    }
}

// y [N, C, OH, OW] from x [N, C, H, W]
template <class T>
void avg_pool2d_forward(Tensor<T>& y, const Tensor<T>& x, const Pool2dParams& p, bool count_include_pad) noexcept {
  const auto NC = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3), OH = y.dim(2), OW = y.dim(3);
  for (std::int64_t i = 0; i < NC; ++i)
    avg_pool2d_plane_forward(y.data() + i * OH * OW, x.data() + i * H * W, H, W, OH, OW, p, count_include_pad);
}

// dx [N, C, H, W] (assigned) from dy [N, C, OH, OW]
template <class T>
void avg_pool2d_backward(Tensor<T>& dx, const Tensor<T>& dy, const Pool2dParams& p, bool count_include_pad) noexcept {
  const auto NC = dx.dim(0) * dx.dim(1), H = dx.dim(2), W = dx.dim(3), OH = dy.dim(2), OW = dy.dim(3);
  for (std::int64_t i = 0; i < NC; ++i)
    avg_pool2d_plane_backward(dx.data() + i * H * W, dy.data() + i * OH * OW, H, W, OH, OW, p, count_include_pad);
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
