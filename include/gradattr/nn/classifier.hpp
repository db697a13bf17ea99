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
// Optional, for the attention methods (attribution/attention.hpp; docs/architecture.md,
// "Attention in the model interface"):
//   attention_layers()              the canonical layer names of the attention probabilities, one
//                                   per attention block, in network order; empty (or absent) for a
//                                   model without attention. A GraphModel finds them in the graph.
//   forward_tracked(x, layers, tape, track)
//                                   only for a model whose logits are not just forward_from's (a
//                                   wrapper, models::Shifted); everyone else gets the generic
//                                   nn::forward_tracked below, built on the members above.
//
// Thread safety: every method is const; a const model may be shared by threads, each call using
// its own tape.
#include <algorithm>
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
  // Set by the attribution layer when a token layer [N, k + s*s, D] is shown to the CAM methods as
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

template <class M>
concept HasAttentionLayers = requires(const M& m) {
  { m.attention_layers() } -> std::convertible_to<std::vector<std::string>>;
};

// The attention layers of m (empty for a model that does not name any).
template <Classifier M>
std::vector<std::string> attention_layers(const M& m) {
  if constexpr (HasAttentionLayers<M>)
    return m.attention_layers();
  else
    return {};
}

// A forward that exposes internal values: the logits and one value per requested layer.
template <class T>
struct Tracked {
  ad::Var<T> logits;
  std::vector<ad::Var<T>> values;  // the activations at the requested layers, in their order
};

namespace detail {

// The positions of `layers` in m.layer_names() ("input" is -1), checked: known, distinct, in
// network order. `who` names the caller in the ArgumentError.
template <Classifier M>
std::vector<std::ptrdiff_t> layer_positions(const M& m, const std::vector<std::string>& layers,
                                            const std::string& who) {
  const std::vector<std::string> names = m.layer_names();
  std::vector<std::ptrdiff_t> pos;
  for (const std::string& l : layers) {
    const std::string canon = m.resolve_layer(l);
    if (canon == kInputLayer) {
      pos.push_back(-1);
    } else {
      const auto it = std::find(names.begin(), names.end(), canon);
      if (it == names.end()) throw ArgumentError(who + ": '" + canon + "' is not one of the model's layer names");
      pos.push_back(it - names.begin());
    }
    if (pos.size() > 1 && pos[pos.size() - 1] <= pos[pos.size() - 2])
      throw ArgumentError(who + ": the layers must be distinct and in network order; '" + canon +
                          "' comes at or before '" + layers[pos.size() - 2] + "'");
  }
  return pos;
}

}  // namespace detail

// The chain behind forward_tracked, for wrappers that also need the activation at one more layer
// `tap` (at, before or after any of `layers`; "input" allowed): on_tap(cut at tap) is called with
// that cut, its activation recorded when it comes after a tracked layer. Runs m.forward_until to
// the first stop, then m.forward_between from stop to stop, then m.forward_from to the logits.
template <Classifier M, class OnTap>
Tracked<typename M::scalar_type> forward_tracked_chain(const M& m, const Tensor<typename M::scalar_type>& x,
                                                       const std::vector<std::string>& layers, const std::string& tap,
                                                       OnTap&& on_tap, ad::Tape<typename M::scalar_type>& tape,
                                                       bool track) {
  using T = typename M::scalar_type;
  const std::string who = "forward_tracked";
  if (layers.empty()) throw ArgumentError(who + ": no layers to track");
  std::vector<std::string> canon;
  for (const std::string& l : layers) canon.push_back(m.resolve_layer(l));
  const std::vector<std::ptrdiff_t> pos = detail::layer_positions(m, canon, who);
  // The stops: the tracked layers, with the tap merged in at its place (-1: not a tracked layer).
  struct Stop {
    std::string layer;
    std::ptrdiff_t tracked = -1;
    bool tap = false;
  };
  std::vector<Stop> stops;
  for (std::size_t i = 0; i < canon.size(); ++i) stops.push_back({canon[i], static_cast<std::ptrdiff_t>(i), false});
  if (!tap.empty()) {
    const std::string t = m.resolve_layer(tap);
    const std::ptrdiff_t tp = detail::layer_positions(m, {t}, who)[0];
    auto it = std::find_if(stops.begin(), stops.end(), [&](const Stop& s) { return s.layer == t; });
    if (it != stops.end()) {
      it->tap = true;
    } else {
      std::size_t k = 0;
      while (k < pos.size() && pos[k] < tp) ++k;
      stops.insert(stops.begin() + static_cast<std::ptrdiff_t>(k), Stop{t, -1, true});
    }
  }
  Tracked<T> out;
  out.values.resize(canon.size());
  Cut<T> cut = m.forward_until(x, stops.front().layer);
  for (std::size_t s = 0; s < stops.size(); ++s) {
    if (s > 0) cut = m.forward_between(cut, stops[s].layer, tape);
    if (stops[s].tracked >= 0) {
      // The first tracked value becomes a variable of the tape; a later one is already recorded
      // from it, unless it does not depend on any earlier one (then it is a variable too).
      if (track && !cut.activation.tracked()) cut.activation = tape.variable(cut.activation.value());
      out.values[static_cast<std::size_t>(stops[s].tracked)] = cut.activation;
    }
    if (stops[s].tap) on_tap(static_cast<const Cut<T>&>(cut));
  }
  out.logits = m.forward_from(cut, tape);
  return out;
}

// forward_tracked(m, x, layers, tape, track = true): the logits of x with the activations at
// `layers` (known layer names, distinct, in network order) exposed. With track, the first is a
// variable of `tape` and everything after it is recorded, so each later value is a recorded Var
// computed from it (or a variable itself if it does not depend on an earlier one), and one
// ad::grad(tape, logits, values, seed) gives every value's total derivative ∂S/∂value (every path to the logits, through later tracked values too: what a PyTorch
// tensor hook reports), everything before the first layer held fixed. Without track nothing is
// recorded and the values are constants. Uses m.forward_tracked when the model has one.
template <Classifier M>
Tracked<typename M::scalar_type> forward_tracked(const M& m, const Tensor<typename M::scalar_type>& x,
                                                 const std::vector<std::string>& layers,
                                                 ad::Tape<typename M::scalar_type>& tape, bool track = true) {
  using T = typename M::scalar_type;
  if constexpr (requires { { m.forward_tracked(x, layers, tape, track) } -> std::same_as<Tracked<T>>; })
    return m.forward_tracked(x, layers, tape, track);
  else
    return forward_tracked_chain(m, x, layers, std::string(), [](const Cut<typename M::scalar_type>&) {}, tape, track);
}

}  // namespace gradattr::nn
