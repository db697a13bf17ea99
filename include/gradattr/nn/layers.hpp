#pragma once
// The layers of a VGG-style network, each a thin owner of its parameters over the autodiff ops:
//   Conv2d, ReLU, MaxPool2d, AdaptiveAvgPool2d, Flatten, Linear, Dropout
// and Layer<T>, the closed set of them that nn::Sequential holds.
//
// Every layer provides
//   ad::Var<T> forward(const ad::Var<T>& x, Context<T>& ctx) const
//       the layer applied to x. Recorded on x's tape when x is tracked; parameters are constants
//       unless ctx trains them (then they are tape variables too, see context.hpp).
//   Shape output_shape(const Shape& x) const
//       the output shape for an input shape, or ShapeError saying why the input does not fit
//       (no arithmetic done: containers call it for every layer before running any).
//   std::string describe() const                       e.g. "Conv2d(3, 64, 3x3, stride 1, pad 1)"
//   for_each_parameter(f)                              f(name, tensor) for each parameter
// Thread safety: forward is const and keeps no state; a const layer may be shared by threads.
// Copies share parameter buffers (as Tensor does).
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <variant>

#include "gradattr/autodiff/ops.hpp"
#include "gradattr/core/error.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/kernels/conv2d.hpp"
#include "gradattr/kernels/params.hpp"
#include "gradattr/nn/context.hpp"

namespace gradattr::nn {

// 2-D convolution, torch layout: weight [Co, Ci, KH, KW], bias [Co] (or empty: no bias), groups 1.
// Requires: x [N, Ci, H, W] with H + 2·pad_h >= KH (same for W).
// Holds the kernels' pre-transformed weights (Conv2dPrepared, e.g. Winograd filters), built
// whenever the weights are set. Mutable access to a parameter (mutable_weight(),
// for_each_parameter on a non-const layer) drops them, so a forward after an in-place update is
// always correct (the kernels transform on the fly); refresh() rebuilds them for speed.
// A training forward (ctx.trains_parameters()) uses them too: they hold for the weights as they
// are now, and an optimiser step goes through Sequential::update_parameters, which rebuilds them
// (before, every recorded pass with weight gradients re-transformed every 3x3 filter bank:
// 18% of VGG19's `bench --workload full`, docs/benchmarks.md "Memory").
template <class T>
class Conv2d {
 public:
  Conv2d() = default;
  Conv2d(Tensor<T> weight, Tensor<T> bias, const kernels::Conv2dParams& params = {}) : params_(params) {
    set_parameters(std::move(weight), std::move(bias));
  }

  // Replaces the parameters (shared, not copied) and rebuilds the prepared weights.
  void set_parameters(Tensor<T> weight, Tensor<T> bias) {
    if (weight.rank() != 4 || weight.numel() == 0)
      throw ShapeError("Conv2d: weight must be a non-empty [Co, Ci, KH, KW], got " + weight.shape().str());
    if (!bias.empty() && bias.shape() != Shape{weight.dim(0)})
      throw ShapeError("Conv2d: bias " + bias.shape().str() + " does not match weight " + weight.shape().str() +
                       " (expects [" + std::to_string(weight.dim(0)) + "])");
    weight_ = std::move(weight);
    bias_ = std::move(bias);
    refresh();
  }

  // Rebuilds the prepared weights from the current ones (after an in-place update).
  void refresh() { prepared_ = kernels::Conv2dPrepared<T>::prepare(weight_, params_); }
  // exact: no Winograd (kernels::Conv2dParams::exact); rebuilds the prepared weights.
  void set_exact(bool exact) {
    params_.exact = exact;
    refresh();
  }

  const Tensor<T>& weight() const noexcept { return weight_; }
  const Tensor<T>& bias() const noexcept { return bias_; }
  Tensor<T>& mutable_weight() noexcept {
    prepared_.reset();
    return weight_;
  }
  Tensor<T>& mutable_bias() noexcept { return bias_; }
  const kernels::Conv2dParams& params() const noexcept { return params_; }
  const kernels::Conv2dPrepared<T>* prepared() const noexcept { return prepared_.get(); }
  std::int64_t in_channels() const { return weight_.dim(1); }
  std::int64_t out_channels() const { return weight_.dim(0); }

  Shape output_shape(const Shape& x) const { return kernels::conv2d_output_shape(x, weight_.shape(), params_); }

  ad::Var<T> forward(const ad::Var<T>& x, Context<T>& ctx) const {
    if (ctx.trains_parameters()) {
      const ad::Var<T> w = ctx.parameter(weight_, "weight");  // in this order: weight, then bias
      const ad::Var<T> b = ctx.parameter(bias_, "bias");
      return ad::conv2d(x, w, b, params_, prepared_.get());
    }
    return ad::conv2d(x, weight_, bias_, params_, prepared_.get());
  }

  std::string describe() const {
    return "Conv2d(" + std::to_string(weight_.dim(1)) + ", " + std::to_string(weight_.dim(0)) + ", " +
           std::to_string(weight_.dim(2)) + "x" + std::to_string(weight_.dim(3)) + ", stride " +
           std::to_string(params_.stride_h) + ", pad " + std::to_string(params_.pad_h) + ")";
  }

  template <class F>
  void for_each_parameter(F&& f) {
    prepared_.reset();
    f("weight", weight_);
    if (!bias_.empty()) f("bias", bias_);
  }
  template <class F>
  void for_each_parameter(F&& f) const {
    f("weight", weight_);
    if (!bias_.empty()) f("bias", bias_);
  }

