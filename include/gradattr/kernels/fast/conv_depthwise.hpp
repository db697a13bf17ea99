#pragma once
// Fast float depthwise convolution (groups == C_in == C_out, weight [C, 1, KH, KW]: MobileNet's
// and EfficientNet's 3x3 / 5x5, stride 1 or 2), forward, backward-data and backward-weights,
// SIMD (xsimd) along the output row.
//
// Each image plane is first laid out as its zero-padded window area, split by column phase:
// padded column j = i*sw + q goes to phase q, position i. Output column ow's tap kw reads padded
// column ow*sw + kw*dw, i.e. phase (kw*dw) % sw at position ow + (kw*dw) / sw: for every tap,
// consecutive outputs read consecutive floats, whatever the stride. Rows need no phases (row r
// of the padded area is input row r - pad_h).
//
//   forward           y[oh][ow] = b + sum_{kh,kw} w[kh][kw] * pad[oh*sh + kh*dh][ow*sw + kw*dw]
//   backward-data     the same sums read backwards: dy[oh][ow] * w[kh][kw] is added to the padded
//                     area at the same place (SIMD read-modify-write, in (oh, kh, kw) order),
//                     and the input's part of the area is copied out to dx
//   backward-weights  dw[c][kh][kw] = sum_{n,oh,ow} dy * pad[...] (one SIMD accumulator per tap)
//
// Work: forward and backward-data split over (n, c) planes, backward-weights over channels
// (each channel's sum over the batch is one task), so every output is computed by one thread in
// an order fixed by the shapes: bitwise the same result for any thread count. Lanes past the
// end of a row are computed on zeros and discarded by the forward; backward-data and
// backward-weights do the row's last partial batch in scalar code, so a value outside every
// window (an input column only a dropped window would have read) never meets a finite zero.
// Workspace: per thread, one padded plane (sw phases; ~(OH sh + KH) x (OW + KW) floats).
#include "gradattr/core/detail/intrinsics.hpp"  // first: see there
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "gradattr/core/parallel.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/kernels/params.hpp"

