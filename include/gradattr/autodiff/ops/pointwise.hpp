#pragma once
// Recorded elementwise activations of the graph models, any shape. clip (ONNX Clip; relu6),
// sigmoid, hard_sigmoid (ONNX HardSigmoid), hard_swish run the kernels of
// kernels/pointwise.hpp (fast float path; gradient conventions at the kinks stated in
// kernels/reference/pointwise.hpp: PyTorch's), as do erf and gelu (exact erf form,
// torch.nn.GELU(); a ViT's MLP) and silu (x sigmoid(x); EfficientNet). tanh, sqrt and pow_scalar are plain loops here: no hot path.
#include <cmath>

#include "gradattr/autodiff/backward_context.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/kernels/pointwise.hpp"

namespace gradattr::ad::op {

// y = min(max(x, lo), hi); dy/dx = 1 strictly inside (lo, hi), 0 elsewhere (hardtanh's rule).
template <class T>
struct Clip {
  static constexpr const char* name = "clip";
  T lo{}, hi{};
  Tensor<T> x;
  Tensor<T> forward(const Tensor<T>& x_) {
    x = x_;
    Tensor<T> y = Tensor<T>::uninitialized(x_.shape());
    kernels::clip_forward(y, x_, lo, hi);
    return y;
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    if (!ctx.needs(0)) return;
    Tensor<T> dx = ctx.buffer(dy.shape());
    kernels::clip_backward(dx, dy, x, lo, hi);
    ctx.accumulate(0, std::move(dx));
  }
};

template <class T>
struct Sigmoid {
  static constexpr const char* name = "sigmoid";
  Tensor<T> y;
  Tensor<T> forward(const Tensor<T>& x) {
    y = Tensor<T>::uninitialized(x.shape());
    kernels::sigmoid_forward(y, x);
    return y;
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    if (!ctx.needs(0)) return;
    Tensor<T> dx = ctx.buffer(dy.shape());
    kernels::sigmoid_backward(dx, dy, y);
    ctx.accumulate(0, std::move(dx));
  }
};

// y = max(0, min(1, alpha x + beta))
template <class T>
struct HardSigmoid {
  static constexpr const char* name = "hard_sigmoid";
  T alpha{}, beta{};
  Tensor<T> x;
  Tensor<T> forward(const Tensor<T>& x_) {
    x = x_;
    Tensor<T> y = Tensor<T>::uninitialized(x_.shape());
    kernels::hard_sigmoid_forward(y, x_, alpha, beta);
    return y;
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    if (!ctx.needs(0)) return;
    Tensor<T> dx = ctx.buffer(dy.shape());
    kernels::hard_sigmoid_backward(dx, dy, x, alpha, beta);
    ctx.accumulate(0, std::move(dx));
  }
};

namespace pointwise_detail {
// An op y = f(x) with the kernels f_forward(y, x) and f_backward(dx, dy, x).
template <class T, class Derived>
struct KernelUnary {
  Tensor<T> x;
  Tensor<T> forward(const Tensor<T>& x_) {
    x = x_;
    Tensor<T> y = Tensor<T>::uninitialized(x_.shape());
    Derived::run_forward(y, x_);
    return y;
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    if (!ctx.needs(0)) return;
    Tensor<T> dx = ctx.buffer(dy.shape());
    Derived::run_backward(dx, dy, x);
    ctx.accumulate(0, std::move(dx));
  }
};
}  // namespace pointwise_detail

// y = x hard_sigmoid(x, 1/6, 1/2)
template <class T>
struct HardSwish : pointwise_detail::KernelUnary<T, HardSwish<T>> {
  static constexpr const char* name = "hard_swish";
  static void run_forward(Tensor<T>& y, const Tensor<T>& x) { kernels::hard_swish_forward(y, x); }
  static void run_backward(Tensor<T>& dx, const Tensor<T>& dy, const Tensor<T>& x) { kernels::hard_swish_backward(dx, dy, x); }
};

namespace pointwise_detail {
// An op y = f(x) whose derivative is d(x, y): Derived provides value(x) and slope(x, y).
template <class T, class Derived>
struct Unary {
  Tensor<T> x, y;
  Tensor<T> forward(const Tensor<T>& x_) {
    x = x_;
    y = Tensor<T>::uninitialized(x_.shape());
    for (std::int64_t i = 0; i < y.numel(); ++i) y[i] = static_cast<const Derived*>(this)->value(x_[i]);
    return y;
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    if (!ctx.needs(0)) return;
    Tensor<T> dx = ctx.buffer(dy.shape());
    for (std::int64_t i = 0; i < dx.numel(); ++i) dx[i] = dy[i] * static_cast<const Derived*>(this)->slope(x[i], y[i]);
    ctx.accumulate(0, std::move(dx));
  }
};
}  // namespace pointwise_detail

template <class T>
struct Tanh : pointwise_detail::Unary<T, Tanh<T>> {
  static constexpr const char* name = "tanh";
  T value(T x) const { return std::tanh(x); }
  T slope(T, T y) const { return T{1} - y * y; }
};

template <class T>
struct Erf : pointwise_detail::KernelUnary<T, Erf<T>> {
  static constexpr const char* name = "erf";
  static void run_forward(Tensor<T>& y, const Tensor<T>& x) { kernels::erf_forward(y, x); }
  static void run_backward(Tensor<T>& dx, const Tensor<T>& dy, const Tensor<T>& x) { kernels::erf_backward(dx, dy, x); }
};

// sqrt of a negative input is NaN, as std::sqrt; its gradient at 0 is +inf (torch's).
template <class T>
struct Sqrt : pointwise_detail::Unary<T, Sqrt<T>> {
  static constexpr const char* name = "sqrt";
  T value(T x) const { return std::sqrt(x); }
  T slope(T, T y) const { return T{1} / (T{2} * y); }
};

// y = x^p (std::pow: a negative x with a non-integer p is NaN); dy/dx = p x^(p - 1), 0 for p = 0.
template <class T>
struct PowScalar : pointwise_detail::Unary<T, PowScalar<T>> {
  static constexpr const char* name = "pow_scalar";
  T p{};
  T value(T x) const { return std::pow(x, p); }
  T slope(T x, T) const { return p == T{0} ? T{0} : p * std::pow(x, p - T{1}); }
};

// y = x Φ(x) = x (1 + erf(x / √2)) / 2; dy/dx = Φ(x) + x φ(x), φ the standard normal density.
template <class T>
struct Gelu : pointwise_detail::KernelUnary<T, Gelu<T>> {
  static constexpr const char* name = "gelu";
  static void run_forward(Tensor<T>& y, const Tensor<T>& x) { kernels::gelu_forward(y, x); }
  static void run_backward(Tensor<T>& dx, const Tensor<T>& dy, const Tensor<T>& x) { kernels::gelu_backward(dx, dy, x); }
};

// y = x σ(x) (SiLU, swish); dy/dx = σ(x) + x σ(x) (1 − σ(x)).
template <class T>
struct Silu : pointwise_detail::KernelUnary<T, Silu<T>> {
  static constexpr const char* name = "silu";
  static void run_forward(Tensor<T>& y, const Tensor<T>& x) { kernels::silu_forward(y, x); }
  static void run_backward(Tensor<T>& dx, const Tensor<T>& dy, const Tensor<T>& x) { kernels::silu_backward(dx, dy, x); }
};

}  // namespace gradattr::ad::op
