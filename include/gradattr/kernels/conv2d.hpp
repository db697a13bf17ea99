#pragma once
// conv2d kernels as the rest of the library calls them. float goes to a fast path; double
// (gradient checks) always uses the reference. Outputs must be allocated with
// kernels::conv2d_output_shape; outputs are assigned. Float paths, first match wins:
//   3x3 / stride 1 / pad 1 / groups 1 / dilation 1, not exact, at least p.winograd_min_tiles
//   output tiles                                      Winograd (fast/conv3x3.hpp)
//   depthwise (groups == C_in == C_out), <= 7x7, stride <= 2   SIMD direct (fast/conv_depthwise.hpp)
//   anything else                                     im2col + GEMM per group (fast/conv_gemm.hpp);
//                                                     a 1x1 / stride 1 / unpadded conv is one GEMM
//                                                     on NCHW, no im2col
#include "gradattr/core/detail/intrinsics.hpp"  // first: see there
#include <memory>
#include <type_traits>

#include "gradattr/kernels/call_counts.hpp"
#include "gradattr/kernels/fast/conv3x3.hpp"
#include "gradattr/kernels/fast/conv_depthwise.hpp"
#include "gradattr/kernels/fast/conv_gemm.hpp"
#include "gradattr/kernels/params.hpp"
#include "gradattr/kernels/reference/conv2d.hpp"

namespace gradattr::kernels {

// Weights transformed once (at load time) for the fast paths, e.g. packed or Winograd-
// transformed filters for forward and for backward-data. Owned by whoever owns the weights
// (nn::Conv2d) and passed to the kernels; a null pointer means "transform on the fly".
// Immutable after prepare(), so one instance may be shared by threads.
template <class T>
struct Conv2dPrepared {
  // float 3x3 / stride 1 / pad 1: Winograd filters (kernels/fast/conv3x3.hpp), 4x the weights,
  // used by the forward and by backward-data (its adjoint); empty otherwise, and empty when the
  // input shape x is given and has too few tiles for the Winograd path (p.winograd_min_tiles).
  static std::shared_ptr<const Conv2dPrepared> prepare(const Tensor<T>& w, const Conv2dParams& p,
                                                       const Shape* x = nullptr) {
    auto r = std::make_shared<Conv2dPrepared>();
    if constexpr (std::is_same_v<T, float>)
      if (fast::conv3x3_applies(w.shape(), p) && (!x || x->rank() != 4 || fast::conv3x3_enough_tiles(*x, p)))
        r->conv3x3_ = fast::conv3x3_prepare(w);
    return r;
  }

  const fast::Conv3x3Filters& filters() const noexcept { return conv3x3_; }

 private:
  fast::Conv3x3Filters conv3x3_;
};

// y [N, Co, OH, OW] = act(x [N, Ci, H, W] (*) w [Co, Ci/groups, KH, KW] + b [Co]) (b may be
// empty). act (default: none) is applied as the output is stored where the kernel can (the
// GEMM's tiles, the depthwise rows, the Winograd output for ReLU), else in one pass after it:
// the same values as the convolution followed by the separate activation, bit for bit.
//
// residual (null, or a tensor of y's shape): y = act(conv + b + residual), the conv's value plus
// the residual added as one float addition each (a ResNet block's Add), then act: bit for bit
// the unfused conv, add and activation. The GEMM path does it in its tiles, the others in one
// pass after the convolution.
template <class T>
void conv2d_forward(Tensor<T>& y, const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& b,
                    const Conv2dParams& p, const Conv2dPrepared<T>* prepared = nullptr,
                    const Activation& act = {}, const Tensor<T>* residual = nullptr) noexcept {
  (void)prepared;
  detail::count_call(KernelId::conv2d_forward);
  if constexpr (std::is_same_v<T, float>) {  // 3x3 s1 p1: Winograd (kernels/fast/conv3x3.hpp)
    if (fast::conv3x3_applies(w.shape(), p) && fast::conv3x3_enough_tiles(x.shape(), p)) {
      const bool relu = act.kind == Activation::Relu && !residual;
      fast::conv3x3_forward(y, x, w, b, relu, prepared ? &prepared->filters() : nullptr);
      if (residual)
        fast::add_activation(y, y, *residual, act);
      else if (!relu)
        fast::apply_activation(y, act);
      return;
    }
  }
  if constexpr (std::is_same_v<T, float>) {
    if (fast::conv_depthwise_applies(x.shape(), w.shape(), p)) {
      fast::conv2d_depthwise_forward(y, x, w, b, p, residual ? Activation{} : act);
      if (residual) fast::add_activation(y, y, *residual, act);
    } else {
      fast::conv2d_gemm_forward(y, x, w, b, p, act, residual ? residual->data() : nullptr);
    }
  } else {
    reference::conv2d_forward(y, x, w, b, p);
    if (residual)
      for (std::int64_t i = 0; i < y.numel(); ++i) y[i] = y[i] + (*residual)[i];
    if (act)
      for (T& v : y) v = act(v);
  }
}

// dx [N, Ci, H, W] from dy [N, Co, OH, OW]
template <class T>
void conv2d_backward_data(Tensor<T>& dx, const Tensor<T>& dy, const Tensor<T>& w, const Conv2dParams& p,
                          const Conv2dPrepared<T>* prepared = nullptr) noexcept {
  (void)prepared;
  detail::count_call(KernelId::conv2d_backward_data);
  if constexpr (std::is_same_v<T, float>) {  // 3x3 s1 p1: Winograd (kernels/fast/conv3x3.hpp)
    if (fast::conv3x3_applies(w.shape(), p) && fast::conv3x3_enough_tiles(dx.shape(), p)) {
      fast::conv3x3_backward_data(dx, dy, w, prepared ? &prepared->filters() : nullptr);
      return;
    }
  }
  if constexpr (std::is_same_v<T, float>) {
    if (fast::conv_depthwise_applies(dx.shape(), w.shape(), p))
      fast::conv2d_depthwise_backward_data(dx, dy, w, p);
    else
      fast::conv2d_gemm_backward_data(dx, dy, w, p);
  } else
    reference::conv2d_backward_data(dx, dy, w, p);
}

// dw [Co, Ci/groups, KH, KW], db [Co] (may be empty) from dy and x
template <class T>
void conv2d_backward_weights(Tensor<T>& dw, Tensor<T>& db, const Tensor<T>& dy, const Tensor<T>& x,
                             const Conv2dParams& p) noexcept {
  detail::count_call(KernelId::conv2d_backward_weights);
  if constexpr (std::is_same_v<T, float>) {
    if (fast::conv_depthwise_applies(x.shape(), dw.shape(), p))
      fast::conv2d_depthwise_backward_weights(dw, db, dy, x, p);
    else
      fast::conv2d_gemm_backward_weights(dw, db, dy, x, p);
  } else
    reference::conv2d_backward_weights(dw, db, dy, x, p);
}

}  // namespace gradattr::kernels
