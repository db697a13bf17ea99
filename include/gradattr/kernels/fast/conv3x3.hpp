#pragma once
// Fast float 3x3 / stride 1 / pad 1 convolution (VGG's hot path): Winograd F(4x4, 3x3) with
// the batched-GEMM formulation, forward (bias, optional fused ReLU) and backward-data.
// Internals and data layouts: kernels/fast/detail/winograd_f43.hpp.
//
// Contract:
//  - Shapes are validated by the caller (kernels::conv2d_output_shape); x is NCHW, w is
//    [K, C, 3, 3], y is [N, K, H, W] (same H, W as x). Outputs are assigned.
//  - Results do not depend on the thread count or on how the work is split: every output is
//    computed by the same sequence of float operations whatever the plan (bitwise equal).
//  - Accuracy. The bound this path relies on (and tests/kernels/conv3x3.cpp checks against the
//    reference computed in double), with C the reduction length (C_in forward, C_out for
//    backward-data) and u = 2^-24:
//      |y_hat - y| <= u * 512 * (9 C) * max|x| * max|w|  +  u * max|b|
//    512 = 2 * 2304 / 9. 2304 = max_ij (sum_a |A_ia| (|G| 1)_a (|B^T| 1)_a)^2 is how much
//    F(4x4,3x3) amplifies a tap's magnitude on its way through the three transforms (direct
//    convolution: each of the 9 taps once, hence the /9); the 2 covers the rounding of the
//    transforms. Linear in C: rounding errors of a float sum whose terms do not all align grow
//    no faster than the length (the worst case, aligned errors, is u*(C+12)*2304*C*max|x|max|w|).
//    Observed worst error / bound on random data: 0.04 (C <= 64), 0.003 (C = 256), 0.002
//    (C = 512). The direct path (<= 8 channels) is far inside the same bound. Backward-data is
//    the adjoint of the forward algorithm (winograd_f43_adjoint.hpp); its growth constant,
//    overlapping windows included, is 1482 < 2304, so the same bound holds (observed 0.008).
//  - Non-finite values: every output that direct convolution makes NaN is NaN here too. A NaN
//    (or Inf, since Inf - Inf = NaN in the transform) input pixel also makes NaN the other
//    outputs of the 4x4 output tiles whose 6x6 input window contains it (at most 8x8 outputs
//    per channel around the pixel instead of 3x3), and an Inf input may give NaN where direct
//    convolution gives +-Inf. Backward-data: a NaN in dy makes NaN (at most) the 6x6 dx window
//    of the 4x4 tile that holds it, in every channel.
//  - Threads: a const Conv3x3Filters may be shared; each call allocates its own workspace
//    (per thread: 36 * tiles_per_block * (C + K_group) floats plus a 6-row input strip, a few
//    MB at most for VGG). Without prepared filters each call transforms w first (for 512x512
//    that is 38 MB and tens of ms: prepare once, at load).
//  - Algorithm by shape: Winograd F(4x4,3x3) when both channel counts exceed 8, a direct
//    row-vectorised convolution otherwise (conv3x3_use_direct).
#include <memory>

#include "gradattr/core/tensor.hpp"
#include "gradattr/kernels/call_counts.hpp"
#include "gradattr/kernels/fast/detail/conv3x3_direct.hpp"
#include "gradattr/kernels/fast/detail/winograd_f43.hpp"
#include "gradattr/kernels/fast/detail/winograd_f43_adjoint.hpp"
#include "gradattr/kernels/fast/nhwc16.hpp"
#include "gradattr/kernels/params.hpp"

