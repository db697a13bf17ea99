#pragma once
// Recorded ReLU. It saves its output, which is also its mask (y > 0 exactly where x > 0).
#include "gradattr/autodiff/backward_context.hpp"
#include "gradattr/kernels/activation.hpp"

namespace gradattr::ad::op {

template <class T>
struct Relu {
  static constexpr const char* name = "relu";
  Tensor<T> y;

  Tensor<T> forward(const Tensor<T>& x) {
    y = Tensor<T>::uninitialized(x.shape());
    kernels::relu_forward(y, x);
    return y;
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    if (!ctx.needs(0)) return;
    Tensor<T> dx = ctx.buffer(dy.shape());
    kernels::relu_backward(dx, dy, y);
    ctx.accumulate(0, std::move(dx));
  }
};

}  // namespace gradattr::ad::op
