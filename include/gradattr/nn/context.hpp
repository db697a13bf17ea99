#pragma once
// Per-call state of a layer's forward, and the types through which parameters are handed out.
//
//   Context<T>      what one forward call needs besides the input: whether the parameters are
//                   constants (inference, attribution) or tape variables (training), and the
//                   name of the layer being run. Made by the caller per call, never shared.
//   ParamVar<T>     a parameter as a tape variable, with its name: what a training forward
//                   returns so the caller can ask ad::grad() for it.
//   Parameter<T>    a parameter's name and a reference to its tensor, for an optimiser that
//                   updates it in place (Sequential::parameters()).
//
// Naming: "<layer>.<parameter>", e.g. "features.0.weight", "classifier.6.bias" (torchvision's
// state_dict names).
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gradattr/autodiff/tape.hpp"
#include "gradattr/autodiff/var.hpp"
#include "gradattr/core/tensor.hpp"

namespace gradattr::nn {

template <class T>
struct ParamVar {
  std::string name;
  ad::Var<T> var;
};

template <class T>
struct Parameter {
  std::string name;
  Tensor<T>& tensor;
};

template <class T>
struct ConstParameter {
  std::string name;
  const Tensor<T>& tensor;
};

// Promises: with the default constructor, parameter() returns constants and records nothing;
// with a tape, parameter() makes each parameter a variable of that tape (sharing, not copying,
// its buffer) and remembers it under "<layer>.<name>".
// Thread safety: one Context per call and thread.
template <class T>
class Context {
 public:
  Context() = default;
  explicit Context(ad::Tape<T>& tape) : tape_(&tape) {}

  bool trains_parameters() const noexcept { return tape_ != nullptr; }

  // Called by the container before each layer's forward.
  void enter(std::string_view layer) { layer_.assign(layer); }
  const std::string& layer() const noexcept { return layer_; }

  // The Var through which a layer reads its parameter `p` (called `name` within the layer).
  ad::Var<T> parameter(const Tensor<T>& p, std::string_view name) {
    if (!tape_ || p.empty()) return ad::Var<T>(p);
    ad::Var<T> v = tape_->variable(p);
    params_.push_back({layer_ + "." + std::string(name), v});
    return v;
  }

  // The parameter variables made so far, in the order the layers used them.
  const std::vector<ParamVar<T>>& parameter_vars() const noexcept { return params_; }
  std::vector<ParamVar<T>> take_parameter_vars() { return std::exchange(params_, {}); }

 private:
  ad::Tape<T>* tape_ = nullptr;
  std::string layer_;
  std::vector<ParamVar<T>> params_;
};

}  // namespace gradattr::nn
