#pragma once
// Recorded row-wise softmax and log-softmax of logits [N, C]. Both save their output, which
// is all their backward needs (docs/methods.md §1: never log(softmax); the kernels use log-sum-exp).
#include <string>

#include "gradattr/autodiff/backward_context.hpp"
#include "gradattr/kernels/softmax.hpp"

namespace gradattr::ad::op {

namespace detail {
inline void require_logits(const Shape& s, const char* op) {
  if (s.rank() != 2 || s[0] == 0 || s[1] == 0)
    throw ShapeError(std::string(op) + ": input must be non-empty logits [N, C], got " + s.str());
}
}  // namespace detail

template <class T>
struct Softmax {
  static constexpr const char* name = "softmax";
  Tensor<T> y;

  Tensor<T> forward(const Tensor<T>& x) {
    detail::require_logits(x.shape(), name);
    y = Tensor<T>::uninitialized(x.shape());
    kernels::softmax(y, x);
    return y;
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    if (!ctx.needs(0)) return;
    Tensor<T> dx = ctx.buffer(dy.shape());
    kernels::softmax_backward(dx, dy, y);
    ctx.accumulate(0, std::move(dx));
  }
};

template <class T>
struct LogSoftmax {
  static constexpr const char* name = "log_softmax";
  Tensor<T> ly;

  Tensor<T> forward(const Tensor<T>& x) {
    detail::require_logits(x.shape(), name);
    ly = Tensor<T>::uninitialized(x.shape());
    kernels::log_softmax(ly, x);
    return ly;
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    if (!ctx.needs(0)) return;
    Tensor<T> dx = ctx.buffer(dy.shape());
    kernels::log_softmax_backward(dx, dy, ly);
    ctx.accumulate(0, std::move(dx));
  }
};

}  // namespace gradattr::ad::op
