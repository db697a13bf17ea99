#pragma once
// Recorded ONNX MatMul / numpy.matmul. A 1-D a [K] is promoted to [1, K] and a 1-D b [K] to
// [K, 1], the added dimension removed from the result; batch dimensions broadcast. Inputs:
// 0 = a, 1 = b. Each backward writes the full-batch gradient (kernels/matmul.hpp) and sums it
// down to the operand's shape when its batch dimensions were broadcast (kernels::sum_to), except
// b's for one b shared by an unbroadcast a, which one GEMM writes directly.
#include <algorithm>
#include <string>

#include "gradattr/autodiff/backward_context.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/kernels/broadcast.hpp"
#include "gradattr/kernels/graph_params.hpp"
#include "gradattr/kernels/matmul.hpp"

namespace gradattr::ad::op {

template <class T>
struct MatMul {
  static constexpr const char* name = "matmul";
  Tensor<T> a, b;                          // a for b's gradient, b for a's; the caller drops the unneeded
  Shape a_shape, b_shape;                  // as given
  Shape a_al, b_al, y_full;                // promoted to rank >= 2 and aligned to one rank
  Shape bias_shape;                        // [N] when a bias is added, else empty

  // bias: empty, or [N] (N = the product's last extent) added to every row
  Tensor<T> forward(const Tensor<T>& a_, const Tensor<T>& b_, const Tensor<T>& bias = Tensor<T>()) {
    a_shape = a_.shape();
    b_shape = b_.shape();
    if (a_shape.rank() == 0 || b_shape.rank() == 0)
      throw ShapeError(std::string(name) + ": operands must have rank >= 1, got " + a_shape.str() + " x " + b_shape.str());
    if (a_shape.numel() == 0 || b_shape.numel() == 0)
      throw ShapeError(std::string(name) + ": zero-sized operand in " + a_shape.str() + " x " + b_shape.str());
    const Shape a2 = a_shape.rank() == 1 ? Shape{1, a_shape[0]} : a_shape;
    const Shape b2 = b_shape.rank() == 1 ? Shape{b_shape[0], 1} : b_shape;
    const int r = std::max(a2.rank(), b2.rank());
    auto align = [r](const Shape& s) {
      Shape o;
      for (int i = s.rank(); i < r; ++i) o.push(1);
      for (int i = 0; i < s.rank(); ++i) o.push(s[i]);
      return o;
    };
    a_al = align(a2);
    b_al = align(b2);
    y_full = kernels::matmul_output_shape(a_al, b_al, a_shape, b_shape);
    Shape out;
    for (int i = 0; i < r - 2; ++i) out.push(y_full[i]);
    if (a_shape.rank() > 1) out.push(y_full[r - 2]);
    if (b_shape.rank() > 1) out.push(y_full[r - 1]);
    if (!bias.empty() && (bias.rank() != 1 || bias.dim(0) != y_full[r - 1]))
      throw ShapeError(std::string(name) + ": bias " + bias.shape().str() + " is not [" + std::to_string(y_full[r - 1]) +
                       "] for the product " + a_shape.str() + " x " + b_shape.str());
    bias_shape = bias.shape();
    a = a_;
    b = b_;
    Tensor<T> y = Tensor<T>::uninitialized(y_full);
    kernels::matmul_forward(y, a_.reshape(a_al), b_.reshape(b_al), bias.empty() ? nullptr : bias.data());
    return y.reshape(out);
  }

  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    const Tensor<T> g = dy.reshape(y_full);
    const int r = y_full.rank();
    auto batch_shape = [&](std::int64_t rows, std::int64_t cols) {
      Shape s;
      for (int i = 0; i < r - 2; ++i) s.push(y_full[i]);
      s.push(rows);
      s.push(cols);
      return s;
    };
    auto down = [&](Tensor<T> full, const Shape& aligned, const Shape& given) {
      if (full.numel() == aligned.numel()) return full.reshape(given);
      Tensor<T> s = ctx.buffer(aligned);
      kernels::sum_to(s, full);
      return s.reshape(given);
    };
    if (ctx.needs(0)) {
      Tensor<T> da = ctx.buffer(batch_shape(a_al[r - 2], a_al[r - 1]));
      kernels::matmul_backward_a(da, g, b.reshape(b_al));
      ctx.accumulate(0, down(std::move(da), a_al, a_shape));
    }
    if (ctx.needs(1) && b_al.numel() == b_al[r - 2] * b_al[r - 1] && a_al.numel() * y_full[r - 1] == y_full.numel() * a_al[r - 1]) {
      // one b for every batch, a not broadcast (a Linear layer on tokens): one GEMM over all
      // rows, no full-batch gradient of b's size times the batch count
      Tensor<T> db = ctx.buffer(Shape{b_al[r - 2], b_al[r - 1]});
      kernels::matmul_backward_b_shared(db, g, a.reshape(a_al));
      ctx.accumulate(1, db.reshape(b_shape));
    } else if (ctx.needs(1)) {
      Tensor<T> db = ctx.buffer(batch_shape(b_al[r - 2], b_al[r - 1]));
      kernels::matmul_backward_b(db, g, a.reshape(a_al));
      ctx.accumulate(1, down(std::move(db), b_al, b_shape));
    }
    if (ctx.needs(2)) {  // the bias: dy summed over every row
      Shape ones;
      for (int i = 0; i < r - 1; ++i) ones.push(1);
      ones.push(y_full[r - 1]);
      Tensor<T> dbias = ctx.buffer(ones);
      kernels::sum_to(dbias, g);
      ctx.accumulate(2, dbias.reshape(bias_shape));
    }
  }
};

}  // namespace gradattr::ad::op
