#pragma once
// Sequential<T>: named layers run in order, cut at any of them. It satisfies nn::Classifier
// (nn/classifier.hpp), the interface attribution methods use; a chain carries nothing across a
// cut, so its Cuts hold the activation only.
//
// Names. Each layer has a unique canonical name (for VGG the torchvision module names
// "features.0" ... "classifier.6", see models/vgg.hpp); "input" (nn::kInputLayer) is the
// pseudo-layer before the first. Aliases map further names onto canonical ones
// (e.g. "block5_conv4" -> "features.35"); resolve_layer() accepts either.
//
// Running:
//   forward(x)                    logits; nothing recorded.
//   forward_until(x, L)           the Cut at the output of layer L (x itself for "input");
//                                 nothing recorded. (float: Conv2d+ReLU fused and 3x3 runs kept
//                                 in the NHWC16 layout, nn/detail/blocked_forward.hpp; same values
//                                 bit for bit)
//   forward_from(cut, tape)       the layers after cut.layer applied to cut.activation; recorded
//                                 on `tape` when it is tracked (it must then be a variable of
//                                 `tape`).
//   forward_between(cut, U, tape) the Cut at U (at or after cut.layer), recorded where tracked.
//   forward_train(x, tape)        the whole network with every parameter a variable of `tape`:
//                                 the logits and the parameter Vars (names as parameters()), so
//                                 ad::grad(tape, loss, out.vars()) gives the weight gradients.
// Shapes are propagated through every layer to run before any arithmetic (so before any
// parallel region): an input a layer cannot take (e.g. 8x8 into VGG, whose fourth pool would get
// a 1x1 map) is a ShapeError naming the layer, its input shape and the network's input shape.
//
// Parameters: parameters() gives (name, const Tensor&) pairs, names "<layer>.<weight|bias>".
// The one way to change them in place is update_parameters(f): f gets the (name, Tensor&) list
// (an optimiser step), and the convolutions' prepared (pre-transformed) weights are rebuilt when
// f returns or throws, so every later forward is both correct and on the fast path.
//
// Thread safety: the const methods keep no state; a const Sequential may be shared by threads,
// each call with its own tape. Copies share parameter buffers (as Tensor does).
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "gradattr/autodiff/tape.hpp"
#include "gradattr/autodiff/var.hpp"
#include "gradattr/core/error.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/nn/classifier.hpp"
#include "gradattr/nn/context.hpp"
#include "gradattr/nn/detail/blocked_forward.hpp"
#include "gradattr/nn/layers.hpp"

namespace gradattr::nn {

template <class T>
struct TrainOutput {
  ad::Var<T> logits;
  std::vector<ParamVar<T>> parameters;  // in parameters() order

  std::vector<ad::Var<T>> vars() const {
    std::vector<ad::Var<T>> v;
    v.reserve(parameters.size());
    for (const auto& p : parameters) v.push_back(p.var);
    return v;
  }
};

template <class T>
class Sequential {
 public:
  using scalar_type = T;
  struct Entry {
    std::string name;
    Layer<T> layer;
  };

  // ---- building ----

  // Appends a layer. ArgumentError for an empty, duplicate or reserved ("input") name.
  void add(std::string name, Layer<T> layer) {
    if (name.empty() || name == kInputLayer)
      throw ArgumentError("Sequential::add: invalid layer name '" + name + "'");
    if (index_.count(name) || alias_index_.count(name))
      throw ArgumentError("Sequential::add: duplicate layer name '" + name + "'");
    index_.emplace(name, layers_.size());
    layers_.push_back({std::move(name), std::move(layer)});
  }

  // Makes `alias` another name for the layer `target` (a canonical name or "input").
  void add_alias(std::string alias, const std::string& target) {
    if (alias.empty() || alias == kInputLayer || index_.count(alias) || alias_index_.count(alias))
      throw ArgumentError("Sequential::add_alias: '" + alias + "' is empty, reserved or already a name");
    if (target != kInputLayer && !index_.count(target))
      throw ArgumentError("Sequential::add_alias: target '" + target + "' of '" + alias + "' is not a layer");
    alias_index_.emplace(alias, aliases_.size());
    aliases_.emplace_back(std::move(alias), target);
  }

  // A sentence appended to input-shape errors, e.g. "VGG needs H, W >= 32".
  void set_input_requirement(std::string text) { input_requirement_ = std::move(text); }

  // ---- inspecting ----

