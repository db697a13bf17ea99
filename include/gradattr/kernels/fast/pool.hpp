#pragma once
// Fast float pooling: max_pool2d (forward with argmax, backward), avg_pool2d and
// adaptive_avg_pool2d. Max pooling is SIMD (VGG's 2x2 / stride 2 with its own kernel, any other
// window with max_pool_simd_plane); average pooling runs the reference's scalar loops split
// over (n, c) planes (not hot in the CNNs we run: DenseNet's 2x2 average pools, and global
// average pooling, one pass over the input: ~0.1 ms for ResNet-50's [1, 2048, 7, 7]).
// Same semantics as kernels/reference/pool.hpp, element for element: max-pool ties keep the
// first maximum in row-major window order, a NaN in a window wins (the last NaN's index), in
// the SIMD body and in the scalar tail alike. Work is split over (n, c) planes; every output
// is computed by one thread in a fixed order, so results do not depend on the thread count.
#include "gradattr/core/detail/intrinsics.hpp"  // first: see there
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "gradattr/core/parallel.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/kernels/params.hpp"
#include "gradattr/kernels/reference/pool.hpp"

namespace gradattr::kernels::fast {
namespace pool_detail {

// Architectures on which xsimd 8 swizzles float batches (AVX, AVX2, AVX-512).
template <class Arch>
inline constexpr bool has_float_swizzle =
    std::is_base_of_v<xsimd::avx, Arch> || std::is_base_of_v<xsimd::avx512f, Arch>;

struct EvenThenOdd {  // [0, 2, 4, ..., 1, 3, 5, ...]
  static constexpr unsigned get(unsigned i, unsigned n) { return i < n / 2 ? 2 * i : 2 * (i - n / 2) + 1; }
};
struct OddThenEven {  // [1, 3, 5, ..., 0, 2, 4, ...]
  static constexpr unsigned get(unsigned i, unsigned n) { return i < n / 2 ? 2 * i + 1 : 2 * (i - n / 2); }
};
struct SwapHalves {
  static constexpr unsigned get(unsigned i, unsigned n) { return (i + n / 2) % n; }
};
struct LowerHalf {
  static constexpr bool get(unsigned i, unsigned n) { return i < n / 2; }
};

// even = p[0], p[2], ..., p[2S-2]; odd = p[1], p[3], ..., p[2S-1] (S = batch size).
template <class Arch>
inline void deinterleave(const float* p, xsimd::batch<float, Arch>& even, xsimd::batch<float, Arch>& odd) noexcept {
  using B = xsimd::batch<float, Arch>;
  using U = xsimd::batch<std::uint32_t, Arch>;
  const B a = B::load_unaligned(p), b = B::load_unaligned(p + B::size);
  const B sa = xsimd::swizzle(a, xsimd::make_batch_constant<U, EvenThenOdd>());  // [a_even | a_odd]
  const B sb = xsimd::swizzle(b, xsimd::make_batch_constant<U, OddThenEven>());  // [b_odd | b_even]
  constexpr auto lower = xsimd::make_batch_bool_constant<B, LowerHalf>();
  even = xsimd::select(lower, sa, sb);                                                            // [a_even | b_even]
  odd = xsimd::swizzle(xsimd::select(lower, sb, sa), xsimd::make_batch_constant<U, SwapHalves>());  // [a_odd | b_odd]
}

// The reference's window rule, one window: a candidate replaces the best when larger or NaN.
// Branch-free (select, not jump): the comparisons are unpredictable on real data.
inline void window_scalar(const float* plane, std::int64_t W, std::int64_t h0, std::int64_t h1, std::int64_t w0,
                          std::int64_t w1, float& y, std::int32_t& idx) noexcept {
  float best = plane[h0 * W + w0];
  std::int64_t best_idx = h0 * W + w0;
  for (std::int64_t h = h0; h < h1; ++h)
    for (std::int64_t w = (h == h0 ? w0 + 1 : w0); w < w1; ++w) {
      const float v = plane[h * W + w];
      const bool take = (v > best) | (v != v);
      best = take ? v : best;
      best_idx = take ? h * W + w : best_idx;
    }
  y = best;
  idx = static_cast<std::int32_t>(best_idx);
}

// S windows of a 2x2/s2 row: r0, r1 point at the first window's two input rows (2S floats
// each), i00 is the input index of r0[0] (as float: exact below 2^24; the caller checks H*W).
template <class Arch>
inline void max_pool_2x2_batch(const float* r0, const float* r1, float i00, std::int64_t W, float* y,
                               std::int32_t* am) noexcept {
  using B = xsimd::batch<float, Arch>;
  alignas(64) static constexpr auto lane2 = [] {  // 0, 2, 4, ...
    std::array<float, B::size> a{};
    for (std::size_t i = 0; i < B::size; ++i) a[i] = static_cast<float>(2 * i);
    return a;
  }();
  const B lane_offsets = B::load_aligned(lane2.data());
  B v00, v01, v10, v11;
  deinterleave<Arch>(r0, v00, v01);
  deinterleave<Arch>(r1, v10, v11);
  const B i0 = B(i00) + lane_offsets;
  B best = v00, bi = i0;  // window order (0,0), (0,1), (1,0), (1,1); the first is taken as is
  auto take = [&](const B& v, const B& vi) {
    const auto m = (v > best) | xsimd::isnan(v);
    best = xsimd::select(m, v, best);
    bi = xsimd::select(m, vi, bi);
  };
  take(v01, i0 + B(1.0f));
  take(v10, i0 + B(static_cast<float>(W)));
  take(v11, i0 + B(static_cast<float>(W + 1)));
  best.store_unaligned(y);
  xsimd::batch_cast<std::int32_t>(bi).store_unaligned(am);
}

// 2x2, stride 2, no padding (VGG's pool): SIMD over output columns. The last partial batch of
// a row runs the same SIMD code on copies padded to a full batch (VGG's 14- and 7-wide rows are
// all tail on AVX-512); without float swizzles (SSE builds) the scalar rule does every window.
template <class Arch>
void max_pool_2x2s2_plane(float* y, std::int32_t* am, const float* x, std::int64_t W, std::int64_t OH,
                          std::int64_t OW) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr std::int64_t S = B::size;
  for (std::int64_t oh = 0; oh < OH; ++oh) {
    const float* r0 = x + 2 * oh * W;
    const float* r1 = r0 + W;
    float* yr = y + oh * OW;
    std::int32_t* ar = am + oh * OW;
    std::int64_t ow = 0;
    if constexpr (has_float_swizzle<Arch>) {
      for (; ow + S <= OW; ow += S)
        max_pool_2x2_batch<Arch>(r0 + 2 * ow, r1 + 2 * ow, static_cast<float>(2 * oh * W + 2 * ow), W, yr + ow, ar + ow);
      if (ow < OW) {
        const std::int64_t t = OW - ow;
        alignas(64) float p0[2 * S] = {}, p1[2 * S] = {}, yt[S];
        alignas(64) std::int32_t at[S];
        std::memcpy(p0, r0 + 2 * ow, static_cast<std::size_t>(2 * t) * sizeof(float));
        std::memcpy(p1, r1 + 2 * ow, static_cast<std::size_t>(2 * t) * sizeof(float));
        max_pool_2x2_batch<Arch>(p0, p1, static_cast<float>(2 * oh * W + 2 * ow), W, yt, at);
        std::memcpy(yr + ow, yt, static_cast<std::size_t>(t) * sizeof(float));
        std::memcpy(ar + ow, at, static_cast<std::size_t>(t) * sizeof(std::int32_t));
        ow = OW;
      }
    }
    for (; ow < OW; ++ow) window_scalar(x, W, 2 * oh, 2 * oh + 2, 2 * ow, 2 * ow + 2, yr[ow], ar[ow]);
  }
}

// Any window, stride and padding.
inline void max_pool_general_plane(float* y, std::int32_t* am, const float* x, std::int64_t H, std::int64_t W,
                                   std::int64_t OH, std::int64_t OW, const Pool2dParams& p) noexcept {
  for (std::int64_t oh = 0; oh < OH; ++oh) {
    const std::int64_t h0 = std::max<std::int64_t>(0, oh * p.stride_h - p.pad_h);
    const std::int64_t h1 = std::min<std::int64_t>(H, oh * p.stride_h - p.pad_h + p.kernel_h);
    for (std::int64_t ow = 0; ow < OW; ++ow) {
      const std::int64_t w0 = std::max<std::int64_t>(0, ow * p.stride_w - p.pad_w);
      const std::int64_t w1 = std::min<std::int64_t>(W, ow * p.stride_w - p.pad_w + p.kernel_w);
      window_scalar(x, W, h0, h1, w0, w1, y[oh * OW + ow], am[oh * OW + ow]);
    }
  }
}

// Any window, stride and padding (ResNet's 3x3 / stride 2 / pad 1; asymmetric pads; ceil_mode),
// SIMD over output columns. Each input row is first split by column phase into `rows`
// ([H][sw][L] floats, L = OW rounded up to a batch + (KW-1)/sw): padded column j = i*sw + q is
// phase q, position i, so tap kw of consecutive outputs is one contiguous load (as in
// kernels/fast/conv_depthwise.hpp). A lane whose tap falls in the padding is masked out, so
// padding never wins; otherwise each lane follows the reference's rule in its order (rows,
// then columns): the first valid element is taken, then any larger one or a NaN. Indices are
// computed in float: exact as H*W < 2^24 (checked by the caller).
template <class Arch>
void max_pool_simd_plane(float* y, std::int32_t* am, const float* x, std::int64_t H, std::int64_t W, std::int64_t OH,
                         std::int64_t OW, const Pool2dParams& p, float* rows) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr std::int64_t S = B::size;
  const std::int64_t sw = p.stride_w, KW = p.kernel_w, pw = p.pad_w;
  const std::int64_t OWr = (OW + S - 1) / S * S, L = OWr + (KW - 1) / sw;
  for (std::int64_t ih = 0; ih < H; ++ih)
    for (std::int64_t q = 0; q < sw; ++q) {
      float* d = rows + (ih * sw + q) * L;
      for (std::int64_t i = 0; i < L; ++i) {
        const std::int64_t iw = i * sw + q - pw;
        d[i] = (iw >= 0 && iw < W) ? x[ih * W + iw] : 0.0f;
      }
    }
  alignas(64) float lane[S];
  for (std::int64_t i = 0; i < S; ++i) lane[i] = static_cast<float>(i);
  const B iota = B::load_aligned(lane);
  alignas(64) float yt[S];
  alignas(64) std::int32_t at[S];
  for (std::int64_t oh = 0; oh < OH; ++oh) {
    const std::int64_t r0 = oh * p.stride_h - p.pad_h;
    const std::int64_t kh0 = std::max<std::int64_t>(0, -r0), kh1 = std::min<std::int64_t>(p.kernel_h, H - r0);
    for (std::int64_t ow = 0; ow < OWr; ow += S) {
      const B owv = iota + B(static_cast<float>(ow));
      B best(-std::numeric_limits<float>::infinity()), bi(0.0f);
      auto have = owv != owv;  // all false
      for (std::int64_t kh = kh0; kh < kh1; ++kh) {
        const std::int64_t ih = r0 + kh;
        for (std::int64_t kw = 0; kw < KW; ++kw) {
          // lanes whose column ow*sw + kw - pw is inside the row: ow in [lo, hi)
          const std::int64_t first = pw - kw, last = W - 1 + pw - kw;
          const std::int64_t lo = first > 0 ? (first + sw - 1) / sw : 0, hi = last < 0 ? 0 : last / sw + 1;
          const auto valid = (owv >= B(static_cast<float>(lo))) & (owv < B(static_cast<float>(hi)));
          const B v = B::load_unaligned(rows + (ih * sw + kw % sw) * L + kw / sw + ow);
          const auto take = valid & ((!have) | (v > best) | xsimd::isnan(v));
          best = xsimd::select(take, v, best);
          bi = xsimd::select(take, owv * B(static_cast<float>(sw)) + B(static_cast<float>(ih * W + kw - pw)), bi);
          have = have | valid;
        }
      }
      if (ow + S <= OW) {
        best.store_unaligned(y + oh * OW + ow);
        xsimd::batch_cast<std::int32_t>(bi).store_unaligned(am + oh * OW + ow);
      } else {
        best.store_aligned(yt);
        xsimd::batch_cast<std::int32_t>(bi).store_aligned(at);
        std::memcpy(y + oh * OW + ow, yt, static_cast<std::size_t>(OW - ow) * sizeof(float));
        std::memcpy(am + oh * OW + ow, at, static_cast<std::size_t>(OW - ow) * sizeof(std::int32_t));
      }
    }
  }
}

