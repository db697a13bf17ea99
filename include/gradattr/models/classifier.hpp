#pragma once
// The narrow interface through which attribution methods see a model.
//
// A Classifier maps a batch of images x [N, C, H, W] to logits [N, num_classes()], and can be
// cut at a named layer:
//   forward(x)                   logits; nothing recorded.
//   forward_until(x, layer)      the activation at the OUTPUT of `layer`; nothing recorded.
//   forward_from(a, layer, tape) the rest of the network (the layers after `layer`) applied to
//                                an activation a of that layer, as recorded ops on `tape` when a
//                                is tracked: the logits as a Var.
//   layer_names()                the canonical layer names in order (torchvision style for VGG).
//   resolve_layer(name)          the canonical name for a name or alias; ArgumentError listing
//                                the valid names for an unknown one.
//   num_classes()
// The pseudo-layer kInputLayer ("input") names the network's input: forward_until(x, "input")
// is x and forward_from(x, "input", tape) is the whole network, which is how input-space
// methods (saliency, IG, RSI Grad-CAM's path) reuse the same interface.
//
// This split is what makes a Grad-CAM cost one unrecorded forward plus a backward through the
// head only, and lets path methods batch their evaluations.
// Thread safety: every method is const; a const model may be shared by threads, each call using
// its own tape.
#include <concepts>
#include <cstdint>
#include <string>
#include <vector>

#include "gradattr/autodiff/tape.hpp"
#include "gradattr/autodiff/var.hpp"
#include "gradattr/core/tensor.hpp"

namespace gradattr::models {

inline constexpr const char* kInputLayer = "input";

template <class M>
concept Classifier = requires(const M& m, const Tensor<typename M::scalar_type>& x, const std::string& layer,
                              const ad::Var<typename M::scalar_type>& a, ad::Tape<typename M::scalar_type>& tape) {
  typename M::scalar_type;
  { m.forward(x) } -> std::same_as<Tensor<typename M::scalar_type>>;
  { m.forward_until(x, layer) } -> std::same_as<Tensor<typename M::scalar_type>>;
  { m.forward_from(a, layer, tape) } -> std::same_as<ad::Var<typename M::scalar_type>>;
  { m.layer_names() } -> std::convertible_to<std::vector<std::string>>;
  { m.resolve_layer(layer) } -> std::convertible_to<std::string>;
  { m.num_classes() } -> std::convertible_to<std::int64_t>;
};

}  // namespace gradattr::models