  std::size_t size() const noexcept { return layers_.size(); }
  const std::vector<Entry>& layers() const noexcept { return layers_; }
  const Layer<T>& layer(const std::string& name) const { return layers_[position(resolve_layer(name))].layer; }
  Layer<T>& layer(const std::string& name) { return layers_[position(resolve_layer(name))].layer; }
  // (alias, canonical) pairs in the order they were added.
  const std::vector<std::pair<std::string, std::string>>& aliases() const noexcept { return aliases_; }

  // Canonical names in order ("input" is not listed: it is the pseudo-layer before the first).
  std::vector<std::string> layer_names() const {
    std::vector<std::string> names;
    names.reserve(layers_.size());
    for (const auto& e : layers_) names.push_back(e.name);
    return names;
  }

  // The canonical name of a name or alias ("input" stays "input"). ArgumentError listing every
  // valid name and alias for an unknown one.
  std::string resolve_layer(const std::string& name) const {
    if (name == kInputLayer || index_.count(name)) return name;
    if (auto it = alias_index_.find(name); it != alias_index_.end()) return aliases_[it->second].second;
    std::string msg = "unknown layer '" + name + "'; valid layers: " + std::string(kInputLayer);
    for (const auto& e : layers_) msg += ", " + e.name;
    if (!aliases_.empty()) {
      msg += "; aliases:";
      for (std::size_t i = 0; i < aliases_.size(); ++i)
        msg += (i ? ", " : " ") + aliases_[i].first + " (" + aliases_[i].second + ")";
    }
    throw ArgumentError(msg);
  }

  // Output features of the last Linear layer (0 if there is none).
  std::int64_t num_classes() const {
    for (auto it = layers_.rbegin(); it != layers_.rend(); ++it)
      if (const auto* l = std::get_if<Linear<T>>(&it->layer)) return l->out_features();
    return 0;
  }

  // The shape after layer `until` for an input of shape `x` given to the layer after `from`
  // (both names or aliases; "input" = before the first). ShapeError naming the first layer that
  // cannot take its input.
  Shape output_shape(const Shape& x, const std::string& from = kInputLayer,
                     const std::string& until = "") const {
    const std::size_t end = until.empty() ? layers_.size() : after(resolve_layer(until));
    return check_shapes(x, after(resolve_layer(from)), end);
  }

  // ---- running (the Classifier interface) ----

  Tensor<T> forward(const Tensor<T>& x) const {
    check_shapes(x.shape(), 0, layers_.size());
    return infer(x, 0, layers_.size());
  }

  Cut<T> forward_until(const Tensor<T>& x, const std::string& layer) const {
    const std::string canon = resolve_layer(layer);
    const std::size_t end = after(canon);
    check_shapes(x.shape(), 0, end);
    return Cut<T>{canon, ad::Var<T>(infer(x, 0, end)), {}};
  }

  ad::Var<T> forward_from(const Cut<T>& cut, ad::Tape<T>& tape) const {
    check_cut_tape(cut, tape, "Sequential::forward_from");
    const std::size_t begin = after(resolve_layer(cut.layer));
    check_shapes(cut.activation.shape(), begin, layers_.size());
    Context<T> ctx;
    return run(cut.activation, begin, layers_.size(), ctx);
  }

  Cut<T> forward_between(const Cut<T>& cut, const std::string& until, ad::Tape<T>& tape) const {
    check_cut_tape(cut, tape, "Sequential::forward_between");
    const std::string from = resolve_layer(cut.layer), to = resolve_layer(until);
    const std::size_t begin = after(from), end = after(to);
    if (end < begin)
      throw ArgumentError("Sequential::forward_between: '" + to + "' comes before the cut at '" + from + "'");
    check_shapes(cut.activation.shape(), begin, end);
    Context<T> ctx;
    return Cut<T>{to, run(cut.activation, begin, end, ctx), {}};
  }

  // The whole network with its parameters as variables of `tape` (x may be a constant).
  TrainOutput<T> forward_train(const ad::Var<T>& x, ad::Tape<T>& tape) const {
    if (x.tracked() && x.tape() != &tape)
      throw ArgumentError("Sequential::forward_train: the input is a variable of another tape");
    check_shapes(x.shape(), 0, layers_.size());
    Context<T> ctx(tape);
    TrainOutput<T> out;
    out.logits = run(x, 0, layers_.size(), ctx);
    out.parameters = ctx.take_parameter_vars();
    return out;
  }

