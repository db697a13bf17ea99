#pragma once
// NHWC16: the blocked activation layout the float inference path keeps from one 3x3 conv layer
// to the next (conv -> ReLU -> pool -> conv ... without a reorder per layer).
//
//   Nhwc16 { data [N][H][W][Cp], channels C },  Cp = C rounded up to 16 (kWinoPad).
//
// Channel-minor, so the Winograd kernel reads each input row with one copy and writes each
// output pixel's 16 channels with one aligned vector store, and pooling and ReLU work on whole
// channel vectors. Channels C..Cp-1 are padding: zero after to_nhwc16, unspecified after a
// kernel (a NaN input may reach them), and never read as data by any kernel here.
// The conversions to and from NCHW run once, where a run of such layers begins or ends.
#include "gradattr/core/detail/intrinsics.hpp"  // first: see there
#include <xsimd/xsimd.hpp>

#include <cstdint>
#include <cstring>
#include <limits>

#include "gradattr/core/parallel.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/kernels/fast/detail/winograd_f43.hpp"
#include "gradattr/kernels/params.hpp"

namespace gradattr::kernels::fast {

struct Nhwc16 {
  Tensor<float> data;  // [N, H, W, Cp]
  std::int64_t channels = 0;

  static std::int64_t padded(std::int64_t c) noexcept { return detail::winograd_round_up(c, detail::kWinoPad); }
  // An output buffer for N x C x H x W (contents unspecified).
  static Nhwc16 uninitialized(std::int64_t N, std::int64_t C, std::int64_t H, std::int64_t W) {
    return {Tensor<float>::uninitialized(Shape{N, H, W, padded(C)}), C};
  }
  std::int64_t batch() const noexcept { return data.dim(0); }
  std::int64_t height() const noexcept { return data.dim(1); }
  std::int64_t width() const noexcept { return data.dim(2); }
  std::int64_t stride() const noexcept { return data.dim(3); }  // Cp
  // The NCHW shape of the activation it holds.
  Shape nchw_shape() const { return Shape{batch(), channels, height(), width()}; }
};

// NCHW -> NHWC16 (padding channels zero). Threads over (image, row).
inline Nhwc16 to_nhwc16(const Tensor<float>& x) {
  const std::int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  Nhwc16 b = Nhwc16::uninitialized(N, C, H, W);
  const std::int64_t Cp = b.stride();
  const float* src = x.data();
  float* dst = b.data.data();
  parallel_for(0, N * H, static_cast<double>(W * Cp), [&](std::int64_t nh) {
    const std::int64_t n = nh / H, h = nh % H;
    float* row = dst + nh * W * Cp;
    for (std::int64_t w = 0; w < W; ++w) std::memset(row + w * Cp + C, 0, static_cast<std::size_t>(Cp - C) * sizeof(float));
    for (std::int64_t c = 0; c < C; ++c) {
      const float* s = src + ((n * C + c) * H + h) * W;
      for (std::int64_t w = 0; w < W; ++w) row[w * Cp + c] = s[w];
    }
  });
  return b;
}

// NHWC16 -> NCHW (the C data channels). Threads over (image, channel).
inline Tensor<float> to_nchw(const Nhwc16& b) {
  const std::int64_t N = b.batch(), C = b.channels, H = b.height(), W = b.width(), Cp = b.stride();
  auto y = Tensor<float>::uninitialized(Shape{N, C, H, W});
  const float* src = b.data.data();
  float* dst = y.data();
  parallel_for(0, N * C, static_cast<double>(H * W), [&](std::int64_t nc) {
    const std::int64_t n = nc / C, c = nc % C;
    const float* s = src + n * H * W * Cp + c;
    float* d = dst + nc * H * W;
    for (std::int64_t i = 0; i < H * W; ++i) d[i] = s[i * Cp];
  });
  return y;
}

// Max pooling (torch.nn.MaxPool2d; any pads and ceil_mode: windows are clipped to the input)
// on NHWC16, values only (no argmax: this is the unrecorded path). Same values as reference::max_pool2d_forward: padding never wins, the
// first maximum wins ties (so +0 / -0 as the reference), and a NaN anywhere in the window gives
// NaN. Output shape from kernels::pool2d_output_shape, validated by the caller.
template <class Arch = xsimd::default_arch>
Nhwc16 max_pool2d_nhwc16(const Nhwc16& x, const Pool2dParams& p) {
  using B = xsimd::batch<float, Arch>;
  constexpr std::int64_t L = B::size;
  static_assert(detail::kWinoPad % L == 0, "a channel block holds whole vectors");
  const std::int64_t N = x.batch(), H = x.height(), W = x.width(), Cp = x.stride();
  const std::int64_t OH = kernels::detail::window_count(H, p.kernel_h, p.stride_h, p.pad_h, p.pad_b(), p.ceil_mode);
  const std::int64_t OW = kernels::detail::window_count(W, p.kernel_w, p.stride_w, p.pad_w, p.pad_r(), p.ceil_mode);
  Nhwc16 y = Nhwc16::uninitialized(N, x.channels, OH, OW);
  const float* src = x.data.data();
  float* dst = y.data.data();
  parallel_for(0, N * OH, static_cast<double>(OW * Cp * p.kernel_h * p.kernel_w), [&](std::int64_t noh) {
    const std::int64_t n = noh / OH, oh = noh % OH;
    const std::int64_t h0 = std::max<std::int64_t>(0, oh * p.stride_h - p.pad_h);
    const std::int64_t h1 = std::min<std::int64_t>(H, oh * p.stride_h - p.pad_h + p.kernel_h);
    for (std::int64_t ow = 0; ow < OW; ++ow) {
      const std::int64_t w0 = std::max<std::int64_t>(0, ow * p.stride_w - p.pad_w);
      const std::int64_t w1 = std::min<std::int64_t>(W, ow * p.stride_w - p.pad_w + p.kernel_w);
      float* out = dst + (noh * OW + ow) * Cp;
      for (std::int64_t c = 0; c < Cp; c += L) {
        B m(-std::numeric_limits<float>::infinity());
        for (std::int64_t h = h0; h < h1; ++h)
          for (std::int64_t w = w0; w < w1; ++w) {
            const B v = B::load_aligned(src + ((n * H + h) * W + w) * Cp + c);
            // strictly greater (first maximum wins); a NaN is taken and then kept, since
            // nothing compares greater than it and m is no longer replaced by non-NaN values
            m = xsimd::select((v > m) || (xsimd::isnan(v) && !xsimd::isnan(m)), v, m);
          }
        m.store_aligned(out + c);
      }
    }
  });
  return y;
}

}  // namespace gradattr::kernels::fast
