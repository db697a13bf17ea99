#pragma once
// Per-channel affine map and graph activations as the library calls them (see conv2d.hpp for
// the dispatch rule). x [N, C, ...] for channel_affine, scale and shift [C]; any shape for the
// activations. Outputs assigned; shapes validated by the caller.
#include <type_traits>

#include "gradattr/kernels/fast/pointwise.hpp"
#include "gradattr/kernels/reference/pointwise.hpp"

namespace gradattr::kernels {

#define GRADATTR_POINTWISE_DISPATCH(fn, params, args)        \
  template <class T>                                         \
  void fn params noexcept {                                  \
    if constexpr (std::is_same_v<T, float>)                  \
      fast::fn<xsimd::default_arch> args;                    \
    else                                                     \
      reference::fn args;                                    \
  }

GRADATTR_POINTWISE_DISPATCH(channel_affine_forward,
                            (Tensor<T> & y, const Tensor<T>& x, const Tensor<T>& scale, const Tensor<T>& shift),
                            (y, x, scale, shift))
GRADATTR_POINTWISE_DISPATCH(channel_affine_backward_data, (Tensor<T> & dx, const Tensor<T>& dy, const Tensor<T>& scale),
                            (dx, dy, scale))
GRADATTR_POINTWISE_DISPATCH(channel_affine_backward_params,
                            (Tensor<T> & dscale, Tensor<T>& dshift, const Tensor<T>& dy, const Tensor<T>& x),
                            (dscale, dshift, dy, x))
GRADATTR_POINTWISE_DISPATCH(clip_forward, (Tensor<T> & y, const Tensor<T>& x, T lo, T hi), (y, x, lo, hi))
GRADATTR_POINTWISE_DISPATCH(clip_backward, (Tensor<T> & dx, const Tensor<T>& dy, const Tensor<T>& x, T lo, T hi),
                            (dx, dy, x, lo, hi))
GRADATTR_POINTWISE_DISPATCH(sigmoid_forward, (Tensor<T> & y, const Tensor<T>& x), (y, x))
GRADATTR_POINTWISE_DISPATCH(sigmoid_backward, (Tensor<T> & dx, const Tensor<T>& dy, const Tensor<T>& y), (dx, dy, y))
GRADATTR_POINTWISE_DISPATCH(hard_sigmoid_forward, (Tensor<T> & y, const Tensor<T>& x, T alpha, T beta),
                            (y, x, alpha, beta))
GRADATTR_POINTWISE_DISPATCH(hard_sigmoid_backward,
                            (Tensor<T> & dx, const Tensor<T>& dy, const Tensor<T>& x, T alpha, T beta),
                            (dx, dy, x, alpha, beta))
GRADATTR_POINTWISE_DISPATCH(hard_swish_forward, (Tensor<T> & y, const Tensor<T>& x), (y, x))
GRADATTR_POINTWISE_DISPATCH(hard_swish_backward, (Tensor<T> & dx, const Tensor<T>& dy, const Tensor<T>& x),
                            (dx, dy, x))
GRADATTR_POINTWISE_DISPATCH(erf_forward, (Tensor<T> & y, const Tensor<T>& x), (y, x))
GRADATTR_POINTWISE_DISPATCH(erf_backward, (Tensor<T> & dx, const Tensor<T>& dy, const Tensor<T>& x), (dx, dy, x))
GRADATTR_POINTWISE_DISPATCH(gelu_forward, (Tensor<T> & y, const Tensor<T>& x), (y, x))
GRADATTR_POINTWISE_DISPATCH(gelu_backward, (Tensor<T> & dx, const Tensor<T>& dy, const Tensor<T>& x), (dx, dy, x))
GRADATTR_POINTWISE_DISPATCH(silu_forward, (Tensor<T> & y, const Tensor<T>& x), (y, x))
GRADATTR_POINTWISE_DISPATCH(silu_backward, (Tensor<T> & dx, const Tensor<T>& dy, const Tensor<T>& x), (dx, dy, x))

#undef GRADATTR_POINTWISE_DISPATCH

}  // namespace gradattr::kernels