// Per-thread buffer that only grows.
inline float* pool_scratch(std::int64_t n) {
  thread_local std::vector<float> buf;
  if (static_cast<std::int64_t>(buf.size()) < n) buf.resize(static_cast<std::size_t>(n));
  return buf.data();
}

}  // namespace pool_detail

// y, argmax [N, C, OH, OW] from x [N, C, H, W]; argmax indexes the input plane (h*W + w).
template <class Arch>
void max_pool2d_forward(Tensor<float>& y, Tensor<std::int32_t>& argmax, const Tensor<float>& x,
                        const Pool2dParams& p) noexcept {
  const std::int64_t NC = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3), OH = y.dim(2), OW = y.dim(3);
  // windows entirely inside the input: no top/left padding, and no window clipped at the
  // bottom/right (bottom/right padding or ceil_mode may add one)
  const bool vgg = p.kernel_h == 2 && p.kernel_w == 2 && p.stride_h == 2 && p.stride_w == 2 && p.pad_h == 0 &&
                   p.pad_w == 0 && 2 * OH <= H && 2 * OW <= W && H * W < (std::int64_t{1} << 24);
  const bool simd = !vgg && H * W < (std::int64_t{1} << 24);  // any other window: SIMD, with float indices
  constexpr std::int64_t S = xsimd::batch<float, Arch>::size;
  const std::int64_t rows = H * p.stride_w * ((OW + S - 1) / S * S + (p.kernel_w - 1) / p.stride_w);
  const float* xd = x.data();
  float* yd = y.data();
  std::int32_t* ad = argmax.data();
  parallel_for(0, NC, static_cast<double>(H * W), [&](std::int64_t i) {
    if (vgg)
      pool_detail::max_pool_2x2s2_plane<Arch>(yd + i * OH * OW, ad + i * OH * OW, xd + i * H * W, W, OH, OW);
    else if (simd)
      pool_detail::max_pool_simd_plane<Arch>(yd + i * OH * OW, ad + i * OH * OW, xd + i * H * W, H, W, OH, OW, p,
                                             pool_detail::pool_scratch(rows));
    else
      pool_detail::max_pool_general_plane(yd + i * OH * OW, ad + i * OH * OW, xd + i * H * W, H, W, OH, OW, p);
  });
}

