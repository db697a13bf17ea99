#pragma once
// Fast float per-channel affine map and graph activations: semantics of
// kernels/reference/pointwise.hpp (the gradient conventions at the kinks are stated there).
// clip, hard_swish and channel_affine backward-data do the reference's IEEE operations in the
// same order (selects for the clamps), so they equal it bit for bit. hard_sigmoid and the
// channel_affine forward compute a*x + b, which the compiler may contract to one FMA in either
// kernel (GNU mode, -march=native): they agree with the reference to one rounding. sigmoid uses
// xsimd's exp, erf and gelu xsimd's erf and exp (a few ulp each); the channel_affine parameter
// gradients sum across SIMD lanes (reassociated). Work is cut by shape only and each output is
// computed by one task, so results are bitwise identical at any thread count.
#include "gradattr/core/detail/intrinsics.hpp"  // first: see there
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>

#include "gradattr/core/parallel.hpp"
#include "gradattr/core/tensor.hpp"

namespace gradattr::kernels::fast {
namespace pointwise_detail {
inline constexpr std::int64_t kBlock = std::int64_t{1} << 15;

// For blocks of [0, n) spread over threads: vec(i) on full batches, scal(i) on the tail.
template <class Arch, class Vec, class Scal>
void map_blocks(std::int64_t n, Vec&& vec, Scal&& scal) noexcept {
  constexpr std::int64_t S = xsimd::batch<float, Arch>::size;
  parallel_for(0, (n + kBlock - 1) / kBlock, static_cast<double>(kBlock), [&](std::int64_t blk) {
    const std::int64_t i0 = blk * kBlock, i1 = std::min(n, i0 + kBlock);
    std::int64_t i = i0;
    for (; i + S <= i1; i += S) vec(i);
    for (; i < i1; ++i) scal(i);
  });
}
// lo where v < lo, hi where v > hi, else v (NaN passes through, as the reference).
template <class B>
B clamp(const B& v, const B& lo, const B& hi) noexcept {
  return xsimd::select(v < lo, lo, xsimd::select(v > hi, hi, v));
}
}  // namespace pointwise_detail

template <class Arch>
void channel_affine_forward(Tensor<float>& y, const Tensor<float>& x, const Tensor<float>& scale,
                            const Tensor<float>& shift) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr std::int64_t S = B::size;
  const std::int64_t N = x.dim(0), C = x.dim(1), inner = x.shape().stride(1);
  const float* xd = x.data();
  float* yd = y.data();
  parallel_for(0, N * C, static_cast<double>(inner), [&](std::int64_t nc) {
    const std::int64_t c = nc % C;
    const float s = scale[c], t = shift[c];
    const B sb(s), tb(t);
    const float* xr = xd + nc * inner;
    float* yr = yd + nc * inner;
    std::int64_t k = 0;
    for (; k + S <= inner; k += S) {
      const B p = B::load_unaligned(xr + k) * sb;
      (p + tb).store_unaligned(yr + k);
    }
    for (; k < inner; ++k) {
      const float p = xr[k] * s;
      yr[k] = p + t;
    }
  });
}

template <class Arch>
void channel_affine_backward_data(Tensor<float>& dx, const Tensor<float>& dy, const Tensor<float>& scale) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr std::int64_t S = B::size;
  const std::int64_t N = dy.dim(0), C = dy.dim(1), inner = dy.shape().stride(1);
  const float* gd = dy.data();
  float* dd = dx.data();
  parallel_for(0, N * C, static_cast<double>(inner), [&](std::int64_t nc) {
    const float s = scale[nc % C];
    const B sb(s);
    const float* g = gd + nc * inner;
    float* d = dd + nc * inner;
    std::int64_t k = 0;
    for (; k + S <= inner; k += S) (B::load_unaligned(g + k) * sb).store_unaligned(d + k);
    for (; k < inner; ++k) d[k] = g[k] * s;
  });
}

