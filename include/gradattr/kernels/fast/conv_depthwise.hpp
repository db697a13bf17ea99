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
//                     area at the same place (SIMD read-modify-write, in (kh, kw, oh) order),
//                     and the input's part of the area is copied out to dx
//   backward-weights  dw[c][kh][kw] = sum_{n,oh,ow} dy * pad[...] (one SIMD accumulator per tap)
//
// Work: forward and backward-data split over (n, c) planes, backward-weights over channels
// (each channel's sum over the batch is one task), so every output is computed by one thread in
// an order fixed by the shapes: bitwise the same result for any thread count. Lanes past the
// end of a row are computed and discarded by the forward; backward-data and backward-weights
// mask them (select, not a multiplication by zero), so a value outside every window (an input
// column only a dropped window would have read, possibly infinite) never enters a sum.
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
#include "gradattr/kernels/fast/activation.hpp"
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
  // Where output row oh's windows start in the padded area.
  std::int64_t row(std::int64_t oh) const noexcept { return oh * sh * sw * L; }
  // Where tap (kh, kw) of output (0, 0) is in the padded area.
  std::int64_t tap(std::int64_t kh, std::int64_t kw) const noexcept {
    const std::int64_t c = kw * dw;
    return (kh * dh * sw + c % sw) * L + c / sw;
  }
};

// tap(kh, kw) for every tap, row-major (KH, KW <= 7).
struct Taps {
  std::int64_t off[49];
  explicit Taps(const Geometry& g) noexcept {
    for (std::int64_t kh = 0; kh < g.KH; ++kh)
      for (std::int64_t kw = 0; kw < g.KW; ++kw) off[kh * g.KW + kw] = g.tap(kh, kw);
  }
};

// Phase q, positions [lo, hi) of a padded row hold input columns i*sw + q - pw (the rest is 0).
inline void phase_range(const Geometry& g, std::int64_t q, std::int64_t& lo, std::int64_t& hi) noexcept {
  const std::int64_t first = g.pw - q;  // i*sw >= pw - q  (input column >= 0)
  lo = first > 0 ? (first + g.sw - 1) / g.sw : 0;
  const std::int64_t end = std::min(g.Wp, g.W + g.pw);  // padded columns j < end hold input
  hi = end - q > 0 ? (end - q + g.sw - 1) / g.sw : 0;
  hi = std::min(hi, g.L);
  lo = std::min(lo, hi);
}

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

// The lanes of a row's last partial batch that are in the row (the first rem of them).
template <class B>
typename B::batch_bool_type tail_mask(std::int64_t rem) noexcept {
  alignas(64) float lane[B::size];
  for (std::size_t i = 0; i < B::size; ++i) lane[i] = static_cast<float>(i);
  return B::load_aligned(lane) < B(static_cast<float>(rem));
}

// dy plane [OH, OW] -> rows of OWr floats, zeros past OW.
inline void pad_rows(float* dst, const float* src, const Geometry& g) noexcept {
  for (std::int64_t oh = 0; oh < g.OH; ++oh) {
    std::memcpy(dst + oh * g.OWr, src + oh * g.OW, static_cast<std::size_t>(g.OW) * sizeof(float));
    std::fill(dst + oh * g.OWr + g.OW, dst + (oh + 1) * g.OWr, 0.0f);
  }
}

// Per-thread buffer that only grows.
inline float* scratch(std::int64_t n) {
  thread_local std::vector<float> buf;
  if (static_cast<std::int64_t>(buf.size()) < n) buf.resize(static_cast<std::size_t>(n));
  return buf.data();
}

