#pragma once
// The unrecorded float forward of nn::Sequential (forward, forward_until): layers run in order
// as their own forward would, with two changes that give the same values, bit for bit, faster:
//   - a Conv2d followed by a ReLU runs as one fused kernel (the ReLU in the output transform);
//   - from the first Winograd 3x3 convolution on, activations stay in the NHWC16 blocked layout
//     (kernels/blocked.hpp) through 3x3 convs, ReLUs, max pools and dropouts, and are converted
//     back to NCHW once, before the first other layer or at the end of the range.
// Recorded forwards (a tape) never come here: the autodiff ops keep NCHW.
#include <cstddef>
#include <optional>
#include <variant>

#include "gradattr/autodiff/var.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/kernels/blocked.hpp"
#include "gradattr/kernels/params.hpp"
#include "gradattr/nn/context.hpp"
#include "gradattr/nn/layers.hpp"

namespace gradattr::nn::detail {

// layer_at(i) -> const Layer<float>& for i in [begin, end). Shapes already checked by the caller.
template <class LayerAt>
Tensor<float> blocked_forward(const Tensor<float>& x, std::size_t begin, std::size_t end, LayerAt&& layer_at) {
  Tensor<float> plain = x;                   // the activation, when it is NCHW
  std::optional<kernels::Nhwc16> blocked;    // the activation, when it is NHWC16
  auto nchw = [&]() -> const Tensor<float>& {
    if (blocked) {
      plain = kernels::to_nchw(*blocked);
      blocked.reset();
    }
    return plain;
  };
  for (std::size_t i = begin; i < end; ++i) {
    const Layer<float>& layer = layer_at(i);
    const bool relu_next = i + 1 < end && std::holds_alternative<ReLU<float>>(layer_at(i + 1));
    if (const auto* conv = std::get_if<Conv2d<float>>(&layer)) {
      if (kernels::conv2d_blocked_applies(conv->weight(), conv->params())) {
        kernels::Nhwc16 y = blocked ? kernels::conv2d_forward_nhwc16(nullptr, &*blocked, conv->weight(), conv->bias(),
                                                                     relu_next, conv->prepared())
                                    : kernels::conv2d_forward_nhwc16(&plain, nullptr, conv->weight(), conv->bias(),
                                                                     relu_next, conv->prepared());
        blocked = std::move(y);
        plain = Tensor<float>();  // release the NCHW input
        i += relu_next ? 1 : 0;
        continue;
      }
      if (relu_next) {
        const Tensor<float>& in = nchw();
        auto y = Tensor<float>::uninitialized(conv->output_shape(in.shape()));
        kernels::conv2d_relu_forward(y, in, conv->weight(), conv->bias(), conv->params(), conv->prepared());
        plain = std::move(y);
        ++i;
        continue;
      }
    } else if (blocked) {
      if (std::holds_alternative<ReLU<float>>(layer)) {
        kernels::relu_forward_nhwc16(*blocked);
        continue;
      }
      if (const auto* pool = std::get_if<MaxPool2d<float>>(&layer)) {
        blocked = kernels::max_pool2d_forward_nhwc16(*blocked, pool->params);
        continue;
      }
      if (std::holds_alternative<Dropout<float>>(layer)) continue;
    }
    // any other layer: its own forward, unrecorded, on NCHW
    Context<float> ctx;
    const ad::Var<float> in(nchw());
    plain = std::visit([&](const auto& l) { return l.forward(in, ctx); }, layer).value();
  }
  return nchw();
}

}  // namespace gradattr::nn::detail