// One task per channel: its sums over n and the trailing dimensions, lanes then tail.
template <class Arch>
void channel_affine_backward_params(Tensor<float>& dscale, Tensor<float>& dshift, const Tensor<float>& dy,
                                    const Tensor<float>& x) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr std::int64_t S = B::size;
  const std::int64_t N = dy.dim(0), C = dy.dim(1), inner = dy.shape().stride(1);
  const bool want_scale = !dscale.empty();
  const float* gd = dy.data();
  const float* xd = x.data();
  parallel_for(0, C, 2.0 * static_cast<double>(N * inner), [&](std::int64_t c) {
    B ds(0.0f), db(0.0f);
    float ds_tail = 0.0f, db_tail = 0.0f;
    for (std::int64_t n = 0; n < N; ++n) {
      const float* g = gd + (n * C + c) * inner;
      const float* xr = want_scale ? xd + (n * C + c) * inner : nullptr;
      std::int64_t k = 0;
      for (; k + S <= inner; k += S) {
        const B gv = B::load_unaligned(g + k);
        if (want_scale) ds = xsimd::fma(gv, B::load_unaligned(xr + k), ds);
        db += gv;
      }
      for (; k < inner; ++k) {
        if (want_scale) ds_tail += g[k] * xr[k];
        db_tail += g[k];
      }
    }
    if (want_scale) dscale[c] = xsimd::hadd(ds) + ds_tail;
    if (!dshift.empty()) dshift[c] = xsimd::hadd(db) + db_tail;
  });
}

template <class Arch>
void clip_forward(Tensor<float>& y, const Tensor<float>& x, float lo, float hi) noexcept {
  using B = xsimd::batch<float, Arch>;
  const float* xd = x.data();
  float* yd = y.data();
  const B lb(lo), hb(hi);
  pointwise_detail::map_blocks<Arch>(
      x.numel(), [&](std::int64_t i) { pointwise_detail::clamp(B::load_unaligned(xd + i), lb, hb).store_unaligned(yd + i); },
      [&](std::int64_t i) { yd[i] = xd[i] < lo ? lo : (xd[i] > hi ? hi : xd[i]); });
}

template <class Arch>
void clip_backward(Tensor<float>& dx, const Tensor<float>& dy, const Tensor<float>& x, float lo, float hi) noexcept {
  using B = xsimd::batch<float, Arch>;
  const float* xd = x.data();
  const float* gd = dy.data();
  float* dd = dx.data();
  const B lb(lo), hb(hi), zero(0.0f);
  pointwise_detail::map_blocks<Arch>(
      x.numel(),
      [&](std::int64_t i) {
        const B v = B::load_unaligned(xd + i);
        xsimd::select((v > lb) && (v < hb), B::load_unaligned(gd + i), zero).store_unaligned(dd + i);
      },
      [&](std::int64_t i) { dd[i] = (xd[i] > lo && xd[i] < hi) ? gd[i] : 0.0f; });
}

template <class Arch>
void sigmoid_forward(Tensor<float>& y, const Tensor<float>& x) noexcept {
  using B = xsimd::batch<float, Arch>;
  const float* xd = x.data();
  float* yd = y.data();
  const B one(1.0f);
  pointwise_detail::map_blocks<Arch>(
      x.numel(), [&](std::int64_t i) { (one / (one + xsimd::exp(-B::load_unaligned(xd + i)))).store_unaligned(yd + i); },
      [&](std::int64_t i) { yd[i] = 1.0f / (1.0f + std::exp(-xd[i])); });
}

template <class Arch>
void sigmoid_backward(Tensor<float>& dx, const Tensor<float>& dy, const Tensor<float>& y) noexcept {
  using B = xsimd::batch<float, Arch>;
  const float* yd = y.data();
  const float* gd = dy.data();
  float* dd = dx.data();
  const B one(1.0f);
  pointwise_detail::map_blocks<Arch>(
      y.numel(),
      [&](std::int64_t i) {
        const B v = B::load_unaligned(yd + i);
        (B::load_unaligned(gd + i) * (v * (one - v))).store_unaligned(dd + i);
      },
      [&](std::int64_t i) { dd[i] = gd[i] * (yd[i] * (1.0f - yd[i])); });
}