// dx [N, C, H, W] (assigned) from dy [N, C, OH, OW] and the forward's argmax. Overlapping
// windows add in output order within a plane, as the reference. (A one-pass select over 2x2
// blocks measured slower than memset + scatter, which is memory-bound already.)
inline void max_pool2d_backward(Tensor<float>& dx, const Tensor<float>& dy, const Tensor<std::int32_t>& argmax) noexcept {
  const std::int64_t NC = dx.dim(0) * dx.dim(1), HW = dx.dim(2) * dx.dim(3), OHW = dy.dim(2) * dy.dim(3);
  float* dxd = dx.data();
  const float* dyd = dy.data();
  const std::int32_t* ad = argmax.data();
  parallel_for(0, NC, static_cast<double>(HW), [&](std::int64_t i) {
    float* d = dxd + i * HW;
    std::memset(d, 0, static_cast<std::size_t>(HW) * sizeof(float));
    const float* g = dyd + i * OHW;
    const std::int32_t* a = ad + i * OHW;
    for (std::int64_t o = 0; o < OHW; ++o) d[a[o]] += g[o];
  });
}

// avg_pool2d (rules: reference::avg_window): the reference's plane loops, one plane per task.
inline void avg_pool2d_forward(Tensor<float>& y, const Tensor<float>& x, const Pool2dParams& p,
                               bool count_include_pad) noexcept {
  const std::int64_t NC = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3), OH = y.dim(2), OW = y.dim(3);
  const float* xd = x.data();
  float* yd = y.data();
  parallel_for(0, NC, static_cast<double>(H * W), [&](std::int64_t i) {
    reference::avg_pool2d_plane_forward(yd + i * OH * OW, xd + i * H * W, H, W, OH, OW, p, count_include_pad);
  });
}
inline void avg_pool2d_backward(Tensor<float>& dx, const Tensor<float>& dy, const Pool2dParams& p,
                                bool count_include_pad) noexcept {
  const std::int64_t NC = dx.dim(0) * dx.dim(1), H = dx.dim(2), W = dx.dim(3), OH = dy.dim(2), OW = dy.dim(3);
  float* dxd = dx.data();
  const float* dyd = dy.data();
  parallel_for(0, NC, static_cast<double>(H * W), [&](std::int64_t i) {
    reference::avg_pool2d_plane_backward(dxd + i * H * W, dyd + i * OH * OW, H, W, OH, OW, p, count_include_pad);
  });
}

