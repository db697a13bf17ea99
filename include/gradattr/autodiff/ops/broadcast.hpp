#pragma once
// Recorded broadcasting arithmetic and the per-channel affine map.
//
// Broadcast<T, K>: y = a K b (K = add, sub, mul, div) with NumPy/ONNX multidirectional
// broadcasting (kernels/graph_params.hpp). ad::add/sub/mul record it only when the shapes
// differ (equal shapes keep op::Add/Sub/Mul of elementwise.hpp); ad::div always. The backward
// of an operand that was broadcast sums its full-size gradient down to its shape
// (kernels::sum_to); an operand with as many elements as y only takes a reshaped view.
//
// ChannelAffine: y[n, c, ...] = x[n, c, ...] * scale[c] + shift[c], x of rank >= 2 (ONNX
// BatchNormalization at inference, folded to scale = gamma / sqrt(var + eps) and
// shift = beta - mean * scale). Inputs: 0 = x, 1 = scale, 2 = shift.
//
// Expand: y = x broadcast to a shape (ONNX Expand: a ViT's class token repeated over the
// batch); the backward sums dy down to x's shape.
#include <string>

#include "gradattr/autodiff/backward_context.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/kernels/broadcast.hpp"
#include "gradattr/kernels/graph_params.hpp"
#include "gradattr/kernels/pointwise.hpp"

namespace gradattr::ad::op {

namespace broadcast_detail {
constexpr const char* binary_name(kernels::BinaryOp k) {
  switch (k) {
    case kernels::BinaryOp::add: return "add";
    case kernels::BinaryOp::sub: return "sub";
    case kernels::BinaryOp::mul: return "mul";
    default: return "div";
  }
}
// `full` (y's shape) summed down to `shape`, which broadcasts to it.
template <class T>
Tensor<T> reduce_to(const Tensor<T>& full, const Shape& shape, const BackwardContext<T>& ctx) {
  if (shape.numel() == full.numel()) return full.reshape(shape);
  Tensor<T> g = ctx.buffer(shape);
  kernels::sum_to(g, full);
  return g;
}
}  // namespace broadcast_detail

template <class T, kernels::BinaryOp K>
struct Broadcast {
  static constexpr const char* name = broadcast_detail::binary_name(K);
  Shape a_shape, b_shape;
  Tensor<T> a, b;  // mul: each other's derivative; div: b always, a for b's gradient

  Tensor<T> forward(const Tensor<T>& a_, const Tensor<T>& b_) {
    const Shape ys = kernels::broadcast_shape(a_.shape(), b_.shape(), name);
    a_shape = a_.shape();
    b_shape = b_.shape();
    if constexpr (K == kernels::BinaryOp::mul || K == kernels::BinaryOp::div) {
      a = a_;
      b = b_;
    }
    Tensor<T> y = Tensor<T>::uninitialized(ys);
    kernels::binary(y, a_, b_, K);
    return y;
  }

  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    using kernels::BinaryOp;
    auto full = [&](const Tensor<T>& u, const Tensor<T>& v, BinaryOp op) {
      Tensor<T> t = ctx.buffer(dy.shape());
      kernels::binary(t, u, v, op);
      return t;
    };
    if (ctx.needs(0)) {
      if constexpr (K == BinaryOp::add || K == BinaryOp::sub)
        ctx.accumulate(0, broadcast_detail::reduce_to(dy, a_shape, ctx));
      else if constexpr (K == BinaryOp::mul)
        ctx.accumulate(0, broadcast_detail::reduce_to(full(dy, b, BinaryOp::mul), a_shape, ctx));
      else
        ctx.accumulate(0, broadcast_detail::reduce_to(full(dy, b, BinaryOp::div), a_shape, ctx));
    }
    if (ctx.needs(1)) {
      if constexpr (K == BinaryOp::add) {
        ctx.accumulate(1, broadcast_detail::reduce_to(dy, b_shape, ctx));
      } else if constexpr (K == BinaryOp::sub) {
        Tensor<T> g = broadcast_detail::reduce_to(dy, b_shape, ctx);
        Tensor<T> neg = ctx.buffer(b_shape);
        for (std::int64_t i = 0; i < neg.numel(); ++i) neg[i] = -g[i];
        ctx.accumulate(1, std::move(neg));
      } else if constexpr (K == BinaryOp::mul) {
        ctx.accumulate(1, broadcast_detail::reduce_to(full(dy, a, BinaryOp::mul), b_shape, ctx));
      } else {  // d(a / b)/db = -(a / b) / b: -(dy * a / b) / b
        Tensor<T> t = full(full(dy, a, BinaryOp::mul), b, BinaryOp::div);
        Tensor<T> g = ctx.buffer(t.shape());
        kernels::binary(g, t, b, BinaryOp::div);
        Tensor<T> r = broadcast_detail::reduce_to(g, b_shape, ctx);
        Tensor<T> neg = ctx.buffer(b_shape);
        for (std::int64_t i = 0; i < neg.numel(); ++i) neg[i] = -r[i];
        ctx.accumulate(1, std::move(neg));
      }
    }
  }
};

