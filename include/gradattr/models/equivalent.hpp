#pragma once
// Equivalent models (docs/methods.md §4): wrappers around a Classifier that change its logits
// without changing what it decides, and are Classifiers themselves, so every attribution
// method runs on them unchanged.
//
//   Shifted<M>        z′ = z + t(x)·1, t(x) = K Σ_k A_{k,0,0}, A = the activation at `layer`
//                     (the channel sum of its top-left position, times K). y′ = y exactly (up to
//                     float rounding of z + t), so Post and LogSoftmax attributions are unchanged,
//                     while Pre attributions gain ∂t/∂u — the vulnerability of Lerma & Lucas.
//                     t is built from recorded ops (select_position, sum_dim1, scale,
//                     add_column), so gradients flow through it exactly as through the network.
//                     A token layer [N, T, D] (a ViT's) gives t(x) = K Σ_d A_{p,d}, the channel
//                     sum of token p (the constructor's `token`; default 0, the class token;
//                     1 is the top-left patch, the analogue of A_{k,0,0}).
//   ConstantShift<M>  z′ = z + c. A constant has zero gradient: every policy, Pre included, gives
//                     the same attribution (and Post/LogSoftmax the same scores).
//   Temperature<M>    z′ = z / T (computed as z · (1/T)), T > 0. Changes y (only the ranking of
//                     classes survives), so only rankings of attributions can be compared.
//
// Makers: shifted(model, layer, K[, token]), constant_shift(model, c), temperature(model, T) copy the
// model (cheap: Tensors share their buffers, so a VGG copy shares its weights).
//
// Lifetime. Wrapper<M> stores an M: a copy by default. Wrapper<const M&> stores a reference
// instead (e.g. `Shifted<const Vgg<float>&> twin(vgg, "features.35", 1000)`), and the wrapped
// model must then outlive the wrapper. Attribution functors keep a pointer to the model they are
// given: a wrapper passed to one must outlive it.
//
// Cut points. The wrappers have the wrapped model's layer names and aliases. The cuts at every
// layer are the wrapped model's, except at the last layer, whose output is the logits: there
// forward_until gives the wrapper's logits z′, and forward_from of that cut returns z′ unchanged.
// Shifted::forward_from(cut, tape):
//   - cut at `layer`: t is computed from the cut's activation, the rest of the network from the cut;
//   - cut before `layer` (e.g. "input", as the input-space methods use): the wrapped model's
//     forward_between runs (recorded) from the cut to `layer`, t branches off the activation
//     there, and the rest runs from that cut. Only the model interface is used, so any
//     Classifier (a chain or a graph) can be wrapped;
//   - cut after `layer` (and before the last layer): ArgumentError. t(x) needs the activation at
//     `layer`, which cannot be recovered from a later one; cut at `layer` or before it.
// forward_between(cut, until, tape): the wrapped model's (the logit transform is not applied
// even when `until` is the last layer: use forward_from for logits).
//
// Thread safety: every method is const and keeps no state; a const wrapper may be shared by
// threads (each call with its own tape) when the wrapped model may.
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "gradattr/autodiff/ops.hpp"
#include "gradattr/autodiff/tape.hpp"
#include "gradattr/autodiff/var.hpp"
#include "gradattr/core/error.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/models/classifier.hpp"

namespace gradattr::models {

namespace equiv_detail {

template <class M>
concept HasDefaultCamLayer = requires(const M& m) {
  { m.default_cam_layer() } -> std::convertible_to<std::string>;
};

// The wrapped model and its layer order, shared by the wrappers.
template <class M>
class Wrapped {
 public:
  using model_type = std::remove_cvref_t<M>;
  using T = typename model_type::scalar_type;
  static_assert(Classifier<model_type>, "the wrapped model must be a models::Classifier");

  explicit Wrapped(M model) : model_(std::forward<M>(model)) {
    const std::vector<std::string> names = model_.layer_names();
    names_ = names;
    if (names_.empty()) throw ArgumentError("equivalent model: the wrapped model has no layers");
  }

  const model_type& inner() const noexcept { return model_; }
  const std::vector<std::string>& names() const noexcept { return names_; }

  // -1 for "input", else the index in layer_names() of a canonical name.
  std::ptrdiff_t position(const std::string& canonical) const {
    if (canonical == kInputLayer) return -1;
    for (std::size_t i = 0; i < names_.size(); ++i)
      if (names_[i] == canonical) return static_cast<std::ptrdiff_t>(i);
    throw ArgumentError("equivalent model: '" + canonical + "' is not one of the wrapped model's layer names");
  }
  bool is_last(const std::string& canonical) const {
    return position(canonical) == static_cast<std::ptrdiff_t>(names_.size()) - 1;
  }

 private:
  M model_;
  std::vector<std::string> names_;
};

// Base of ConstantShift and Temperature: the wrapped model with Derived::transform(z) applied
// to its logits (a recorded op, so it is differentiated too).
template <class Derived, class M>
class LogitTransform {
 public:
  using model_type = std::remove_cvref_t<M>;
  using scalar_type = typename model_type::scalar_type;
  using T = scalar_type;

