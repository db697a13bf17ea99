#pragma once
// Recorded layer normalization (ONNX LayerNormalization, torch.nn.LayerNorm): x normalised over
// its dimensions [axis, rank), then y = xhat * scale + bias. Inputs: 0 = x, 1 = scale, 2 = bias
// (optional). Saves xhat and the rows' 1/sqrt(var + eps), and scale for x's gradient. Shapes
// checked in kernels/graph_params.hpp (layer_norm_row); kernels in kernels/layer_norm.hpp.
#include <cstdint>

#include "gradattr/autodiff/backward_context.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/kernels/graph_params.hpp"
#include "gradattr/kernels/layer_norm.hpp"

namespace gradattr::ad::op {

template <class T>
struct LayerNorm {
  static constexpr const char* name = "layer_norm";
  int axis = 0;
  std::int64_t row = 0;
  Shape scale_shape, bias_shape;
  bool has_bias = false;
  Tensor<T> xhat, inv_std, scale;

  Tensor<T> forward(const Tensor<T>& x, const Tensor<T>& scale_, const Tensor<T>* bias, std::int64_t axis_arg, T eps) {
    const Shape* bs = bias ? &bias->shape() : nullptr;
    row = kernels::layer_norm_row(x.shape(), axis, axis_arg, scale_.shape(), bs);
    scale_shape = scale_.shape();
    has_bias = bias != nullptr;
    if (bias) bias_shape = bias->shape();
    scale = scale_;
    Tensor<T> y = Tensor<T>::uninitialized(x.shape());
    xhat = Tensor<T>::uninitialized(x.shape());
    inv_std = Tensor<T>::uninitialized(Shape{x.numel() / row});
    kernels::layer_norm(y, xhat, inv_std, x, scale_.data(), bias ? bias->data() : nullptr, row, eps);
    return y;
  }
  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    Tensor<T> dx, ds, db;
    if (ctx.needs(0)) dx = ctx.buffer(dy.shape());
    if (ctx.needs(1)) ds = Tensor<T>(scale_shape, T{0});
    if (has_bias && ctx.needs(2)) db = Tensor<T>(bias_shape, T{0});
    if (dx.empty() && ds.empty() && db.empty()) return;
    kernels::layer_norm_backward(dx.empty() ? nullptr : dx.data(), ds.empty() ? nullptr : ds.data(),
                                 db.empty() ? nullptr : db.data(), dy, xhat, inv_std, scale.data(), row);
    if (!dx.empty()) ctx.accumulate(0, std::move(dx));
    if (!ds.empty()) ctx.accumulate(1, std::move(ds));
    if (!db.empty()) ctx.accumulate(2, std::move(db));
  }
};

}  // namespace gradattr::ad::op
