#pragma once
// Float inference kernels on the NHWC16 blocked layout (kernels/fast/nhwc16.hpp), as the
// unrecorded forward of nn::Sequential chains them: a run of 3x3 convolutions, ReLUs and max
// pools stays in NHWC16 from the first Winograd layer to the end of the run, with the ReLU fused
// into the convolution's output transform. Float only (double always takes the NCHW reference
// path); outside this header the library sees NCHW tensors only.
// Each entry point counts as the kernel it replaces (call_counts.hpp); a fused ReLU counts as
// nothing extra. Shapes are validated by the caller (as for every kernel entry point).
#include "gradattr/core/detail/intrinsics.hpp"  // first: see there
#include "gradattr/kernels/activation.hpp"
#include "gradattr/kernels/call_counts.hpp"
#include "gradattr/kernels/conv2d.hpp"
#include "gradattr/kernels/fast/nhwc16.hpp"
#include "gradattr/kernels/params.hpp"

namespace gradattr::kernels {

using fast::Nhwc16;
using fast::to_nchw;
using fast::to_nhwc16;

// True when conv (w, p) has the blocked path: float 3x3 / stride 1 / pad 1 on the Winograd
// algorithm (more than 8 channels both in and out; fewer take the direct NCHW kernel).
inline bool conv2d_blocked_applies(const Tensor<float>& w, const Conv2dParams& p) noexcept {
  return fast::conv3x3_applies(w.shape(), p) && !fast::conv3x3_use_direct(w.dim(1), w.dim(0));
}

// y (NHWC16) = conv(x) + b, then ReLU if relu; x is NCHW (x_nchw) or NHWC16 (x_blocked), exactly
// one non-null. Requires conv2d_blocked_applies(w, p).
inline Nhwc16 conv2d_forward_nhwc16(const Tensor<float>* x_nchw, const Nhwc16* x_blocked, const Tensor<float>& w,
                                    const Tensor<float>& b, bool relu, const Conv2dPrepared<float>* prepared) {
  detail::count_call(KernelId::conv2d_forward);
  return fast::conv3x3_forward_nhwc16(x_nchw, x_blocked, w, b, relu, prepared ? &prepared->filters() : nullptr);
}

inline Nhwc16 max_pool2d_forward_nhwc16(const Nhwc16& x, const Pool2dParams& p) {
  detail::count_call(KernelId::max_pool2d_forward);
  return fast::max_pool2d_nhwc16(x, p);
}

// In place (padding channels included: relu keeps zeros zero).
inline void relu_forward_nhwc16(Nhwc16& x) noexcept { relu_forward(x.data, x.data); }

// y (NCHW) = relu(conv(x) + b): fused into the output transform on the 3x3 path, a separate
// in-place ReLU pass otherwise. y allocated with conv2d_output_shape.
template <class T>
void conv2d_relu_forward(Tensor<T>& y, const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& b, const Conv2dParams& p,
                         const Conv2dPrepared<T>* prepared = nullptr) noexcept {
  if constexpr (std::is_same_v<T, float>) {
    if (fast::conv3x3_applies(w.shape(), p)) {
      detail::count_call(KernelId::conv2d_forward);
      fast::conv3x3_forward(y, x, w, b, true, prepared ? &prepared->filters() : nullptr);
      return;
    }
  }
  conv2d_forward(y, x, w, b, p, prepared);
  relu_forward(y, y);
}

}  // namespace gradattr::kernels
