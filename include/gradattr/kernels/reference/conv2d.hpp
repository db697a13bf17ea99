#pragma once
// Reference (scalar, obviously correct) 2-D convolution: the oracle for the fast kernels.
// Cross-correlation as torch.nn.functional.conv2d, groups = 1, dilation = 1.
// Shapes are validated by kernels::conv2d_output_shape before these are called.
#include "gradattr/core/tensor.hpp"
#include "gradattr/kernels/params.hpp"

namespace gradattr::kernels::reference {

// y [N, Co, OH, OW] = x [N, Ci, H, W] (*) w [Co, Ci, KH, KW] + b [Co] (b may be empty)
template <class T>
void conv2d_forward(Tensor<T>& y, const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& b,
                    const Conv2dParams& p) noexcept {
  const auto N = x.dim(0), Ci = x.dim(1), H = x.dim(2), W = x.dim(3);
  const auto Co = w.dim(0), KH = w.dim(2), KW = w.dim(3), OH = y.dim(2), OW = y.dim(3);
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t co = 0; co < Co; ++co)
      for (std::int64_t oh = 0; oh < OH; ++oh)
        for (std::int64_t ow = 0; ow < OW; ++ow) {
          T acc = b.empty() ? T{0} : b[co];
          for (std::int64_t ci = 0; ci < Ci; ++ci)
            for (std::int64_t kh = 0; kh < KH; ++kh) {
              const std::int64_t ih = oh * p.stride_h - p.pad_h + kh;
              if (ih < 0 || ih >= H) continue;
              for (std::int64_t kw = 0; kw < KW; ++kw) {
                const std::int64_t iw = ow * p.stride_w - p.pad_w + kw;
                if (iw < 0 || iw >= W) continue;
                acc += x(n, ci, ih, iw) * w(co, ci, kh, kw);
              }
            }
          y(n, co, oh, ow) = acc;
        }
}

// dx [N, Ci, H, W] = dL/dx given dy [N, Co, OH, OW]; dx is assigned, not accumulated.
template <class T>
void conv2d_backward_data(Tensor<T>& dx, const Tensor<T>& dy, const Tensor<T>& w, const Conv2dParams& p) noexcept {
  const auto N = dx.dim(0), Ci = dx.dim(1), H = dx.dim(2), W = dx.dim(3);
  const auto Co = w.dim(0), KH = w.dim(2), KW = w.dim(3), OH = dy.dim(2), OW = dy.dim(3);
  dx.fill(T{0});
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t co = 0; co < Co; ++co)
      for (std::int64_t oh = 0; oh < OH; ++oh)
        for (std::int64_t ow = 0; ow < OW; ++ow) {
          const T g = dy(n, co, oh, ow);
          for (std::int64_t ci = 0; ci < Ci; ++ci)
            for (std::int64_t kh = 0; kh < KH; ++kh) {
              const std::int64_t ih = oh * p.stride_h - p.pad_h + kh;
              if (ih < 0 || ih >= H) continue;
              for (std::int64_t kw = 0; kw < KW; ++kw) {
                const std::int64_t iw = ow * p.stride_w - p.pad_w + kw;
                if (iw < 0 || iw >= W) continue;
                dx(n, ci, ih, iw) += g * w(co, ci, kh, kw);
              }
            }
        }
}

// dw [Co, Ci, KH, KW] and db [Co] (db may be empty: not computed); both assigned.
template <class T>
void conv2d_backward_weights(Tensor<T>& dw, Tensor<T>& db, const Tensor<T>& dy, const Tensor<T>& x,
                             const Conv2dParams& p) noexcept {
  const auto N = x.dim(0), Ci = x.dim(1), H = x.dim(2), W = x.dim(3);
  const auto Co = dw.dim(0), KH = dw.dim(2), KW = dw.dim(3), OH = dy.dim(2), OW = dy.dim(3);
  dw.fill(T{0});
  if (!db.empty()) db.fill(T{0});
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t co = 0; co < Co; ++co)
      for (std::int64_t oh = 0; oh < OH; ++oh)
        for (std::int64_t ow = 0; ow < OW; ++ow) {
          const T g = dy(n, co, oh, ow);
          if (!db.empty()) db[co] += g;
          for (std::int64_t ci = 0; ci < Ci; ++ci)
            for (std::int64_t kh = 0; kh < KH; ++kh) {
              const std::int64_t ih = oh * p.stride_h - p.pad_h + kh;
              if (ih < 0 || ih >= H) continue;
              for (std::int64_t kw = 0; kw < KW; ++kw) {
                const std::int64_t iw = ow * p.stride_w - p.pad_w + kw;
                if (iw < 0 || iw >= W) continue;
                dw(co, ci, kh, kw) += g * x(n, ci, ih, iw);
              }
            }
        }
}

}  // namespace gradattr::kernels::reference