 private:
  Tensor<T> weight_, bias_;
  kernels::Conv2dParams params_;
  std::shared_ptr<const kernels::Conv2dPrepared<T>> prepared_;
};

// Fully connected, torch layout: y [N, Out] = x [N, In] · weight[Out, In]ᵀ + bias [Out].
// Requires: x [N, In].
template <class T>
class Linear {
 public:
  Linear() = default;
  Linear(Tensor<T> weight, Tensor<T> bias) { set_parameters(std::move(weight), std::move(bias)); }

  void set_parameters(Tensor<T> weight, Tensor<T> bias) {
    if (weight.rank() != 2 || weight.numel() == 0)
      throw ShapeError("Linear: weight must be a non-empty [out, in], got " + weight.shape().str());
    if (!bias.empty() && bias.shape() != Shape{weight.dim(0)})
      throw ShapeError("Linear: bias " + bias.shape().str() + " does not match weight " + weight.shape().str() +
                       " (expects [" + std::to_string(weight.dim(0)) + "])");
    weight_ = std::move(weight);
    bias_ = std::move(bias);
  }

  const Tensor<T>& weight() const noexcept { return weight_; }
  const Tensor<T>& bias() const noexcept { return bias_; }
  Tensor<T>& mutable_weight() noexcept { return weight_; }
  Tensor<T>& mutable_bias() noexcept { return bias_; }
  std::int64_t in_features() const { return weight_.dim(1); }
  std::int64_t out_features() const { return weight_.dim(0); }

  Shape output_shape(const Shape& x) const { return kernels::linear_output_shape(x, weight_.shape()); }

  ad::Var<T> forward(const ad::Var<T>& x, Context<T>& ctx) const {
    const ad::Var<T> w = ctx.parameter(weight_, "weight");  // in this order: weight, then bias
    const ad::Var<T> b = ctx.parameter(bias_, "bias");
    return ad::linear(x, w, b);
  }

  std::string describe() const {
    return "Linear(" + std::to_string(weight_.dim(1)) + ", " + std::to_string(weight_.dim(0)) + ")";
  }

  template <class F>
  void for_each_parameter(F&& f) {
    f("weight", weight_);
    if (!bias_.empty()) f("bias", bias_);
  }
  template <class F>
  void for_each_parameter(F&& f) const {
    f("weight", weight_);
    if (!bias_.empty()) f("bias", bias_);
  }

 private:
  Tensor<T> weight_, bias_;
};

// Layers without parameters share this.
struct NoParameters {
  template <class F>
  void for_each_parameter(F&&) const {}
};

// max(x, 0), any shape.
template <class T>
struct ReLU : NoParameters {
  Shape output_shape(const Shape& x) const { return x; }
  ad::Var<T> forward(const ad::Var<T>& x, Context<T>&) const { return ad::relu(x); }
  std::string describe() const { return "ReLU"; }
};

// Max pooling as torch.nn.MaxPool2d (kernels::Pool2dParams: asymmetric pads, ceil_mode); VGG
// uses the default 2x2 / stride 2.
// Requires: x [N, C, H, W] with H, W >= the window (after padding).
template <class T>
struct MaxPool2d : NoParameters {
  kernels::Pool2dParams params;
  Shape output_shape(const Shape& x) const { return kernels::pool2d_output_shape(x, params); }
  ad::Var<T> forward(const ad::Var<T>& x, Context<T>&) const { return ad::max_pool2d(x, params); }
  std::string describe() const {
    return "MaxPool2d(" + std::to_string(params.kernel_h) + "x" + std::to_string(params.kernel_w) + ", stride " +
           std::to_string(params.stride_h) + ")";
  }
};

// torch.nn.AdaptiveAvgPool2d((out_h, out_w)), PyTorch's windows: output i averages input rows
// floor(i·H/out_h) .. ceil((i+1)·H/out_h) − 1, so a smaller input is upsampled by replication.
template <class T>
struct AdaptiveAvgPool2d : NoParameters {
  std::int64_t out_h = 7, out_w = 7;
  Shape output_shape(const Shape& x) const { return kernels::adaptive_pool2d_output_shape(x, out_h, out_w); }
  ad::Var<T> forward(const ad::Var<T>& x, Context<T>&) const { return ad::adaptive_avg_pool2d(x, out_h, out_w); }
  std::string describe() const {
    return "AdaptiveAvgPool2d(" + std::to_string(out_h) + "x" + std::to_string(out_w) + ")";
  }
};

// torch.flatten(x, 1): [N, ...] -> [N, rest] (a view, no copy).
template <class T>
struct Flatten : NoParameters {
  Shape output_shape(const Shape& x) const {
    if (x.rank() < 1) throw ShapeError("flatten: input must have a batch dimension, got " + x.str());
    return Shape{x[0], x.stride(0)};
  }
  ad::Var<T> forward(const ad::Var<T>& x, Context<T>&) const { return ad::flatten(x); }
  std::string describe() const { return "Flatten"; }
};

// torch.nn.Dropout at inference: ALWAYS the identity, in every mode, training included.
// gradattr's attribution needs deterministic models, and its small training example does
// without dropout's regularisation; `p` is kept only to describe the architecture. A recorded
// forward records nothing for it (the output is the input Var itself).
template <class T>
struct Dropout : NoParameters {
  double p = 0.5;
  Shape output_shape(const Shape& x) const { return x; }
  ad::Var<T> forward(const ad::Var<T>& x, Context<T>&) const { return x; }
  std::string describe() const { return "Dropout(p=" + std::to_string(p).substr(0, 4) + ", identity)"; }
};

template <class T>
using Layer = std::variant<Conv2d<T>, ReLU<T>, MaxPool2d<T>, AdaptiveAvgPool2d<T>, Flatten<T>, Linear<T>, Dropout<T>>;

}  // namespace gradattr::nn
