#pragma once
// Reference (scalar, obviously correct) 2-D convolution: the oracle for the fast kernels.
// Cross-correlation as torch.nn.functional.conv2d / ONNX Conv: groups, dilation, and
// asymmetric padding (only pad_h / pad_w, the top / left pads, place the windows; the bottom /
// right pads only decide how many windows there are, i.e. the output shape).
// Shapes are validated by kernels::conv2d_output_shape before these are called.
#include "gradattr/core/tensor.hpp"
#include "gradattr/kernels/params.hpp"

namespace gradattr::kernels::reference {

// y [N, Co, OH, OW] = x [N, Ci, H, W] (*) w [Co, Ci/G, KH, KW] + b [Co] (b may be empty).
// Output channel co reads the input channels of its group: g = co / (Co/G), ci = g*(Ci/G) + j.
template <class T>
void conv2d_forward(Tensor<T>& y, const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& b,
                    const Conv2dParams& p) noexcept {
  const auto N = x.dim(0), H = x.dim(2), W = x.dim(3);
  const auto Co = w.dim(0), Cig = w.dim(1), KH = w.dim(2), KW = w.dim(3), OH = y.dim(2), OW = y.dim(3);
  const auto Cog = Co / p.groups;
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t co = 0; co < Co; ++co)
      for (std::int64_t oh = 0; oh < OH; ++oh)
        for (std::int64_t ow = 0; ow < OW; ++ow) {
          T acc = b.empty() ? T{0} : b[co];
          for (std::int64_t j = 0; j < Cig; ++j) {
            const std::int64_t ci = co / Cog * Cig + j;
            for (std::int64_t kh = 0; kh < KH; ++kh) {
              const std::int64_t ih = oh * p.stride_h - p.pad_h + kh * p.dilation_h;
              if (ih < 0 || ih >= H) continue;
              for (std::int64_t kw = 0; kw < KW; ++kw) {
                const std::int64_t iw = ow * p.stride_w - p.pad_w + kw * p.dilation_w;
                if (iw < 0 || iw >= W) continue;
                acc += x(n, ci, ih, iw) * w(co, j, kh, kw);
              }
            }
          }
          y(n, co, oh, ow) = acc;
        }
}

// dx [N, Ci, H, W] = dL/dx given dy [N, Co, OH, OW]; dx is assigned, not accumulated.
template <class T>
void conv2d_backward_data(Tensor<T>& dx, const Tensor<T>& dy, const Tensor<T>& w, const Conv2dParams& p) noexcept {
  const auto N = dx.dim(0), H = dx.dim(2), W = dx.dim(3);
  const auto Co = w.dim(0), Cig = w.dim(1), KH = w.dim(2), KW = w.dim(3), OH = dy.dim(2), OW = dy.dim(3);
  const auto Cog = Co / p.groups;
  dx.fill(T{0});
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t co = 0; co < Co; ++co)
      for (std::int64_t oh = 0; oh < OH; ++oh)
        for (std::int64_t ow = 0; ow < OW; ++ow) {
          const T g = dy(n, co, oh, ow);
          for (std::int64_t j = 0; j < Cig; ++j) {
            const std::int64_t ci = co / Cog * Cig + j;
            for (std::int64_t kh = 0; kh < KH; ++kh) {
              const std::int64_t ih = oh * p.stride_h - p.pad_h + kh * p.dilation_h;
              if (ih < 0 || ih >= H) continue;
              for (std::int64_t kw = 0; kw < KW; ++kw) {
                const std::int64_t iw = ow * p.stride_w - p.pad_w + kw * p.dilation_w;
                if (iw < 0 || iw >= W) continue;
                dx(n, ci, ih, iw) += g * w(co, j, kh, kw);
              }
            }
          }
        }
}

// dw [Co, Ci/G, KH, KW] and db [Co] (db may be empty: not computed); both assigned.
template <class T>
void conv2d_backward_weights(Tensor<T>& dw, Tensor<T>& db, const Tensor<T>& dy, const Tensor<T>& x,
                             const Conv2dParams& p) noexcept {
  const auto N = x.dim(0), H = x.dim(2), W = x.dim(3);
  const auto Co = dw.dim(0), Cig = dw.dim(1), KH = dw.dim(2), KW = dw.dim(3), OH = dy.dim(2), OW = dy.dim(3);
  const auto Cog = Co / p.groups;
  dw.fill(T{0});
  if (!db.empty()) db.fill(T{0});
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t co = 0; co < Co; ++co)
      for (std::int64_t oh = 0; oh < OH; ++oh)
        for (std::int64_t ow = 0; ow < OW; ++ow) {
          const T g = dy(n, co, oh, ow);
          if (!db.empty()) db[co] += g;
          for (std::int64_t j = 0; j < Cig; ++j) {
            const std::int64_t ci = co / Cog * Cig + j;
            for (std::int64_t kh = 0; kh < KH; ++kh) {
              const std::int64_t ih = oh * p.stride_h - p.pad_h + kh * p.dilation_h;
              if (ih < 0 || ih >= H) continue;
              for (std::int64_t kw = 0; kw < KW; ++kw) {
                const std::int64_t iw = ow * p.stride_w - p.pad_w + kw * p.dilation_w;
                if (iw < 0 || iw >= W) continue;
                dw(co, j, kh, kw) += g * x(n, ci, ih, iw);
              }
            }
          }
        }
}

}  // namespace gradattr::kernels::reference
