#pragma once
// The model interface: the narrow view through which attribution methods, metrics and the
// equivalent-model wrappers see a model (docs/architecture.md, "The model interface").
//
// A Classifier maps a batch of images x [N, C, H, W] to logits [N, num_classes()], and can be
// cut at a named layer. The state of the network at a cut is a Cut: the activation A at the
// OUTPUT of the layer, plus every value computed before the cut that layers after it still read
// (a skip connection crossing the cut, as in a ResNet; empty for a chain such as VGG). With the
// carried values held as constants, the rest of the network is a function of A alone, which is
// exactly the partial derivative CAM methods want (what PyTorch hooks compute).
//
//   forward(x)                      logits; nothing recorded.
//   forward_until(x, layer)         the Cut at `layer`; nothing recorded (every Var a constant).
//   forward_from(cut, tape)         the logits computed from cut (the layers after cut.layer),
//                                   recorded on `tape` where a tracked value flows (replace
//                                   cut.activation with a variable of `tape` to differentiate).
//   forward_between(cut, until, tape)
//                                   the Cut at `until` (at or after cut.layer) computed from cut,
//                                   recorded where tracked: its activation and carried values
//                                   are Vars that depend on cut's. A wrapper that needs an
//                                   intermediate activation (models/equivalent.hpp) uses it.
//   layer_names()                   the canonical layer names in order.
//   resolve_layer(name)             the canonical name for a name or alias; ArgumentError listing
//                                   the valid names for an unknown one.
//   num_classes()
// The pseudo-layer kInputLayer ("input") names the network's input: forward_until(x, "input")
// is input_cut(x), and forward_from(input_cut(x), tape) is the whole network, which is how
// input-space methods (saliency, IG, RSI Grad-CAM's path) use the same interface.
//
// Thread safety: every method is const; a const model may be shared by threads, each call using
// its own tape.
#include <concepts>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "gradattr/autodiff/tape.hpp"
#include "gradattr/autodiff/var.hpp"
#include "gradattr/core/error.hpp"
#include "gradattr/core/tensor.hpp"

namespace gradattr::nn {

inline constexpr const char* kInputLayer = "input";

template <class T>
struct Cut {
  std::string layer;                // canonical name of the layer whose output this is ("input")
  ad::Var<T> activation;            // A
  std::vector<ad::Var<T>> carried;  // values from before the cut read after it; model-defined order
  // Set by the attribution layer when a token layer [N, 1 + s*s, D] is shown to the CAM methods as
  // [N, D, s, s] (attribution/detail/tokens.hpp); a model never sees a cut with it set.
  bool tokens_folded = false;

  // The same cut with A replaced (e.g. by a variable of a tape, to differentiate the head).
  Cut with_activation(ad::Var<T> a) const {
    Cut c = *this;
    c.activation = std::move(a);
    return c;
  }
};

// The cut before the first layer: x itself.
template <class T>
Cut<T> input_cut(ad::Var<T> x) {
  return Cut<T>{kInputLayer, std::move(x), {}};
}

// ArgumentError unless every tracked value of `cut` is a variable of `tape` (`who` names the caller).
template <class T>
void check_cut_tape(const Cut<T>& cut, const ad::Tape<T>& tape, const std::string& who) {
  auto check = [&](const ad::Var<T>& v) {
    if (v.tracked() && v.tape() != &tape)
      throw ArgumentError(who + ": the cut at '" + cut.layer + "' holds a variable of another tape");
  };
  check(cut.activation);
  for (const auto& v : cut.carried) check(v);
}

template <class M>
concept Classifier = requires(const M& m, const Tensor<typename M::scalar_type>& x, const std::string& layer,
                              const Cut<typename M::scalar_type>& cut, ad::Tape<typename M::scalar_type>& tape) {
  typename M::scalar_type;
  { m.forward(x) } -> std::same_as<Tensor<typename M::scalar_type>>;
  { m.forward_until(x, layer) } -> std::same_as<Cut<typename M::scalar_type>>;
  { m.forward_from(cut, tape) } -> std::same_as<ad::Var<typename M::scalar_type>>;
  { m.forward_between(cut, layer, tape) } -> std::same_as<Cut<typename M::scalar_type>>;
  { m.layer_names() } -> std::convertible_to<std::vector<std::string>>;
  { m.resolve_layer(layer) } -> std::convertible_to<std::string>;
  { m.num_classes() } -> std::convertible_to<std::int64_t>;
};

}  // namespace gradattr::nn