// The padded, phase-split window area of one input plane (zeros outside the input and past Wp).
inline void fill(float* area, const float* plane, const Geometry& g) noexcept {
  for (std::int64_t q = 0; q < g.sw; ++q) {
    std::int64_t lo, hi;
    phase_range(g, q, lo, hi);
    for (std::int64_t r = 0; r < g.Hp; ++r) {
      const std::int64_t ih = r - g.ph;
      float* d = area + (r * g.sw + q) * g.L;
      if (ih < 0 || ih >= g.H) {
        std::fill(d, d + g.L, 0.0f);
        continue;
      }
      const float* src = plane + ih * g.W;  // position i is src[i*sw + q - pw]
      std::fill(d, d + lo, 0.0f);
      if (g.sw == 1) {
        if (hi > lo) std::memcpy(d + lo, src + lo + q - g.pw, static_cast<std::size_t>(hi - lo) * sizeof(float));
      } else {
        for (std::int64_t i = lo; i < hi; ++i) d[i] = src[i * g.sw + q - g.pw];
      }
      std::fill(d + hi, d + g.L, 0.0f);
    }
  }
}

// The adjoint of fill: the input's part of the area to dx (the rest of dx is zero).
inline void unfill(float* dx, const float* area, const Geometry& g) noexcept {
  std::fill(dx, dx + g.H * g.W, 0.0f);
  for (std::int64_t q = 0; q < g.sw; ++q) {
    std::int64_t lo, hi;
    phase_range(g, q, lo, hi);
    for (std::int64_t ih = 0; ih < g.H && ih + g.ph < g.Hp; ++ih) {
      const float* s = area + ((ih + g.ph) * g.sw + q) * g.L;
      float* d = dx + ih * g.W;  // position i is d[i*sw + q - pw]
      if (g.sw == 1) {
        if (hi > lo) std::memcpy(d + lo + q - g.pw, s + lo, static_cast<std::size_t>(hi - lo) * sizeof(float));
      } else {
        for (std::int64_t i = lo; i < hi; ++i) d[i * g.sw + q - g.pw] = s[i];
      }
    }
  }
}

}  // namespace depthwise_detail