namespace gradattr::kernels::fast {

// True when the fast 3x3 path applies: 3x3 kernel, stride 1, padding 1 on all four sides,
// dilation 1, groups 1 (any N, C, K, H, W), and not p.exact. Nothing else: grouped, dilated,
// strided, asymmetrically padded or exact convolutions go to kernels/fast/conv_gemm.hpp or
// conv_depthwise.hpp.
inline bool conv3x3_applies(const Shape& w, const Conv2dParams& p) noexcept {
  return !p.exact && w.rank() == 4 && w[2] == 3 && w[3] == 3 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 1 &&
         p.pad_w == 1 && p.pad_b() == 1 && p.pad_r() == 1 && p.dilation_h == 1 && p.dilation_w == 1 && p.groups == 1;
}

// Whether an input x [N, C, H, W] has the p.winograd_min_tiles 4x4 output tiles per image the
// fast 3x3 path asks for (params.hpp); when not, the convolution goes to kernels/fast/conv_gemm.hpp.
// Per image, so that the path (and the values) do not depend on the batch size.
inline bool conv3x3_enough_tiles(const Shape& x, const Conv2dParams& p) noexcept {
  return p.winograd_min_tiles <= 0 || ((x[2] + 3) / 4) * ((x[3] + 3) / 4) >= p.winograd_min_tiles;
}

// Dispatch rule: direct convolution when the reduction length or the number of produced channels
// is at most kConv3x3DirectMax (VGG's first layer, forward and input gradient), Winograd
// otherwise. Measured (1 thread, 224x224, ms, Winograd / direct): C=3 K=64 6.0 / 1.8;
// C=64 K=3 6.4 / 3.6; C=8 K=64 5.6 / 4.4; C=64 K=8 6.7 / 6.5; C=16 K=64 6.8 / 7.1;
// C=64 K=16 7.4 / 8.9 -- the crossover is between 8 and 16 channels.
inline constexpr std::int64_t kConv3x3DirectMax = 8;
inline bool conv3x3_use_direct(std::int64_t reduction, std::int64_t produced) noexcept {
  return reduction <= kConv3x3DirectMax || produced <= kConv3x3DirectMax;
}

// Winograd-transformed filters, computed once (in double, rounded once). Both directions use
// them: backward-data runs the adjoint of the forward algorithm (winograd_f43_adjoint.hpp), so
// no second pack of flipped filters is needed. Arch independent, so it may be shared between
// translation units built with different flags.
struct Conv3x3Filters {
  detail::WinogradFilterPack forward;  // reduction over C, produces K (empty on the direct path)
  std::int64_t K = 0, C = 0;
  bool matches(const Shape& w) const noexcept { return w[0] == K && w[1] == C; }
};

// w [K, C, 3, 3] -> forward filters U[xi][c][k] = (G w[k][c] G^T)[xi]
inline detail::WinogradFilterPack conv3x3_forward_filters(const Tensor<float>& w) {
  const std::int64_t K = w.dim(0), C = w.dim(1);
  const float* pw = w.data();
  return detail::winograd_pack_filters(C, K, [&](std::int64_t k, std::int64_t c, int r, int s) {
    return static_cast<double>(pw[((k * C + c) * 3 + r) * 3 + s]);
  });
}

inline Conv3x3Filters conv3x3_prepare(const Tensor<float>& w) {
  Conv3x3Filters f;
  f.K = w.dim(0);
  f.C = w.dim(1);
  if (!conv3x3_use_direct(f.C, f.K)) f.forward = conv3x3_forward_filters(w);
  return f;
}

// The prepared pack when `filters` has it for w, else w transformed into `local`.
inline const detail::WinogradFilterPack* conv3x3_pack(const Conv3x3Filters* filters, const Tensor<float>& w,
                                                      detail::WinogradFilterPack& local) {
  if (filters && filters->matches(w.shape()) && !filters->forward.empty()) return &filters->forward;
  ::gradattr::kernels::detail::count_call(::gradattr::kernels::KernelId::conv3x3_filter_transform);
  local = conv3x3_forward_filters(w);
  return &local;
}

// y [N, K, H, W] = x [N, C, H, W] (*) w [K, C, 3, 3] + b [K] (b may be empty), then ReLU if
// relu. filters: from conv3x3_prepare(w), or null to transform w on the fly.
template <class Arch = xsimd::default_arch>
void conv3x3_forward(Tensor<float>& y, const Tensor<float>& x, const Tensor<float>& w, const Tensor<float>& b,
                     bool relu = false, const Conv3x3Filters* filters = nullptr) noexcept {
  if (conv3x3_use_direct(w.dim(1), w.dim(0))) {
    std::int64_t O = 0, I = 0;
    const auto packed = detail::conv3x3_direct_pack(w.data(), w.dim(0), w.dim(1), false, O, I);
    detail::conv3x3_direct<Arch>({y.data(), x.data(), packed.get(), b.empty() ? nullptr : b.data(), x.dim(0), I, O,
                                  x.dim(2), x.dim(3), relu});
    return;
  }
  detail::WinogradFilterPack local;
  const detail::WinogradFilterPack* f = conv3x3_pack(filters, w, local);
  const detail::WinogradArgs args{y.data(), x.data(), b.empty() ? nullptr : b.data(),
                                  x.dim(0), x.dim(1), w.dim(0), x.dim(2), x.dim(3), relu};
  detail::winograd_conv3x3<Arch>(args, *f);
}

// The Winograd forward with an NHWC16 output (kernels/fast/nhwc16.hpp), from an NCHW input
// (x_nchw) or an NHWC16 one (x_blocked; exactly one of the two non-null): what the inference
// path chains layer to layer. Same float operations as conv3x3_forward, so the same values bit
// for bit. Requires the Winograd path (!conv3x3_use_direct(C, K)); shapes validated by the caller.
template <class Arch = xsimd::default_arch>
Nhwc16 conv3x3_forward_nhwc16(const Tensor<float>* x_nchw, const Nhwc16* x_blocked, const Tensor<float>& w,
                              const Tensor<float>& b, bool relu, const Conv3x3Filters* filters = nullptr) {
  const std::int64_t N = x_nchw ? x_nchw->dim(0) : x_blocked->batch();
  const std::int64_t H = x_nchw ? x_nchw->dim(2) : x_blocked->height();
  const std::int64_t W = x_nchw ? x_nchw->dim(3) : x_blocked->width();
  detail::WinogradFilterPack local;
  const detail::WinogradFilterPack* f = conv3x3_pack(filters, w, local);
  Nhwc16 y = Nhwc16::uninitialized(N, w.dim(0), H, W);
  detail::WinogradArgs args{y.data.data(), x_nchw ? x_nchw->data() : x_blocked->data.data(),
                            b.empty() ? nullptr : b.data(), N, w.dim(1), w.dim(0), H, W, relu};
  args.x_nhwc16 = x_nchw == nullptr;
  args.y_nhwc16 = true;
  detail::winograd_conv3x3<Arch>(args, *f);
  return y;
}

// The same with ReLU fused: y = max(conv(x) + b, 0), NaN kept (as torch.relu).
template <class Arch = xsimd::default_arch>
void conv3x3_relu_forward(Tensor<float>& y, const Tensor<float>& x, const Tensor<float>& w, const Tensor<float>& b,
                          const Conv3x3Filters* filters = nullptr) noexcept {
  conv3x3_forward<Arch>(y, x, w, b, true, filters);
}

// dx [N, C, H, W] from dy [N, K, H, W] and w [K, C, 3, 3] (assigned). The Winograd path is the
// adjoint of the forward one and uses the same (forward) filters.
template <class Arch = xsimd::default_arch>
void conv3x3_backward_data(Tensor<float>& dx, const Tensor<float>& dy, const Tensor<float>& w,
                           const Conv3x3Filters* filters = nullptr) noexcept {
  if (conv3x3_use_direct(w.dim(0), w.dim(1))) {
    std::int64_t O = 0, I = 0;
    const auto packed = detail::conv3x3_direct_pack(w.data(), w.dim(0), w.dim(1), true, O, I);
    detail::conv3x3_direct<Arch>({dx.data(), dy.data(), packed.get(), nullptr, dy.dim(0), I, O, dy.dim(2), dy.dim(3),
                                  false});
    return;
  }
  detail::WinogradFilterPack local;
  const detail::WinogradFilterPack* f = conv3x3_pack(filters, w, local);
  detail::winograd_conv3x3_adjoint<Arch>({dx.data(), dy.data(), dy.dim(0), w.dim(0), w.dim(1), dy.dim(2), dy.dim(3)},
                                         *f);
}

}  // namespace gradattr::kernels::fast