// y [N, C, OH, OW] = mean of x over PyTorch's adaptive windows. Fast paths: identity (VGG's
// 7x7 -> 7x7) and exact division (uniform kh x kw windows); the sums run in the reference's order.
inline void adaptive_avg_pool2d_forward(Tensor<float>& y, const Tensor<float>& x) noexcept {
  const std::int64_t NC = x.dim(0) * x.dim(1), H = x.dim(2), W = x.dim(3), OH = y.dim(2), OW = y.dim(3);
  const float* xd = x.data();
  float* yd = y.data();
  if (H == OH && W == OW) {
    // acc = 0 + v, then / 1: v itself, except that -0 becomes +0.
    parallel_for(0, NC, static_cast<double>(H * W), [&](std::int64_t i) {
      for (std::int64_t j = 0; j < H * W; ++j) yd[i * H * W + j] = 0.0f + xd[i * H * W + j];
    });
    return;
  }
  const bool exact = H % OH == 0 && W % OW == 0;
  parallel_for(0, NC, static_cast<double>(H * W), [&](std::int64_t i) {
    const float* plane = xd + i * H * W;
    float* out = yd + i * OH * OW;
    for (std::int64_t oh = 0; oh < OH; ++oh) {
      const std::int64_t h0 = exact ? oh * (H / OH) : reference::adaptive_start(oh, H, OH);
      const std::int64_t h1 = exact ? h0 + H / OH : reference::adaptive_end(oh, H, OH);
      for (std::int64_t ow = 0; ow < OW; ++ow) {
        const std::int64_t w0 = exact ? ow * (W / OW) : reference::adaptive_start(ow, W, OW);
        const std::int64_t w1 = exact ? w0 + W / OW : reference::adaptive_end(ow, W, OW);
        float acc = 0;
        for (std::int64_t h = h0; h < h1; ++h)
          for (std::int64_t w = w0; w < w1; ++w) acc += plane[h * W + w];
        out[oh * OW + ow] = acc / static_cast<float>((h1 - h0) * (w1 - w0));
      }
    }
  });
}

