#pragma once
// conv2d kernels as the rest of the library calls them. float goes to the fast path when one
// exists for the shape; double (gradient checks) and unsupported shapes use the reference.
// Outputs must be allocated with kernels::conv2d_output_shape; outputs are assigned.
#include "gradattr/kernels/call_counts.hpp"
#include "gradattr/kernels/params.hpp"
#include "gradattr/kernels/reference/conv2d.hpp"

namespace gradattr::kernels {

// y [N, Co, OH, OW] = x [N, Ci, H, W] (*) w [Co, Ci, KH, KW] + b [Co] (b may be empty)
template <class T>
void conv2d_forward(Tensor<T>& y, const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& b,
                    const Conv2dParams& p) noexcept {
  detail::count_call(KernelId::conv2d_forward);
  reference::conv2d_forward(y, x, w, b, p);
}

// dx [N, Ci, H, W] from dy [N, Co, OH, OW]
template <class T>
void conv2d_backward_data(Tensor<T>& dx, const Tensor<T>& dy, const Tensor<T>& w, const Conv2dParams& p) noexcept {
  detail::count_call(KernelId::conv2d_backward_data);
  reference::conv2d_backward_data(dx, dy, w, p);
}

// dw [Co, Ci, KH, KW], db [Co] (may be empty) from dy and x
template <class T>
void conv2d_backward_weights(Tensor<T>& dw, Tensor<T>& db, const Tensor<T>& dy, const Tensor<T>& x,
                             const Conv2dParams& p) noexcept {
  detail::count_call(KernelId::conv2d_backward_weights);
  reference::conv2d_backward_weights(dw, db, dy, x, p);
}

}  // namespace gradattr::kernels