template <class T>
using BroadcastAdd = Broadcast<T, kernels::BinaryOp::add>;
template <class T>
using BroadcastSub = Broadcast<T, kernels::BinaryOp::sub>;
template <class T>
using BroadcastMul = Broadcast<T, kernels::BinaryOp::mul>;
template <class T>
using Div = Broadcast<T, kernels::BinaryOp::div>;

template <class T>
struct ChannelAffine {
  static constexpr const char* name = "channel_affine";
  Tensor<T> x;      // for scale's gradient; dropped by the caller when scale is a constant
  Tensor<T> scale;  // for x's gradient; dropped when x is a constant
  Shape x_shape, c_shape;

  Tensor<T> forward(const Tensor<T>& x_, const Tensor<T>& scale_, const Tensor<T>& shift) {
    const Shape& s = x_.shape();
    if (s.rank() < 2)
      throw ShapeError(std::string(name) + ": input must be [N, C, ...] (rank >= 2), got " + s.str() + " (scale " +
                       scale_.shape().str() + ", shift " + shift.shape().str() + ")");
    const Shape c{s[1]};
    if (scale_.shape() != c || shift.shape() != c)
      throw ShapeError(std::string(name) + ": scale " + scale_.shape().str() + " and shift " + shift.shape().str() +
                       " must both be " + c.str() + " for input " + s.str());
    x = x_;
    scale = scale_;
    x_shape = s;
    c_shape = c;
    Tensor<T> y = Tensor<T>::uninitialized(s);
    kernels::channel_affine_forward(y, x_, scale_, shift);
    return y;
  }

  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    if (ctx.needs(0)) {
      Tensor<T> dx = ctx.buffer(x_shape);
      kernels::channel_affine_backward_data(dx, dy, scale);
      ctx.accumulate(0, std::move(dx));
    }
    if (ctx.needs(1) || ctx.needs(2)) {
      Tensor<T> ds = ctx.needs(1) ? ctx.buffer(c_shape) : Tensor<T>();
      Tensor<T> db = ctx.needs(2) ? ctx.buffer(c_shape) : Tensor<T>();
      kernels::channel_affine_backward_params(ds, db, dy, ctx.needs(1) ? x : dy);
      if (!ds.empty()) ctx.accumulate(1, std::move(ds));
      if (!db.empty()) ctx.accumulate(2, std::move(db));
    }
  }
};

template <class T>
struct Expand {
  static constexpr const char* name = "expand";
  Shape x_shape;

  Tensor<T> forward(const Tensor<T>& x, const Shape& shape) {
    const Shape ys = kernels::expand_output_shape(x.shape(), shape);
    x_shape = x.shape();
    Tensor<T> y = Tensor<T>::uninitialized(ys);
    kernels::expand(y, x);
    return y;
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    if (!ctx.needs(0)) return;
    ctx.accumulate(0, broadcast_detail::reduce_to(dy, x_shape, ctx));
  }
};

}  // namespace gradattr::ad::op