// dx [N, C, H, W] (assigned) from dy [N, C, OH, OW].
inline void adaptive_avg_pool2d_backward(Tensor<float>& dx, const Tensor<float>& dy) noexcept {
  const std::int64_t NC = dx.dim(0) * dx.dim(1), H = dx.dim(2), W = dx.dim(3), OH = dy.dim(2), OW = dy.dim(3);
  float* dxd = dx.data();
  const float* dyd = dy.data();
  if (H == OH && W == OW) {
    parallel_for(0, NC, static_cast<double>(H * W), [&](std::int64_t i) {
      for (std::int64_t j = 0; j < H * W; ++j) dxd[i * H * W + j] = 0.0f + dyd[i * H * W + j];
    });
    return;
  }
  parallel_for(0, NC, static_cast<double>(H * W), [&](std::int64_t i) {
    float* plane = dxd + i * H * W;
    const float* g = dyd + i * OH * OW;
    std::memset(plane, 0, static_cast<std::size_t>(H * W) * sizeof(float));
    for (std::int64_t oh = 0; oh < OH; ++oh) {
      const std::int64_t h0 = reference::adaptive_start(oh, H, OH), h1 = reference::adaptive_end(oh, H, OH);
      for (std::int64_t ow = 0; ow < OW; ++ow) {
        const std::int64_t w0 = reference::adaptive_start(ow, W, OW), w1 = reference::adaptive_end(ow, W, OW);
        const float v = g[oh * OW + ow] / static_cast<float>((h1 - h0) * (w1 - w0));
        for (std::int64_t h = h0; h < h1; ++h)
          for (std::int64_t w = w0; w < w1; ++w) plane[h * W + w] += v;
      }
    }
  });
}

}  // namespace gradattr::kernels::fast