  // ---- parameters ----

  std::vector<ConstParameter<T>> parameters() const {
    std::vector<ConstParameter<T>> ps;
    for (const auto& e : layers_)
      std::visit(
          [&](const auto& l) {
            l.for_each_parameter([&](const char* n, const Tensor<T>& t) { ps.push_back({e.name + "." + n, t}); });
          },
          e.layer);
    return ps;
  }
  std::int64_t parameter_count() const {
    std::int64_t n = 0;
    for (const auto& p : parameters()) n += p.tensor.numel();
    return n;
  }

  // Calls f(std::vector<Parameter<T>>&) with every parameter as (name, Tensor&), in
  // parameters() order, for an in-place update; then rebuilds every convolution's prepared
  // weights (also when f throws), so the fast path stays valid.
  template <class F>
  void update_parameters(F&& f) {
    std::vector<Parameter<T>> ps;
    for (auto& e : layers_)
      std::visit([&](auto& l) { l.for_each_parameter([&](const char* n, Tensor<T>& t) { ps.push_back({e.name + "." + n, t}); }); },
                 e.layer);
    try {
      std::forward<F>(f)(ps);
    } catch (...) {
      refresh_prepared();
      throw;
    }
    refresh_prepared();
  }

  // exact: every convolution without the Winograd algorithm (kernels::Conv2dParams::exact), for
  // float results rounded like a plain sum of products; slower (docs/benchmarks.md, "Accuracy").
  void set_exact_convolutions(bool exact) {
    for (auto& e : layers_)
      if (auto* c = std::get_if<Conv2d<T>>(&e.layer)) c->set_exact(exact);
  }

 private:
  void refresh_prepared() {
    for (auto& e : layers_)
      if (auto* c = std::get_if<Conv2d<T>>(&e.layer)) c->refresh();
  }

  // Index of the first layer after `canonical` (0 for "input").
  std::size_t after(const std::string& canonical) const {
    return canonical == kInputLayer ? 0 : position(canonical) + 1;
  }
  std::size_t position(const std::string& canonical) const {
    auto it = index_.find(canonical);
    if (it == index_.end()) throw ArgumentError("Sequential: 'input' is not a layer here");
    return it->second;
  }

  Shape check_shapes(const Shape& x, std::size_t begin, std::size_t end) const {
    Shape s = x;
    for (std::size_t i = begin; i < end; ++i) {
      const Entry& e = layers_[i];
      try {
        s = std::visit([&](const auto& l) { return l.output_shape(s); }, e.layer);
      } catch (const ShapeError& err) {
        const std::string first = begin == 0 ? "the network's input" : "the activation after " + layers_[begin - 1].name;
        throw ShapeError("layer '" + e.name + "' (" + describe(e.layer) + ") cannot take input " + s.str() + ", given " +
                         first + " " + x.str() + ": " + err.what() +
                         (input_requirement_.empty() ? "" : " (" + input_requirement_ + ")"));
      }
    }
    return s;
  }

  static std::string describe(const Layer<T>& l) {
    return std::visit([](const auto& x) { return x.describe(); }, l);
  }

  // Unrecorded: float takes the fused, blocked-layout path (nn/detail/blocked_forward.hpp, the
  // same values bit for bit); double runs each layer's own forward.
  Tensor<T> infer(const Tensor<T>& x, std::size_t begin, std::size_t end) const {
    if constexpr (std::is_same_v<T, float>) {
      return detail::blocked_forward(x, begin, end, [&](std::size_t i) -> const Layer<T>& { return layers_[i].layer; });
    } else {
      Context<T> ctx;
      return run(ad::Var<T>(x), begin, end, ctx).value();
    }
  }

  ad::Var<T> run(ad::Var<T> x, std::size_t begin, std::size_t end, Context<T>& ctx) const {
    for (std::size_t i = begin; i < end; ++i) {
      const Entry& e = layers_[i];
      ctx.enter(e.name);
      x = std::visit([&](const auto& l) { return l.forward(x, ctx); }, e.layer);
    }
    return x;
  }

  std::vector<Entry> layers_;
  std::unordered_map<std::string, std::size_t> index_;
  std::vector<std::pair<std::string, std::string>> aliases_;
  std::unordered_map<std::string, std::size_t> alias_index_;
  std::string input_requirement_;
};

static_assert(Classifier<Sequential<float>> && Classifier<Sequential<double>>);

}  // namespace gradattr::nn