template <class Arch>
void hard_sigmoid_forward(Tensor<float>& y, const Tensor<float>& x, float alpha, float beta) noexcept {
  using B = xsimd::batch<float, Arch>;
  const float* xd = x.data();
  float* yd = y.data();
  const B ab(alpha), bb(beta), zero(0.0f), one(1.0f);
  pointwise_detail::map_blocks<Arch>(
      x.numel(),
      [&](std::int64_t i) {
        const B p = ab * B::load_unaligned(xd + i);
        pointwise_detail::clamp(p + bb, zero, one).store_unaligned(yd + i);
      },
      [&](std::int64_t i) {
        const float p = alpha * xd[i];
        const float v = p + beta;
        yd[i] = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
      });
}

template <class Arch>
void hard_sigmoid_backward(Tensor<float>& dx, const Tensor<float>& dy, const Tensor<float>& x, float alpha,
                           float beta) noexcept {
  using B = xsimd::batch<float, Arch>;
  const float* xd = x.data();
  const float* gd = dy.data();
  float* dd = dx.data();
  const B ab(alpha), bb(beta), zero(0.0f), one(1.0f);
  pointwise_detail::map_blocks<Arch>(
      x.numel(),
      [&](std::int64_t i) {
        const B p = ab * B::load_unaligned(xd + i);
        const B v = p + bb;
        xsimd::select((v > zero) && (v < one), B::load_unaligned(gd + i) * ab, zero).store_unaligned(dd + i);
      },
      [&](std::int64_t i) {
        const float p = alpha * xd[i];
        const float v = p + beta;
        dd[i] = (v > 0.0f && v < 1.0f) ? gd[i] * alpha : 0.0f;
      });
}

template <class Arch>
void hard_swish_forward(Tensor<float>& y, const Tensor<float>& x) noexcept {
  using B = xsimd::batch<float, Arch>;
  const float* xd = x.data();
  float* yd = y.data();
  const B six(6.0f), half(0.5f), zero(0.0f), one(1.0f);
  pointwise_detail::map_blocks<Arch>(
      x.numel(),
      [&](std::int64_t i) {
        const B v = B::load_unaligned(xd + i);
        const B q = v / six;
        (v * pointwise_detail::clamp(q + half, zero, one)).store_unaligned(yd + i);
      },
      [&](std::int64_t i) {
        const float q = xd[i] / 6.0f;
        const float v = q + 0.5f;
        yd[i] = xd[i] * (v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v));
      });
}

template <class Arch>
void hard_swish_backward(Tensor<float>& dx, const Tensor<float>& dy, const Tensor<float>& x) noexcept {
  using B = xsimd::batch<float, Arch>;
  const float* xd = x.data();
  const float* gd = dy.data();
  float* dd = dx.data();
  const B m3(-3.0f), p3(3.0f), half(0.5f), zero(0.0f);
  pointwise_detail::map_blocks<Arch>(
      x.numel(),
      [&](std::int64_t i) {
        const B v = B::load_unaligned(xd + i), g = B::load_unaligned(gd + i);
        const B q = v / p3;
        const B mid = g * (q + half);
        xsimd::select(v < m3, zero, xsimd::select(v <= p3, mid, g)).store_unaligned(dd + i);
      },
      [&](std::int64_t i) {
        const float q = xd[i] / 3.0f;
        dd[i] = xd[i] < -3.0f ? 0.0f : (xd[i] <= 3.0f ? gd[i] * (q + 0.5f) : gd[i]);
      });
}

// erf and gelu on xsimd's erf and exp (a few ulp each; tests/kernels/pointwise.cpp bounds them
// against the double reference).
template <class Arch>
void erf_forward(Tensor<float>& y, const Tensor<float>& x) noexcept {
  using B = xsimd::batch<float, Arch>;
  const float* xd = x.data();
  float* yd = y.data();
  pointwise_detail::map_blocks<Arch>(
      x.numel(), [&](std::int64_t i) { xsimd::erf(B::load_unaligned(xd + i)).store_unaligned(yd + i); },
      [&](std::int64_t i) { yd[i] = std::erf(xd[i]); });
}