  explicit LogitTransform(M model) : w_(std::forward<M>(model)) {}

  const model_type& inner() const noexcept { return w_.inner(); }

  Tensor<T> forward(const Tensor<T>& x) const { return self().transform(ad::Var<T>(inner().forward(x))).value(); }

  Cut<T> forward_until(const Tensor<T>& x, const std::string& layer) const {
    const std::string canon = inner().resolve_layer(layer);
    if (canon != kInputLayer && w_.is_last(canon)) return Cut<T>{canon, ad::Var<T>(forward(x)), {}};
    return inner().forward_until(x, canon);
  }

  ad::Var<T> forward_from(const Cut<T>& cut, ad::Tape<T>& tape) const {
    const std::string canon = inner().resolve_layer(cut.layer);
    if (canon != kInputLayer && w_.is_last(canon)) return cut.activation;  // already this model's logits
    return self().transform(inner().forward_from(cut, tape));
  }

  Cut<T> forward_between(const Cut<T>& cut, const std::string& until, ad::Tape<T>& tape) const {
    return inner().forward_between(cut, until, tape);
  }

  std::vector<std::string> layer_names() const { return w_.names(); }
  std::string resolve_layer(const std::string& name) const { return inner().resolve_layer(name); }
  std::int64_t num_classes() const { return static_cast<std::int64_t>(inner().num_classes()); }
  // The wrapped model's default CAM layer, when it names one (attribution's default_cam_layer).
  std::string default_cam_layer() const
    requires HasDefaultCamLayer<model_type>
  {
    return inner().default_cam_layer();
  }
  // The wrapped model's attention layers (nn/classifier.hpp's optional member). Its logits are
  // forward_from's, so the generic nn::forward_tracked serves it.
  std::vector<std::string> attention_layers() const { return nn::attention_layers(inner()); }

 private:
  const Derived& self() const noexcept { return static_cast<const Derived&>(*this); }
  Wrapped<M> w_;
};

}  // namespace equiv_detail

// z′ = z + t(x)·1 with t(x) = K Σ_k A_{k,0,0}, A = the activation at `layer` (see the top of
// this file). The layer must have spatial dimensions ([N, K, H, W]); ArgumentError otherwise,
// at the first call.
template <class M>
class Shifted {
 public:
  using model_type = std::remove_cvref_t<M>;
  using scalar_type = typename model_type::scalar_type;
  using T = scalar_type;
  static constexpr const char* kName = "Shifted";

  // ArgumentError for an unknown layer, the last layer (the logits), a non-finite K or a negative
  // token (a token past the layer's last one: ArgumentError at the first call).
  Shifted(M model, const std::string& layer, double k, std::int64_t token = 0)
      : w_(std::forward<M>(model)), k_(static_cast<T>(k)), token_(token) {
    if (token < 0) throw ArgumentError("Shifted: the token must be >= 0, got " + std::to_string(token));
    layer_ = w_.inner().resolve_layer(layer);
    if (layer_ != kInputLayer && w_.is_last(layer_))
      throw ArgumentError("Shifted: the shift layer '" + layer_ + "' is the last layer (the logits); choose a layer with spatial dimensions");
    if (!std::isfinite(k) || !std::isfinite(static_cast<double>(k_)))
      throw ArgumentError("Shifted: K must be finite, got " + std::to_string(k));
  }

  const model_type& inner() const noexcept { return w_.inner(); }
  const std::string& layer() const noexcept { return layer_; }  // canonical
  T k() const noexcept { return k_; }
  std::int64_t token() const noexcept { return token_; }  // used on token layers only

  // t(x) [N] for a batch x, nothing recorded.
  Tensor<T> shift(const Tensor<T>& x) const { return shift_of(inner().forward_until(x, layer_).activation).value(); }

  Tensor<T> forward(const Tensor<T>& x) const {
    const Cut<T> A = inner().forward_until(x, layer_);
    ad::Tape<T> tape;  // nothing is tracked: nothing is recorded
    return ad::add_column(inner().forward_from(A, tape), shift_of(A.activation)).value();
  }

  Cut<T> forward_until(const Tensor<T>& x, const std::string& layer) const {
    const std::string canon = inner().resolve_layer(layer);
    if (canon != kInputLayer && w_.is_last(canon)) return Cut<T>{canon, ad::Var<T>(forward(x)), {}};
    return inner().forward_until(x, canon);
  }

  ad::Var<T> forward_from(const Cut<T>& cut, ad::Tape<T>& tape) const {
    const std::string at = inner().resolve_layer(cut.layer);
    if (at != kInputLayer && w_.is_last(at)) return cut.activation;  // already this model's logits
    const auto c = w_.position(at), l = w_.position(layer_);
    if (c > l)
      throw ArgumentError("Shifted::forward_from: cannot run from '" + at + "', which comes after the shift layer '" +
                          layer_ + "': t(x) = K Σ_k A_{k,0,0} needs the activation at '" + layer_ +
                          "', which cannot be recovered from a later one. Cut at '" + layer_ +
                          "' or before it (e.g. \"input\").");
    const Cut<T> A = c < l ? inner().forward_between(cut, layer_, tape) : cut;
    return ad::add_column(inner().forward_from(A, tape), shift_of(A.activation));
  }

