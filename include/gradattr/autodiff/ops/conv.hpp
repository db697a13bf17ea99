#pragma once
// Recorded conv2d (torch.nn.functional.conv2d / ONNX Conv: stride, asymmetric padding,
// dilation, groups; kernels/params.hpp). Inputs: 0 = x,
// 1 = w, 2 = b (b may be an empty constant: no bias). Backward-data and backward-weights are
// separate kernel calls, each made only when ctx.needs() its input.
#include <string>

#include "gradattr/autodiff/backward_context.hpp"
#include "gradattr/kernels/conv2d.hpp"
#include "gradattr/kernels/params.hpp"

namespace gradattr::ad::op {

template <class T>
struct Conv2d {
  static constexpr const char* name = "conv2d";
  kernels::Conv2dParams p;
  // Pre-transformed weights for the fast kernels, or null. Not owned: the weights' owner
  // (nn::Conv2d) keeps it alive for as long as a tape that recorded it may run backward.
  const kernels::Conv2dPrepared<T>* prepared = nullptr;
  Tensor<T> x;  // for backward-weights; the caller drops it when w and b are constants
  Tensor<T> w;  // for backward-data; the caller drops it when x is a constant
  Shape x_shape, w_shape;  // kept even when x or w is dropped
  bool has_bias = false;

  Tensor<T> forward(const Tensor<T>& x_, const Tensor<T>& w_, const Tensor<T>& b) {
    const Shape ys = kernels::conv2d_output_shape(x_.shape(), w_.shape(), p);
    if (!b.empty() && b.shape() != Shape{w_.dim(0)})
      throw ShapeError(std::string(name) + ": bias " + b.shape().str() + " does not match weight " + w_.shape().str() +
                       " (expects [" + std::to_string(w_.dim(0)) + "])");
    x = x_;
    w = w_;
    x_shape = x_.shape();
    w_shape = w_.shape();
    has_bias = !b.empty();
    Tensor<T> y = Tensor<T>::uninitialized(ys);
    kernels::conv2d_forward(y, x, w, b, p, prepared);
    return y;
  }

  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    if (ctx.needs(0)) {
      Tensor<T> dx = ctx.buffer(x_shape);
      kernels::conv2d_backward_data(dx, dy, w, p, prepared);
      ctx.accumulate(0, std::move(dx));
    }
    if (ctx.needs(1) || ctx.needs(2)) {
      // The kernel always produces dw; db only when asked (an empty db = not computed).
      Tensor<T> dw = ctx.buffer(w_shape);
      Tensor<T> db = has_bias && ctx.needs(2) ? ctx.buffer(Shape{dw.dim(0)}) : Tensor<T>();
      kernels::conv2d_backward_weights(dw, db, dy, x, p);
      ctx.accumulate(1, std::move(dw));
      if (!db.empty()) ctx.accumulate(2, std::move(db));
    }
  }
};

}  // namespace gradattr::ad::op
