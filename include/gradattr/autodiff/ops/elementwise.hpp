#pragma once
// Recorded elementwise ops: add, sub, mul of equal shapes (forward on kernels::binary's fast
// float path; ad::add/sub/mul of other shapes record ops/broadcast.hpp instead), add_column
// (a [N] or [N, 1] column broadcast over the columns of [N, C]), scale and add_scalar, exp, log.
//
// Every op struct in gradattr::ad::op has the same shape (see tape.hpp for the closed set):
//  - `name`, used in error messages;
//  - `forward(inputs...)`: validates shapes (throwing ShapeError naming the op and the shapes),
//    computes the output, and fills the fields backward needs (and nothing else);
//  - `backward(dy, ctx)`: computes the gradient of each input that ctx.needs().
#include <cmath>
#include <cstdint>
#include <string>

#include "gradattr/autodiff/backward_context.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/kernels/broadcast.hpp"

namespace gradattr::ad::op {

template <class T>
struct Add {
  static constexpr const char* name = "add";
  Tensor<T> forward(const Tensor<T>& a, const Tensor<T>& b) {
    require_same_shape(a, b, name);
    Tensor<T> y = Tensor<T>::uninitialized(a.shape());
    kernels::binary(y, a, b, kernels::BinaryOp::add);
    return y;
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    ctx.accumulate(0, dy);
    ctx.accumulate(1, dy);
  }
};

template <class T>
struct Sub {
  static constexpr const char* name = "sub";
  Tensor<T> forward(const Tensor<T>& a, const Tensor<T>& b) {
    require_same_shape(a, b, name);
    Tensor<T> y = Tensor<T>::uninitialized(a.shape());
    kernels::binary(y, a, b, kernels::BinaryOp::sub);
    return y;
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    ctx.accumulate(0, dy);
    if (ctx.needs(1)) {
      Tensor<T> db = ctx.buffer(dy.shape());
      for (std::int64_t i = 0; i < db.numel(); ++i) db[i] = -dy[i];
      ctx.accumulate(1, std::move(db));
    }
  }
};

template <class T>
struct Mul {
  static constexpr const char* name = "mul";
  Tensor<T> a, b;  // each factor is the other's derivative
  Tensor<T> forward(const Tensor<T>& a_, const Tensor<T>& b_) {
    require_same_shape(a_, b_, name);
    a = a_;
    b = b_;
    Tensor<T> y = Tensor<T>::uninitialized(a.shape());
    kernels::binary(y, a, b, kernels::BinaryOp::mul);
    return y;
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    if (ctx.needs(0)) {
      Tensor<T> da = ctx.buffer(dy.shape());
      for (std::int64_t i = 0; i < da.numel(); ++i) da[i] = dy[i] * b[i];
      ctx.accumulate(0, std::move(da));
    }
    if (ctx.needs(1)) {
      Tensor<T> db = ctx.buffer(dy.shape());
      for (std::int64_t i = 0; i < db.numel(); ++i) db[i] = dy[i] * a[i];
      ctx.accumulate(1, std::move(db));
    }
  }
};

// y[n, c] = x[n, c] + col[n]: the "shifted model" z + t(x)·1 of docs/methods.md §4.
template <class T>
struct AddColumn {
  static constexpr const char* name = "add_column";
  Shape col_shape;
  Tensor<T> forward(const Tensor<T>& x, const Tensor<T>& col) {
    const Shape& s = x.shape();
    const Shape& c = col.shape();
    if (s.rank() != 2)
      throw ShapeError(std::string(name) + ": input must be [N, C], got " + s.str() + " (column " + c.str() + ")");
    const bool ok = (c.rank() == 1 && c[0] == s[0]) || (c.rank() == 2 && c[0] == s[0] && c[1] == 1);
    if (!ok)
      throw ShapeError(std::string(name) + ": column " + c.str() + " does not fit input " + s.str() + " (expects [" +
                       std::to_string(s[0]) + "] or [" + std::to_string(s[0]) + ", 1])");
    col_shape = c;
    const std::int64_t N = s[0], C = s[1];
    Tensor<T> y = Tensor<T>::uninitialized(s);
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t k = 0; k < C; ++k) y[n * C + k] = x[n * C + k] + col[n];
    return y;
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    ctx.accumulate(0, dy);
    if (ctx.needs(1)) {
      const std::int64_t N = dy.dim(0), C = dy.dim(1);
      Tensor<T> dcol = ctx.buffer(col_shape);
      for (std::int64_t n = 0; n < N; ++n) {
        T s = 0;
        for (std::int64_t k = 0; k < C; ++k) s += dy[n * C + k];
        dcol[n] = s;
      }
      ctx.accumulate(1, std::move(dcol));
    }
  }
};

// y = s · x
template <class T>
struct Scale {
  static constexpr const char* name = "scale";
  T s{};
  Tensor<T> forward(const Tensor<T>& x) {
    Tensor<T> y = Tensor<T>::uninitialized(x.shape());
    for (std::int64_t i = 0; i < y.numel(); ++i) y[i] = s * x[i];
    return y;
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    if (!ctx.needs(0)) return;
    Tensor<T> dx = ctx.buffer(dy.shape());
    for (std::int64_t i = 0; i < dx.numel(); ++i) dx[i] = s * dy[i];
    ctx.accumulate(0, std::move(dx));
  }
};

// y = x + s
template <class T>
struct AddScalar {
  static constexpr const char* name = "add_scalar";
  T s{};
  Tensor<T> forward(const Tensor<T>& x) {
    Tensor<T> y = Tensor<T>::uninitialized(x.shape());
    for (std::int64_t i = 0; i < y.numel(); ++i) y[i] = x[i] + s;
    return y;
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const { ctx.accumulate(0, dy); }
};

template <class T>
struct Exp {
  static constexpr const char* name = "exp";
  Tensor<T> y;  // d exp(x) = exp(x) dx
  Tensor<T> forward(const Tensor<T>& x) {
    y = Tensor<T>::uninitialized(x.shape());
    for (std::int64_t i = 0; i < y.numel(); ++i) y[i] = std::exp(x[i]);
    return y;
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    if (!ctx.needs(0)) return;
    Tensor<T> dx = ctx.buffer(dy.shape());
    for (std::int64_t i = 0; i < dx.numel(); ++i) dx[i] = dy[i] * y[i];
    ctx.accumulate(0, std::move(dx));
  }
};

// Natural log; non-positive inputs give NaN / -inf as std::log (no check: a value, not a shape).
template <class T>
struct Log {
  static constexpr const char* name = "log";
  Tensor<T> x;  // d log(x) = dx / x
  Tensor<T> forward(const Tensor<T>& x_) {
    x = x_;
    Tensor<T> y = Tensor<T>::uninitialized(x.shape());
    for (std::int64_t i = 0; i < y.numel(); ++i) y[i] = std::log(x[i]);
    return y;
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    if (!ctx.needs(0)) return;
    Tensor<T> dx = ctx.buffer(dy.shape());
    for (std::int64_t i = 0; i < dx.numel(); ++i) dx[i] = dy[i] / x[i];
    ctx.accumulate(0, std::move(dx));
  }
};

}  // namespace gradattr::ad::op
