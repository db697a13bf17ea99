#pragma once
// Recorded ONNX ReduceSum / ReduceMean over a set of axes (normalised and sorted by
// kernels::reduce_keepdims_shape; empty = all), keeping the reduced dimensions as 1 or dropping
// them. Forward sums with kernels::sum_to into the keepdims shape; backward expands dy back
// (kernels::expand), divided by the count of reduced elements for the mean.
#include <cstdint>
#include <string>
#include <vector>

#include "gradattr/autodiff/backward_context.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/kernels/broadcast.hpp"
#include "gradattr/kernels/graph_params.hpp"

namespace gradattr::ad::op {

template <class T, bool Mean>
struct ReduceAxes {
  static constexpr const char* name = Mean ? "reduce_mean" : "reduce_sum";
  Shape x_shape, keep_shape;

  Tensor<T> forward(const Tensor<T>& x, std::vector<std::int64_t> axes, bool keepdims) {
    keep_shape = kernels::reduce_keepdims_shape(x.shape(), axes, name);
    x_shape = x.shape();
    const std::int64_t count = x.numel() / std::max<std::int64_t>(keep_shape.numel(), 1);
    if (Mean && count == 0)
      throw ShapeError(std::string(name) + ": nothing to average over in input " + x.shape().str());
    Tensor<T> y = Tensor<T>::uninitialized(keep_shape);
    kernels::sum_to(y, x);
    if constexpr (Mean)
      for (auto& v : y) v /= static_cast<T>(count);
    if (keepdims) return y;
    Shape out;
    std::size_t k = 0;
    for (int d = 0; d < x.rank(); ++d) {
      if (k < axes.size() && axes[k] == d) {
        ++k;
        continue;
      }
      out.push(x.dim(d));
    }
    return y.reshape(out);
  }

  void backward(const Tensor<T>& dy, BackwardContext<T>& ctx) const {
    if (!ctx.needs(0)) return;
    Tensor<T> g = dy.reshape(keep_shape);
    if constexpr (Mean) {
      const T count = static_cast<T>(x_shape.numel() / std::max<std::int64_t>(keep_shape.numel(), 1));
      Tensor<T> s = Tensor<T>::uninitialized(keep_shape);
      for (std::int64_t i = 0; i < s.numel(); ++i) s[i] = g[i] / count;
      g = s;
    }
    Tensor<T> dx = ctx.buffer(x_shape);
    kernels::expand(dx, g);
    ctx.accumulate(0, std::move(dx));
  }
};

template <class T>
using ReduceSum = ReduceAxes<T, false>;
template <class T>
using ReduceMean = ReduceAxes<T, true>;

}  // namespace gradattr::ad::op
