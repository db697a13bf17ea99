#pragma once
// Recorded softmax and log-softmax along any axis of any rank (a ViT's attention: the last axis
// of [B, heads, T, T]). The 2-D row-wise ops of softmax.hpp stay as they are. Both save their
// output, which is all their backward needs (kernels/softmax_axis.hpp).
#include <string>

#include "gradattr/autodiff/backward_context.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/kernels/graph_params.hpp"
#include "gradattr/kernels/softmax_axis.hpp"

namespace gradattr::ad::op {

template <class T, bool Log>
struct SoftmaxAlong {
  static constexpr const char* name = Log ? "log_softmax" : "softmax";
  int axis = 0;
  Tensor<T> y;

  Tensor<T> forward(const Tensor<T>& x, std::int64_t axis_arg) {
    if (x.rank() == 0) throw ShapeError(std::string(name) + ": input is a scalar " + x.shape().str());
    axis = kernels::normalize_axis(axis_arg, x.rank(), name, x.shape());
    if (x.numel() == 0) throw ShapeError(std::string(name) + ": input " + x.shape().str() + " has no elements");
    y = Tensor<T>::uninitialized(x.shape());
    if constexpr (Log)
      kernels::log_softmax_axis(y, x, axis);
    else
      kernels::softmax_axis(y, x, axis);
    return y;
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    if (!ctx.needs(0)) return;
    Tensor<T> dx = ctx.buffer(dy.shape());
    if constexpr (Log)
      kernels::log_softmax_axis_backward(dx, dy, y, axis);
    else
      kernels::softmax_axis_backward(dx, dy, y, axis);
    ctx.accumulate(0, std::move(dx));
  }
};

template <class T>
using SoftmaxAxis = SoftmaxAlong<T, false>;
template <class T>
using LogSoftmaxAxis = SoftmaxAlong<T, true>;

}  // namespace gradattr::ad::op