template <class Arch>
void erf_backward(Tensor<float>& dx, const Tensor<float>& dy, const Tensor<float>& x) noexcept {
  using B = xsimd::batch<float, Arch>;
  const float c = 2.0f / std::sqrt(std::numbers::pi_v<float>);
  const float* xd = x.data();
  const float* gd = dy.data();
  float* dd = dx.data();
  const B cb(c);
  pointwise_detail::map_blocks<Arch>(
      x.numel(),
      [&](std::int64_t i) {
        const B v = B::load_unaligned(xd + i);
        (B::load_unaligned(gd + i) * (cb * xsimd::exp(-(v * v)))).store_unaligned(dd + i);
      },
      [&](std::int64_t i) { dd[i] = gd[i] * (c * std::exp(-(xd[i] * xd[i]))); });
}

template <class Arch>
void gelu_forward(Tensor<float>& y, const Tensor<float>& x) noexcept {
  using B = xsimd::batch<float, Arch>;
  const float r = 1.0f / std::numbers::sqrt2_v<float>;
  const float* xd = x.data();
  float* yd = y.data();
  const B rb(r), half(0.5f), one(1.0f);
  pointwise_detail::map_blocks<Arch>(
      x.numel(),
      [&](std::int64_t i) {
        const B v = B::load_unaligned(xd + i);
        (v * (half * (one + xsimd::erf(v * rb)))).store_unaligned(yd + i);
      },
      [&](std::int64_t i) { yd[i] = xd[i] * (0.5f * (1.0f + std::erf(xd[i] * r))); });
}

template <class Arch>
void gelu_backward(Tensor<float>& dx, const Tensor<float>& dy, const Tensor<float>& x) noexcept {
  using B = xsimd::batch<float, Arch>;
  const float r = 1.0f / std::numbers::sqrt2_v<float>, c = 1.0f / std::sqrt(2.0f * std::numbers::pi_v<float>);
  const float* xd = x.data();
  const float* gd = dy.data();
  float* dd = dx.data();
  const B rb(r), cb(c), half(0.5f), one(1.0f);
  pointwise_detail::map_blocks<Arch>(
      x.numel(),
      [&](std::int64_t i) {
        const B v = B::load_unaligned(xd + i);
        const B cdf = half * (one + xsimd::erf(v * rb));
        const B pdf = cb * xsimd::exp(-(half * v * v));
        (B::load_unaligned(gd + i) * (cdf + v * pdf)).store_unaligned(dd + i);
      },
      [&](std::int64_t i) {
        const float v = xd[i];
        const float cdf = 0.5f * (1.0f + std::erf(v * r)), pdf = c * std::exp(-(0.5f * v * v));
        dd[i] = gd[i] * (cdf + v * pdf);
      });
}

// silu: the sigmoid as sigmoid_forward computes it, times x (so the forward equals the unfused
// Sigmoid then Mul bit for bit); the backward recomputes s from x (one saved tensor, not two).
template <class Arch>
void silu_forward(Tensor<float>& y, const Tensor<float>& x) noexcept {
  using B = xsimd::batch<float, Arch>;
  const float* xd = x.data();
  float* yd = y.data();
  const B one(1.0f);
  pointwise_detail::map_blocks<Arch>(
      x.numel(),
      [&](std::int64_t i) {
        const B v = B::load_unaligned(xd + i);
        (v * (one / (one + xsimd::exp(-v)))).store_unaligned(yd + i);
      },
      [&](std::int64_t i) { yd[i] = xd[i] * (1.0f / (1.0f + std::exp(-xd[i]))); });
}

template <class Arch>
void silu_backward(Tensor<float>& dx, const Tensor<float>& dy, const Tensor<float>& x) noexcept {
  using B = xsimd::batch<float, Arch>;
  const float* xd = x.data();
  const float* gd = dy.data();
  float* dd = dx.data();
  const B one(1.0f);
  pointwise_detail::map_blocks<Arch>(
      x.numel(),
      [&](std::int64_t i) {
        const B v = B::load_unaligned(xd + i), g = B::load_unaligned(gd + i);
        const B sv = one / (one + xsimd::exp(-v));
        (g * sv + (g * v) * (sv * (one - sv))).store_unaligned(dd + i);
      },
      [&](std::int64_t i) {
        const float sv = 1.0f / (1.0f + std::exp(-xd[i]));
        dd[i] = gd[i] * sv + (gd[i] * xd[i]) * (sv * (1.0f - sv));
      });
}

}  // namespace gradattr::kernels::fast
