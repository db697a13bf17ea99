#pragma once
// Fast float row-wise softmax / log-softmax over the last dimension (and their backward).
// Semantics of kernels/reference/softmax.hpp: max-subtraction (log-sum-exp), never
// log(softmax); a NaN in a row makes the row NaN; a +inf logit or an all -inf row gives what
// the reference gives (NaN where inf - inf appears). Unlike the reference (which forms
// lse = m + log(s) first), rows of +-1e30 or all-equal huge logits give the exact 1/k and
// -log(k) for k tied maxima, and softmax rows sum to 1. exp comes from xsimd (a few ulp), sums are reassociated across SIMD lanes; rows are
// spread over threads, each row computed by one thread.
#include "gradattr/core/detail/intrinsics.hpp"  // first: see there
#include <xsimd/xsimd.hpp>

#include <cmath>
#include <cstdint>
#include <limits>

#include "gradattr/core/parallel.hpp"
#include "gradattr/core/tensor.hpp"

namespace gradattr::kernels::fast {
namespace softmax_detail {

// The row's maximum m and s = sum_c exp(x_c - m). A NaN anywhere gives m = NaN; an infinite m
// (a +inf logit, or an all -inf row) is returned with s = 1 and left to the caller.
template <class Arch>
void row_max_sum(const float* x, std::int64_t C, float& m_out, float& s_out) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr std::int64_t S = B::size;
  B mv(-std::numeric_limits<float>::infinity());
  B nan_seen(0.0f);
  std::int64_t c = 0;
  for (; c + S <= C; c += S) {
    const B v = B::load_unaligned(x + c);
    mv = xsimd::max(mv, v);
    nan_seen = nan_seen + xsimd::select(xsimd::isnan(v), B(1.0f), B(0.0f));
  }
  alignas(64) float lanes[S];
  mv.store_aligned(lanes);
  float m = lanes[0];
  for (std::int64_t i = 1; i < S; ++i) m = lanes[i] > m ? lanes[i] : m;
  bool has_nan = xsimd::hadd(nan_seen) > 0.0f;
  for (; c < C; ++c) {
    if (std::isnan(x[c])) has_nan = true;
    m = x[c] > m ? x[c] : m;
  }
  m_out = has_nan ? std::numeric_limits<float>::quiet_NaN() : m;
  s_out = 1.0f;
  if (has_nan || std::isinf(m)) return;
  const B mb(m);
  B sv(0.0f);
  c = 0;
  for (; c + S <= C; c += S) sv += xsimd::exp(B::load_unaligned(x + c) - mb);
  float s = xsimd::hadd(sv);
  for (; c < C; ++c) s += std::exp(x[c] - m);
  s_out = s;
}

}  // namespace softmax_detail

// y = log_softmax(x) = (x - m) - log(sum exp(x - m)) over the last dimension (y may alias x).
// Subtracting m first keeps -log(k) for k tied maxima even at |x| = 1e30, where m + log(s)
// would round to m.
template <class Arch>
void log_softmax(Tensor<float>& y, const Tensor<float>& x) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr std::int64_t S = B::size;
  const std::int64_t C = x.shape().dim(-1), N = x.numel() / C;
  const float* xd = x.data();
  float* yd = y.data();
  parallel_for(0, N, kTranscendentalWork * static_cast<double>(C), [&](std::int64_t n) {
    const float* xr = xd + n * C;
    float* yr = yd + n * C;
    float m, s;
    softmax_detail::row_max_sum<Arch>(xr, C, m, s);
    const float ls = std::log(s);  // 0 for NaN / infinite m: y = x - m as the reference
    const B mb(m), lb(ls);
    std::int64_t c = 0;
    for (; c + S <= C; c += S) ((B::load_unaligned(xr + c) - mb) - lb).store_unaligned(yr + c);
    for (; c < C; ++c) yr[c] = (xr[c] - m) - ls;
  });
}

// y = softmax(x) = exp(x - m) / sum exp(x - m) over the last dimension (y may alias x); each row
// sums to 1 up to rounding, even for rows of +-1e30 or all-equal huge logits.
template <class Arch>
void softmax(Tensor<float>& y, const Tensor<float>& x) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr std::int64_t S = B::size;
  const std::int64_t C = x.shape().dim(-1), N = x.numel() / C;
  const float* xd = x.data();
  float* yd = y.data();
  parallel_for(0, N, kTranscendentalWork * static_cast<double>(C), [&](std::int64_t n) {
    const float* xr = xd + n * C;
    float* yr = yd + n * C;
    float m, s;
    softmax_detail::row_max_sum<Arch>(xr, C, m, s);
    const B mb(m), sb(s);
    std::int64_t c = 0;
    for (; c + S <= C; c += S) (xsimd::exp(B::load_unaligned(xr + c) - mb) / sb).store_unaligned(yr + c);
    for (; c < C; ++c) yr[c] = std::exp(xr[c] - m) / s;
  });
}

// dx = y * (dy - sum_c dy_c y_c) per row, y the softmax output (assigned).
template <class Arch>
void softmax_backward(Tensor<float>& dx, const Tensor<float>& dy, const Tensor<float>& y) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr std::int64_t S = B::size;
  const std::int64_t C = y.shape().dim(-1), N = y.numel() / C;
  const float* gd = dy.data();
  const float* yd = y.data();
  float* dxd = dx.data();
  parallel_for(0, N, 2.0 * static_cast<double>(C), [&](std::int64_t n) {
    const float* g = gd + n * C;
    const float* yr = yd + n * C;
    float* d = dxd + n * C;
    B acc(0.0f);
    std::int64_t c = 0;
    for (; c + S <= C; c += S) acc = xsimd::fma(B::load_unaligned(g + c), B::load_unaligned(yr + c), acc);
    float dot = xsimd::hadd(acc);
    for (; c < C; ++c) dot += g[c] * yr[c];
    for (c = 0; c < C; ++c) d[c] = yr[c] * (g[c] - dot);
  });
}

}  // namespace gradattr::kernels::fast