namespace gradattr::kernels::fast {

// True when the depthwise kernels apply: one input and one output channel per group, kernel at
// most 7x7, stride 1 or 2 (any padding and dilation).
inline bool conv_depthwise_applies(const Shape& x, const Shape& w, const Conv2dParams& p) noexcept {
  return x.rank() == 4 && w.rank() == 4 && p.groups > 1 && x[1] == p.groups && w[0] == p.groups && w[1] == 1 &&
         w[2] <= 7 && w[3] <= 7 && p.stride_h <= 2 && p.stride_w <= 2;
}

namespace depthwise_detail {

struct Geometry {
  std::int64_t N, C, H, W, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw;
  std::int64_t S;    // SIMD width
  std::int64_t OWr;  // OW rounded up to S
  std::int64_t Hp;   // padded rows read by some window
  std::int64_t Wp;   // padded columns read by some window
  std::int64_t L;    // floats per phase row
  std::int64_t plane() const noexcept { return Hp * sw * L; }
  // Where tap (kh, kw) of output (oh, 0) is in the padded area.
  std::int64_t offset(std::int64_t oh, std::int64_t kh, std::int64_t kw) const noexcept {
    const std::int64_t c = kw * dw;
    return ((oh * sh + kh * dh) * sw + c % sw) * L + c / sw;
  }
};

inline Geometry geometry(const Shape& x, const Shape& w, const Shape& y, const Conv2dParams& p,
                         std::int64_t simd) noexcept {
  Geometry g{x[0], x[1], x[2], x[3], w[2], w[3], y[2], y[3], p.stride_h, p.stride_w, p.pad_h, p.pad_w,
             p.dilation_h, p.dilation_w, simd, 0, 0, 0, 0};
  g.OWr = (g.OW + simd - 1) / simd * simd;
  g.Hp = (g.OH - 1) * g.sh + (g.KH - 1) * g.dh + 1;
  g.Wp = (g.OW - 1) * g.sw + (g.KW - 1) * g.dw + 1;
  g.L = g.OWr + (g.KW - 1) * g.dw / g.sw;
  return g;
}

// Per-thread buffer that only grows.
inline float* scratch(std::int64_t n) {
  thread_local std::vector<float> buf;
  if (static_cast<std::int64_t>(buf.size()) < n) buf.resize(static_cast<std::size_t>(n));
  return buf.data();
}

// The padded, phase-split window area of one input plane (zeros outside the input and past Wp).
inline void fill(float* area, const float* plane, const Geometry& g) noexcept {
  for (std::int64_t r = 0; r < g.Hp; ++r) {
    const std::int64_t ih = r - g.ph;
    for (std::int64_t q = 0; q < g.sw; ++q) {
      float* d = area + (r * g.sw + q) * g.L;
      if (ih < 0 || ih >= g.H) {
        std::fill(d, d + g.L, 0.0f);
        continue;
      }
      const float* src = plane + ih * g.W;
      for (std::int64_t i = 0; i < g.L; ++i) {
        const std::int64_t j = i * g.sw + q, iw = j - g.pw;
        d[i] = (j < g.Wp && iw >= 0 && iw < g.W) ? src[iw] : 0.0f;
      }
    }
  }
}

}  // namespace depthwise_detail

// y [N, C, OH, OW] = x [N, C, H, W] (*) w [C, 1, KH, KW] + b [C] (b may be empty)
template <class Arch = xsimd::default_arch>
void conv2d_depthwise_forward(Tensor<float>& y, const Tensor<float>& x, const Tensor<float>& w,
                              const Tensor<float>& b, const Conv2dParams& p) noexcept {
  using B = xsimd::batch<float, Arch>;
  const auto g = depthwise_detail::geometry(x.shape(), w.shape(), y.shape(), p, B::size);
  const float* xd = x.data();
  const float* wd = w.data();
  const float* bd = b.empty() ? nullptr : b.data();
  float* yd = y.data();
  parallel_for(0, g.N * g.C, [&](std::int64_t i) {
    const std::int64_t c = i % g.C;
    float* area = depthwise_detail::scratch(g.plane() + g.OWr);
    float* tmp = area + g.plane();
    depthwise_detail::fill(area, xd + i * g.H * g.W, g);
    const float* wc = wd + c * g.KH * g.KW;
    const B bias(bd ? bd[c] : 0.0f);
    for (std::int64_t oh = 0; oh < g.OH; ++oh) {
      float* yr = yd + (i * g.OH + oh) * g.OW;
      for (std::int64_t ow = 0; ow < g.OWr; ow += B::size) {
        B acc = bias;
        for (std::int64_t kh = 0; kh < g.KH; ++kh)
          for (std::int64_t kw = 0; kw < g.KW; ++kw)
            acc = xsimd::fma(B::load_unaligned(area + g.offset(oh, kh, kw) + ow), B(wc[kh * g.KW + kw]), acc);
        if (ow + static_cast<std::int64_t>(B::size) <= g.OW) {
          acc.store_unaligned(yr + ow);
        } else {
          acc.store_unaligned(tmp);
          std::memcpy(yr + ow, tmp, static_cast<std::size_t>(g.OW - ow) * sizeof(float));
        }
      }
    }
  });
}

// dx [N, C, H, W] (assigned) from dy [N, C, OH, OW] and w [C, 1, KH, KW]
template <class Arch = xsimd::default_arch>
void conv2d_depthwise_backward_data(Tensor<float>& dx, const Tensor<float>& dy, const Tensor<float>& w,
                                    const Conv2dParams& p) noexcept {
  using B = xsimd::batch<float, Arch>;
  const auto g = depthwise_detail::geometry(dx.shape(), w.shape(), dy.shape(), p, B::size);
  const std::int64_t body = g.OW / static_cast<std::int64_t>(B::size) * static_cast<std::int64_t>(B::size);
  const float* dyd = dy.data();
  const float* wd = w.data();
  float* dxd = dx.data();
  parallel_for(0, g.N * g.C, [&](std::int64_t i) {
    const std::int64_t c = i % g.C;
    float* area = depthwise_detail::scratch(g.plane());
    std::fill(area, area + g.plane(), 0.0f);
    const float* wc = wd + c * g.KH * g.KW;
    for (std::int64_t oh = 0; oh < g.OH; ++oh) {
      const float* gr = dyd + (i * g.OH + oh) * g.OW;
      for (std::int64_t kh = 0; kh < g.KH; ++kh)
        for (std::int64_t kw = 0; kw < g.KW; ++kw) {
          float* d = area + g.offset(oh, kh, kw);
          const float wv = wc[kh * g.KW + kw];
          const B wb(wv);
          std::int64_t ow = 0;
          for (; ow < body; ow += B::size)
            xsimd::fma(B::load_unaligned(gr + ow), wb, B::load_unaligned(d + ow)).store_unaligned(d + ow);
          for (; ow < g.OW; ++ow) d[ow] = std::fma(gr[ow], wv, d[ow]);
        }
    }
    float* plane = dxd + i * g.H * g.W;
    for (std::int64_t ih = 0; ih < g.H; ++ih) {
      const std::int64_t r = ih + g.ph;
      float* out = plane + ih * g.W;
      if (r >= g.Hp) {
        std::fill(out, out + g.W, 0.0f);
        continue;
      }
      for (std::int64_t iw = 0; iw < g.W; ++iw) {
        const std::int64_t j = iw + g.pw;
        out[iw] = j < g.Wp ? area[(r * g.sw + j % g.sw) * g.L + j / g.sw] : 0.0f;
      }
    }
  });
}

// dw [C, 1, KH, KW] and db [C] (may be empty: not computed), both assigned, from dy and x.
template <class Arch = xsimd::default_arch>
void conv2d_depthwise_backward_weights(Tensor<float>& dw, Tensor<float>& db, const Tensor<float>& dy,
                                       const Tensor<float>& x, const Conv2dParams& p) noexcept {
  using B = xsimd::batch<float, Arch>;
  const auto g = depthwise_detail::geometry(x.shape(), dw.shape(), dy.shape(), p, B::size);
  const std::int64_t taps = g.KH * g.KW;
  const std::int64_t body = g.OW / static_cast<std::int64_t>(B::size) * static_cast<std::int64_t>(B::size);
  const float* dyd = dy.data();
  const float* xd = x.data();
  float* dwd = dw.data();
  float* dbd = db.empty() ? nullptr : db.data();
  parallel_for(0, g.C, [&](std::int64_t c) {
    float* area = depthwise_detail::scratch(g.plane());
    B acc[49];  // one per tap (KH, KW <= 7)
    float tail[49];
    for (std::int64_t t = 0; t < taps; ++t) {
      acc[t] = B(0.0f);
      tail[t] = 0.0f;
    }
    float bsum = 0.0f;
    for (std::int64_t n = 0; n < g.N; ++n) {
      const std::int64_t i = n * g.C + c;
      depthwise_detail::fill(area, xd + i * g.H * g.W, g);
      for (std::int64_t oh = 0; oh < g.OH; ++oh) {
        const float* gr = dyd + (i * g.OH + oh) * g.OW;
        if (dbd)
          for (std::int64_t ow = 0; ow < g.OW; ++ow) bsum += gr[ow];
        for (std::int64_t ow = 0; ow < body; ow += B::size) {
          const B gv = B::load_unaligned(gr + ow);
          for (std::int64_t kh = 0; kh < g.KH; ++kh)
            for (std::int64_t kw = 0; kw < g.KW; ++kw)
              acc[kh * g.KW + kw] =
                  xsimd::fma(gv, B::load_unaligned(area + g.offset(oh, kh, kw) + ow), acc[kh * g.KW + kw]);
        }
        for (std::int64_t ow = body; ow < g.OW; ++ow)
          for (std::int64_t kh = 0; kh < g.KH; ++kh)
            for (std::int64_t kw = 0; kw < g.KW; ++kw)
              tail[kh * g.KW + kw] = std::fma(gr[ow], area[g.offset(oh, kh, kw) + ow], tail[kh * g.KW + kw]);
      }
    }
    for (std::int64_t t = 0; t < taps; ++t) dwd[c * taps + t] = xsimd::hadd(acc[t]) + tail[t];
    if (dbd) dbd[c] = bsum;
  });
}

}  // namespace gradattr::kernels::fast
