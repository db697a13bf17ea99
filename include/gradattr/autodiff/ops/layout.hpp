#pragma once
// Recorded ops of the graph models that move elements: concat (any axis), transpose (ONNX
// Transpose), pad (ONNX Pad, constant mode, non-negative pads) and slice (ONNX Slice, positive
// steps). Shapes and arguments are checked in kernels/graph_params.hpp; the copies are
// kernels/layout.hpp. Each backward is the adjoint copy: concat's takes each input's part of
// dy, transpose's applies the inverse permutation, pad's gathers the interior, slice's scatters
// dy into zeros. GatherAxis (ONNX Gather with constant indices: a ViT's class token `x[:, 0]`)
// copies slabs along an axis; its backward scatter-adds dy's slabs into zeros.
#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "gradattr/autodiff/backward_context.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/kernels/graph_params.hpp"
#include "gradattr/kernels/layout.hpp"

namespace gradattr::ad::op {

template <class T>
struct Concat {
  static constexpr const char* name = "concat";
  int axis = 0;
  std::vector<Shape> shapes;           // of each input
  std::vector<std::int64_t> offsets;   // where each input starts along the axis

  Tensor<T> forward(std::span<const Tensor<T>* const> xs, std::int64_t axis_arg) {
    std::vector<const Shape*> ss;
    for (const Tensor<T>* x : xs) ss.push_back(&x->shape());
    const Shape ys = kernels::concat_output_shape(ss, axis, axis_arg);
    shapes.clear();
    offsets.clear();
    std::int64_t at = 0;
    for (const Tensor<T>* x : xs) {
      shapes.push_back(x->shape());
      offsets.push_back(at);
      at += x->dim(axis);
    }
    Tensor<T> y = Tensor<T>::uninitialized(ys);
    kernels::concat(y, xs, axis);
    return y;
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    for (std::size_t i = 0; i < shapes.size(); ++i) {
      if (!ctx.needs(i)) continue;
      Tensor<T> dx = ctx.buffer(shapes[i]);
      kernels::concat_part(dx, dy, axis, offsets[i]);
      ctx.accumulate(i, std::move(dx));
    }
  }
};

template <class T>
struct Transpose {
  static constexpr const char* name = "transpose";
  Shape x_shape;
  std::vector<std::int64_t> inverse;  // perm^-1
  bool as_reshape = false;            // kernels::transpose_keeps_order: a view, as Reshape

  Tensor<T> forward(const Tensor<T>& x, std::vector<std::int64_t> perm) {
    const Shape ys = kernels::transpose_output_shape(x.shape(), perm);
    x_shape = x.shape();
    inverse.assign(perm.size(), 0);
    for (std::size_t k = 0; k < perm.size(); ++k) inverse[static_cast<std::size_t>(perm[k])] = static_cast<std::int64_t>(k);
    as_reshape = kernels::transpose_keeps_order(x_shape, perm);
    if (as_reshape) return x.reshape(ys);  // no copy: the elements' order does not change
    Tensor<T> y = Tensor<T>::uninitialized(ys);
    kernels::transpose(y, x, std::span<const std::int64_t>(perm));
    return y;
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    if (!ctx.needs(0)) return;
    if (as_reshape) {
      ctx.accumulate(0, dy.reshape(x_shape));
      return;
    }
    Tensor<T> dx = ctx.buffer(x_shape);
    kernels::transpose(dx, dy, std::span<const std::int64_t>(inverse));
    ctx.accumulate(0, std::move(dx));
  }
};

template <class T>
struct Pad {
  static constexpr const char* name = "pad";
  Shape x_shape;
  std::array<std::int64_t, Shape::kMaxRank> begin{}, ones{1, 1, 1, 1};

  Tensor<T> forward(const Tensor<T>& x, const std::vector<std::int64_t>& pads, T value) {
    const Shape ys = kernels::pad_output_shape(x.shape(), pads);
    x_shape = x.shape();
    for (int d = 0; d < x.rank(); ++d) begin[static_cast<std::size_t>(d)] = pads[static_cast<std::size_t>(d)];
    Tensor<T> y(ys, value);
    kernels::strided_scatter(y, x, begin, ones);
    return y;
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    if (!ctx.needs(0)) return;
    Tensor<T> dx = ctx.buffer(x_shape);
    kernels::strided_gather(dx, dy, begin, ones);
    ctx.accumulate(0, std::move(dx));
  }
};

template <class T>
struct Slice {
  static constexpr const char* name = "slice";
  Shape x_shape;
  kernels::SliceSpec spec;

  Tensor<T> forward(const Tensor<T>& x, const std::vector<std::int64_t>& starts, const std::vector<std::int64_t>& ends,
                    const std::vector<std::int64_t>& axes, const std::vector<std::int64_t>& steps) {
    const Shape ys = kernels::slice_output_shape(x.shape(), starts, ends, axes, steps, spec);
    x_shape = x.shape();
    Tensor<T> y = Tensor<T>::uninitialized(ys);
    kernels::strided_gather(y, x, spec.start, spec.step);
    return y;
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    if (!ctx.needs(0)) return;
    kernels::strided_scatter_add(ctx.accumulator(0, x_shape), dy, spec.start, spec.step);
  }
};

template <class T>
struct GatherAxis {
  static constexpr const char* name = "gather";
  Shape x_shape;
  int axis = 0;
  std::vector<std::int64_t> indices;  // normalised

  Tensor<T> forward(const Tensor<T>& x, std::int64_t axis_arg, std::vector<std::int64_t> idx, bool scalar) {
    const Shape ys = kernels::gather_output_shape(x.shape(), axis, axis_arg, idx, scalar);
    x_shape = x.shape();
    indices = std::move(idx);
    Tensor<T> y = Tensor<T>::uninitialized(ys);
    kernels::gather_axis(y, x, axis, std::span<const std::int64_t>(indices));
    return y;
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    if (!ctx.needs(0)) return;
    kernels::gather_axis_backward(ctx.accumulator(0, x_shape), dy, axis, std::span<const std::int64_t>(indices));
  }
};

}  // namespace gradattr::ad::op
