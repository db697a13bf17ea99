#pragma once
// Recorded reductions: sum and mean of all elements (to a rank-0 scalar), and sum over
// dimension 1 ([N, C] -> [N], [N, C, H, W] -> [N, H, W]: the channel sum of docs/methods.md §4).
#include <cstdint>
#include <string>

#include "gradattr/autodiff/backward_context.hpp"
#include "gradattr/core/tensor.hpp"

namespace gradattr::ad::op {

template <class T>
struct Sum {
  static constexpr const char* name = "sum";
  Shape x_shape;
  Tensor<T> forward(const Tensor<T>& x) {
    x_shape = x.shape();
    T s = 0;
    for (std::int64_t i = 0; i < x.numel(); ++i) s += x[i];
    return Tensor<T>::scalar(s);
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    if (!ctx.needs(0)) return;
    Tensor<T> dx = ctx.buffer(x_shape);
    dx.fill(dy[0]);
    ctx.accumulate(0, std::move(dx));
  }
};

template <class T>
struct Mean {
  static constexpr const char* name = "mean";
  Shape x_shape;
  Tensor<T> forward(const Tensor<T>& x) {
    if (x.numel() == 0) throw ShapeError(std::string(name) + ": input " + x.shape().str() + " has no elements");
    x_shape = x.shape();
    T s = 0;
    for (std::int64_t i = 0; i < x.numel(); ++i) s += x[i];
    return Tensor<T>::scalar(s / static_cast<T>(x.numel()));
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    if (!ctx.needs(0)) return;
    Tensor<T> dx = ctx.buffer(x_shape);
    dx.fill(dy[0] / static_cast<T>(x_shape.numel()));
    ctx.accumulate(0, std::move(dx));
  }
};

// y[n, ...] = Σ_c x[n, c, ...]
template <class T>
struct SumDim1 {
  static constexpr const char* name = "sum_dim1";
  Shape x_shape;
  Tensor<T> forward(const Tensor<T>& x) {
    const Shape& s = x.shape();
    if (s.rank() < 2) throw ShapeError(std::string(name) + ": input must have rank 2 to 4, got " + s.str());
    x_shape = s;
    Shape ys;
    ys.push(s[0]);
    for (int i = 2; i < s.rank(); ++i) ys.push(s[i]);
    const std::int64_t N = s[0], C = s[1], inner = s.stride(1);
    Tensor<T> y(ys);  // zero-filled: accumulated over c
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t c = 0; c < C; ++c)
        for (std::int64_t k = 0; k < inner; ++k) y[n * inner + k] += x[(n * C + c) * inner + k];
    return y;
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    if (!ctx.needs(0)) return;
    const std::int64_t N = x_shape[0], C = x_shape[1], inner = x_shape.stride(1);
    Tensor<T> dx = ctx.buffer(x_shape);
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t c = 0; c < C; ++c)
        for (std::int64_t k = 0; k < inner; ++k) dx[(n * C + c) * inner + k] = dy[n * inner + k];
    ctx.accumulate(0, std::move(dx));
  }
};

}  // namespace gradattr::ad::op