// y [N, C, OH, OW] = act(x [N, C, H, W] (*) w [C, 1, KH, KW] + b [C]) (b may be empty)
template <class Arch = xsimd::default_arch>
void conv2d_depthwise_forward(Tensor<float>& y, const Tensor<float>& x, const Tensor<float>& w,
                              const Tensor<float>& b, const Conv2dParams& p, const Activation& act = {}) noexcept {
  using B = xsimd::batch<float, Arch>;
  const auto g = depthwise_detail::geometry(x.shape(), w.shape(), y.shape(), p, B::size);
  const depthwise_detail::Taps tp(g);
  const std::int64_t taps = g.KH * g.KW;
  const float* xd = x.data();
  const float* wd = w.data();
  const float* bd = b.empty() ? nullptr : b.data();
  float* yd = y.data();
  parallel_for(0, g.N * g.C, static_cast<double>(g.OH * g.OW * taps), [&](std::int64_t i) {
    const std::int64_t c = i % g.C;
    float* area = depthwise_detail::scratch(g.plane() + g.OWr);
    float* tmp = area + g.plane();
    depthwise_detail::fill(area, xd + i * g.H * g.W, g);
    const float* wc = wd + c * taps;
    const B bias(bd ? bd[c] : 0.0f);
    for (std::int64_t oh = 0; oh < g.OH; ++oh) {
      float* yr = yd + (i * g.OH + oh) * g.OW;
      const float* a = area + g.row(oh);
      for (std::int64_t ow = 0; ow < g.OWr; ow += B::size) {
        B acc = bias;
        for (std::int64_t t = 0; t < taps; ++t) acc = xsimd::fma(B::load_unaligned(a + tp.off[t] + ow), B(wc[t]), acc);
        if (act) acc = apply_activation(acc, act);
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
  const depthwise_detail::Taps tp(g);
  const std::int64_t taps = g.KH * g.KW;
  const std::int64_t body = g.OW / static_cast<std::int64_t>(B::size) * static_cast<std::int64_t>(B::size);
  const std::int64_t rem = g.OW - body;
  const auto mask = depthwise_detail::tail_mask<B>(rem);
  const float* dyd = dy.data();
  const float* wd = w.data();
  float* dxd = dx.data();
  parallel_for(0, g.N * g.C, static_cast<double>(g.OH * g.OW * taps), [&](std::int64_t i) {
    const std::int64_t c = i % g.C;
    float* area = depthwise_detail::scratch(g.plane() + g.OH * g.OWr);
    float* gp = area + g.plane();
    std::fill(area, area + g.plane(), 0.0f);
    depthwise_detail::pad_rows(gp, dyd + i * g.OH * g.OW, g);
    const float* wc = wd + c * taps;
    // tap-major: consecutive read-modify-writes touch different rows (no store-forwarding stalls
    // on the overlapping windows of neighbouring taps)
    for (std::int64_t t = 0; t < taps; ++t) {
      const B wb(wc[t]);
      for (std::int64_t oh = 0; oh < g.OH; ++oh) {
        const float* gr = gp + oh * g.OWr;
        float* d = area + g.row(oh) + tp.off[t];
        for (std::int64_t ow = 0; ow < body; ow += B::size)
          xsimd::fma(B::load_unaligned(gr + ow), wb, B::load_unaligned(d + ow)).store_unaligned(d + ow);
        if (rem) {  // lanes past the row keep their value (the area is long enough for a full batch)
          const B old = B::load_unaligned(d + body);
          xsimd::select(mask, xsimd::fma(B::load_unaligned(gr + body), wb, old), old).store_unaligned(d + body);
        }
      }
    }
    depthwise_detail::unfill(dxd + i * g.H * g.W, area, g);
  });
}

// dw [C, 1, KH, KW] and db [C] (may be empty: not computed), both assigned, from dy and x.
template <class Arch = xsimd::default_arch>
void conv2d_depthwise_backward_weights(Tensor<float>& dw, Tensor<float>& db, const Tensor<float>& dy,
                                       const Tensor<float>& x, const Conv2dParams& p) noexcept {
  using B = xsimd::batch<float, Arch>;
  const auto g = depthwise_detail::geometry(x.shape(), dw.shape(), dy.shape(), p, B::size);
  const depthwise_detail::Taps tp(g);
  const std::int64_t taps = g.KH * g.KW;
  const std::int64_t body = g.OW / static_cast<std::int64_t>(B::size) * static_cast<std::int64_t>(B::size);
  const std::int64_t rem = g.OW - body;
  const auto mask = depthwise_detail::tail_mask<B>(rem);
  const float* dyd = dy.data();
  const float* xd = x.data();
  float* dwd = dw.data();
  float* dbd = db.empty() ? nullptr : db.data();
  parallel_for(0, g.C, static_cast<double>(g.N * g.OH * g.OW * taps), [&](std::int64_t c) {
    float* area = depthwise_detail::scratch(g.plane() + g.OH * g.OWr);
    float* gp = area + g.plane();
    B acc[49];  // per tap (KH, KW <= 7)
    for (std::int64_t t = 0; t < taps; ++t) acc[t] = B(0.0f);
    float bsum = 0.0f;
    for (std::int64_t n = 0; n < g.N; ++n) {
      const std::int64_t i = n * g.C + c;
      depthwise_detail::fill(area, xd + i * g.H * g.W, g);
      depthwise_detail::pad_rows(gp, dyd + i * g.OH * g.OW, g);
      if (dbd)
        for (std::int64_t o = 0; o < g.OH * g.OW; ++o) bsum += dyd[i * g.OH * g.OW + o];
      for (std::int64_t t = 0; t < taps; ++t) {  // one tap at a time: one accumulator in a register
        B a = acc[t];
        for (std::int64_t oh = 0; oh < g.OH; ++oh) {
          const float* gr = gp + oh * g.OWr;
          const float* xr = area + g.row(oh) + tp.off[t];
          for (std::int64_t ow = 0; ow < body; ow += B::size)
            a = xsimd::fma(B::load_unaligned(gr + ow), B::load_unaligned(xr + ow), a);
          if (rem)
            a = xsimd::fma(B::load_unaligned(gr + body), xsimd::select(mask, B::load_unaligned(xr + body), B(0.0f)), a);
        }
        acc[t] = a;
      }
    }
    for (std::int64_t t = 0; t < taps; ++t) dwd[c * taps + t] = xsimd::hadd(acc[t]);
    if (dbd) dbd[c] = bsum;
  });
}

}  // namespace gradattr::kernels::fast