  Cut<T> forward_between(const Cut<T>& cut, const std::string& until, ad::Tape<T>& tape) const {
    return inner().forward_between(cut, until, tape);
  }

  std::vector<std::string> layer_names() const { return w_.names(); }
  std::string resolve_layer(const std::string& name) const { return inner().resolve_layer(name); }
  std::int64_t num_classes() const { return static_cast<std::int64_t>(inner().num_classes()); }
  // The wrapped model's default CAM layer, when it names one (attribution's default_cam_layer).
  std::string default_cam_layer() const
    requires equiv_detail::HasDefaultCamLayer<model_type>
  {
    return inner().default_cam_layer();
  }
  std::vector<std::string> attention_layers() const { return nn::attention_layers(inner()); }

  // nn::forward_tracked for the twin: the wrapped model's chain of cuts with the shift layer's
  // cut tapped for t (recorded when the shift layer comes after a tracked layer, so t's gradient
  // reaches the tracked values), then z + t·1. Any order of the shift layer and `layers` works.
  nn::Tracked<T> forward_tracked(const Tensor<T>& x, const std::vector<std::string>& layers, ad::Tape<T>& tape,
                                 bool track = true) const {
    ad::Var<T> t;
    nn::Tracked<T> r = nn::forward_tracked_chain(
        inner(), x, layers, layer_, [&](const Cut<T>& c) { t = shift_of(c.activation); }, tape, track);
    r.logits = ad::add_column(r.logits, t);
    return r;
  }

 private:
  // t = K Σ_k A[:, k, 0, 0] as recorded ops: [N]. A token layer [N, T, D] (a ViT's): t = K Σ_d
  // A[:, p, d], the channel sum of token p = token_.
  ad::Var<T> shift_of(const ad::Var<T>& A) const {
    if (A.shape().rank() == 3 && A.shape()[1] >= 1 && A.shape()[2] >= 1) {
      if (token_ >= A.shape()[1])
        throw ArgumentError("Shifted: token " + std::to_string(token_) + " of the shift layer '" + layer_ +
                            "', whose activation " + A.shape().str() + " has " + std::to_string(A.shape()[1]) + " tokens");
      return ad::scale(ad::reduce_sum(ad::slice(A, {token_}, {token_ + 1}, {1}, {}), {1, 2}, false), k_);
    }
    if (A.shape().rank() != 4 || A.shape()[2] < 1 || A.shape()[3] < 1)
      throw ArgumentError("Shifted: the shift layer '" + layer_ + "' has activation " + A.shape().str() +
                          "; t(x) = K Σ_k A_{k,0,0} needs an [N, K, H, W] layer (or tokens [N, T, D]: "
                          "K Σ_d A_{0,d})");
    return ad::scale(ad::sum_dim1(ad::select_position(A, 0, 0)), k_);
  }

  equiv_detail::Wrapped<M> w_;
  std::string layer_;
  T k_;
  std::int64_t token_ = 0;
};

// z′ = z + c.
template <class M>
class ConstantShift : public equiv_detail::LogitTransform<ConstantShift<M>, M> {
  using Base = equiv_detail::LogitTransform<ConstantShift<M>, M>;

 public:
  using typename Base::T;
  static constexpr const char* kName = "ConstantShift";

  ConstantShift(M model, double c) : Base(std::forward<M>(model)), c_(static_cast<T>(c)) {
    if (!std::isfinite(c)) throw ArgumentError("ConstantShift: c must be finite, got " + std::to_string(c));
  }
  T constant() const noexcept { return c_; }
  ad::Var<T> transform(const ad::Var<T>& z) const { return ad::add_scalar(z, c_); }

 private:
  T c_;
};

// z′ = z / T, computed as z · (1/T).
template <class M>
class Temperature : public equiv_detail::LogitTransform<Temperature<M>, M> {
  using Base = equiv_detail::LogitTransform<Temperature<M>, M>;

 public:
  using typename Base::T;
  static constexpr const char* kName = "Temperature";

  // ArgumentError unless T is finite and > 0.
  Temperature(M model, double temperature)
      : Base(std::forward<M>(model)), t_(static_cast<T>(temperature)), inv_(static_cast<T>(1.0 / temperature)) {
    if (!(temperature > 0) || !std::isfinite(temperature))
      throw ArgumentError("Temperature: T must be finite and > 0, got " + std::to_string(temperature));
  }
  T temperature() const noexcept { return t_; }
  ad::Var<T> transform(const ad::Var<T>& z) const { return ad::scale(z, inv_); }

 private:
  T t_, inv_;
};

template <Classifier M>
Shifted<M> shifted(const M& model, const std::string& layer, double k, std::int64_t token = 0) {
  return Shifted<M>(model, layer, k, token);
}
template <Classifier M>
ConstantShift<M> constant_shift(const M& model, double c) {
  return ConstantShift<M>(model, c);
}
template <Classifier M>
Temperature<M> temperature(const M& model, double t) {
  return Temperature<M>(model, t);
}

}  // namespace gradattr::models
