#pragma once
// Recorded pooling: max_pool2d (saves only the argmax), avg_pool2d and adaptive_avg_pool2d
// (save only the input shape).
#include <cstdint>

#include "gradattr/autodiff/backward_context.hpp"
#include "gradattr/kernels/params.hpp"
#include "gradattr/kernels/pool.hpp"

namespace gradattr::ad::op {

template <class T>
struct MaxPool2d {
  static constexpr const char* name = "max_pool2d";
  kernels::Pool2dParams p;
  Shape x_shape;
  Tensor<std::int32_t> argmax;  // where each output came from: the whole of backward

  Tensor<T> forward(const Tensor<T>& x) {
    const Shape ys = kernels::pool2d_output_shape(x.shape(), p);
    x_shape = x.shape();
    Tensor<T> y = Tensor<T>::uninitialized(ys);
    argmax = Tensor<std::int32_t>::uninitialized(ys);
    kernels::max_pool2d_forward(y, argmax, x, p);
    return y;
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    if (!ctx.needs(0)) return;
    Tensor<T> dx = ctx.buffer(x_shape);
    kernels::max_pool2d_backward(dx, dy, argmax);
    ctx.accumulate(0, std::move(dx));
  }
};

// ONNX AveragePool / torch avg_pool2d; the divisor rule is reference::avg_window's
// (kernels/reference/pool.hpp).
template <class T>
struct AvgPool2d {
  static constexpr const char* name = "avg_pool2d";
  kernels::Pool2dParams p;
  bool count_include_pad = false;
  Shape x_shape;

  Tensor<T> forward(const Tensor<T>& x) {
    const Shape ys = kernels::pool2d_output_shape(x.shape(), p, name);
    x_shape = x.shape();
    Tensor<T> y = Tensor<T>::uninitialized(ys);
    kernels::avg_pool2d_forward(y, x, p, count_include_pad);
    return y;
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    if (!ctx.needs(0)) return;
    Tensor<T> dx = ctx.buffer(x_shape);
    kernels::avg_pool2d_backward(dx, dy, p, count_include_pad);
    ctx.accumulate(0, std::move(dx));
  }
};

template <class T>
struct AdaptiveAvgPool2d {
  static constexpr const char* name = "adaptive_avg_pool2d";
  std::int64_t out_h = 1, out_w = 1;
  Shape x_shape;

  Tensor<T> forward(const Tensor<T>& x) {
    const Shape ys = kernels::adaptive_pool2d_output_shape(x.shape(), out_h, out_w);
    x_shape = x.shape();
    Tensor<T> y = Tensor<T>::uninitialized(ys);
    kernels::adaptive_avg_pool2d_forward(y, x);
    return y;
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    if (!ctx.needs(0)) return;
    Tensor<T> dx = ctx.buffer(x_shape);
    kernels::adaptive_avg_pool2d_backward(dx, dy);
    ctx.accumulate(0, std::move(dx));
  }
};

}  // namespace gradattr::ad::op
