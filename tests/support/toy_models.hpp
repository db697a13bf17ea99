#pragma once
// Small seeded Classifiers built from autodiff ops, for the attribution tests (no weights file):
//
//   shallow: input -> conv (3x3, pad 1) -> relu -> pool (adaptive avg 1x1) -> flatten -> fc
//   deep:    input -> conv -> relu -> conv2 -> relu2 -> pool -> flatten -> fc
//   residual (ToyResidual): input -> conv -> relu -> conv2 -> add (conv2 + relu: a skip from
//            relu) -> relu2 -> pool -> flatten -> fc. A cut at conv2 carries relu's output
//            across it (Cut::carried), as a ResNet block cut inside it does.
//
// Layer names in that order; "last_conv" is an alias of "relu" (the CAM layer). With the
// shallow model and Pre, Grad-CAM equals the class activation map Σ_k W_ck A_k / Z exactly
// (∂z_c/∂A_kij = W_ck / Z).
#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gradattr/autodiff/ops.hpp"
#include "gradattr/core/error.hpp"
#include "gradattr/models/classifier.hpp"

namespace gradattr::testing {

// Fills tensors with shift + scale·N(0, 1) draws, one seeded stream across calls (the toy
// models' weights, drawn in a fixed order).
struct NormalFiller {
  std::mt19937_64 rng;
  std::normal_distribution<double> n01{0.0, 1.0};
  explicit NormalFiller(std::uint64_t seed) : rng(seed) {}
  template <class T>
  void operator()(Tensor<T>& t, double scale, double shift = 0) {
    for (auto& v : t) v = static_cast<T>(shift + scale * n01(rng));
  }
};

template <class T>
class ToyCnn {
 public:
  using scalar_type = T;

  explicit ToyCnn(std::uint64_t seed = 1, bool deep = false, std::int64_t in_channels = 3, std::int64_t channels = 6,
                  std::int64_t classes = 5)
      : deep_(deep) {
    NormalFiller fill(seed);
    w1_ = Tensor<T>({channels, in_channels, 3, 3});
    b1_ = Tensor<T>({channels});
    fill(w1_, 0.4);
    fill(b1_, 0.1, 0.05);
    if (deep_) {
      w2_ = Tensor<T>({channels, channels, 3, 3});
      b2_ = Tensor<T>({channels});
      fill(w2_, 0.3);
      fill(b2_, 0.1, 0.05);
    }
    wf_ = Tensor<T>({classes, channels});
    bf_ = Tensor<T>({classes});
    fill(wf_, 1.0);
    fill(bf_, 0.2);
    names_ = deep_ ? std::vector<std::string>{"conv", "relu", "conv2", "relu2", "pool", "flatten", "fc"}
                   : std::vector<std::string>{"conv", "relu", "pool", "flatten", "fc"};
  }

  const Tensor<T>& fc_weight() const noexcept { return wf_; }
  std::int64_t num_classes() const noexcept { return wf_.dim(0); }
  std::vector<std::string> layer_names() const { return names_; }
  std::string resolve_layer(const std::string& name) const {
    if (name == "last_conv") return "relu";
    if (name == models::kInputLayer) return name;
    for (const auto& n : names_)
      if (n == name) return n;
    std::string all;
    for (const auto& n : names_) all += (all.empty() ? "" : ", ") + n;
    throw ArgumentError("ToyCnn: unknown layer '" + name + "' (layers: input, " + all + ")");
  }

  Tensor<T> forward(const Tensor<T>& x) const {
    ad::Tape<T> tape;
    return run(ad::Var<T>(x), -1, static_cast<int>(names_.size()) - 1, tape).value();
  }
  models::Cut<T> forward_until(const Tensor<T>& x, const std::string& layer) const {
    ad::Tape<T> tape;
    return {resolve_layer(layer), run(ad::Var<T>(x), -1, index(layer), tape).value(), {}};
  }
  ad::Var<T> forward_from(const models::Cut<T>& cut, ad::Tape<T>& tape) const {
    return run(cut.activation, index(cut.layer), static_cast<int>(names_.size()) - 1, tape);
  }
  models::Cut<T> forward_between(const models::Cut<T>& cut, const std::string& until, ad::Tape<T>& tape) const {
    return {resolve_layer(until), run(cut.activation, index(cut.layer), index(until), tape), {}};
  }

 private:
  int index(const std::string& layer) const {
    const auto canon = resolve_layer(layer);
    if (canon == models::kInputLayer) return -1;
    return static_cast<int>(std::find(names_.begin(), names_.end(), canon) - names_.begin());
  }
  // Applies the layers after `from` up to and including `to` (-1 = the input).
  ad::Var<T> run(ad::Var<T> v, int from, int to, ad::Tape<T>&) const {
    kernels::Conv2dParams p;
    p.pad_h = p.pad_w = 1;
    for (int i = from + 1; i <= to; ++i) {
      const std::string& n = names_[static_cast<std::size_t>(i)];
      if (n == "conv") v = ad::conv2d(v, w1_, b1_, p);
      else if (n == "conv2") v = ad::conv2d(v, w2_, b2_, p);
      else if (n == "relu" || n == "relu2") v = ad::relu(v);
      else if (n == "pool") v = ad::adaptive_avg_pool2d(v, 1, 1);
      else if (n == "flatten") v = ad::flatten(v);
      else if (n == "fc") v = ad::linear(v, wf_, bf_);
    }
    return v;
  }

  bool deep_;
  Tensor<T> w1_, b1_, w2_, b2_, wf_, bf_;
  std::vector<std::string> names_;
};

// conv -> relu -> conv2 -> add(conv2, relu) -> relu2 -> pool -> flatten -> fc: the skip from relu
// to add crosses every cut at conv2, which therefore carries relu's output. Written as a tiny
// graph executor over named values, independent of nn::Sequential.
template <class T>
class ToyResidual {
 public:
  using scalar_type = T;

  explicit ToyResidual(std::uint64_t seed = 3, std::int64_t in_channels = 3, std::int64_t channels = 5,
                       std::int64_t classes = 4) {
    NormalFiller fill(seed);
    w1_ = Tensor<T>({channels, in_channels, 3, 3});
    b1_ = Tensor<T>({channels});
    w2_ = Tensor<T>({channels, channels, 3, 3});
    b2_ = Tensor<T>({channels});
    wf_ = Tensor<T>({classes, channels});
    bf_ = Tensor<T>({classes});
    fill(w1_, 0.4);
    fill(b1_, 0.1, 0.05);
    fill(w2_, 0.3);
    fill(b2_, 0.1);
    fill(wf_, 1.0);
    fill(bf_, 0.2);
  }

  std::int64_t num_classes() const noexcept { return wf_.dim(0); }
  std::vector<std::string> layer_names() const { return kNames; }
  std::string resolve_layer(const std::string& name) const {
    if (name == "last_conv") return "relu2";
    if (name == models::kInputLayer) return name;
    for (const auto& n : kNames)
      if (n == name) return n;
    throw ArgumentError("ToyResidual: unknown layer '" + name + "'");
  }

  Tensor<T> forward(const Tensor<T>& x) const {
    ad::Tape<T> tape;
    return forward_from(models::input_cut(ad::Var<T>(x)), tape).value();
  }
  models::Cut<T> forward_until(const Tensor<T>& x, const std::string& layer) const {
    ad::Tape<T> tape;
    models::Cut<T> c = forward_between(models::input_cut(ad::Var<T>(x)), layer, tape);
    return c;  // nothing was tracked: every Var is a constant
  }
  ad::Var<T> forward_from(const models::Cut<T>& cut, ad::Tape<T>& tape) const {
    return forward_between(cut, "fc", tape).activation;
  }
  models::Cut<T> forward_between(const models::Cut<T>& cut, const std::string& until, ad::Tape<T>&) const {
    const int from = index(cut.layer), to = index(until);
    if (to < from) throw ArgumentError("ToyResidual: '" + until + "' comes before '" + cut.layer + "'");
    if (static_cast<int>(cut.carried.size()) != carried_count(from))
      throw ArgumentError("ToyResidual: the cut at '" + cut.layer + "' must carry " + std::to_string(carried_count(from)) +
                          " value(s)");
    kernels::Conv2dParams p;
    p.pad_h = p.pad_w = 1;
    ad::Var<T> v = cut.activation;
    // The skip value: relu's output, which is the cut's own activation when cut at relu.
    ad::Var<T> skip = from == 1 ? cut.activation : carried_count(from) ? cut.carried[0] : ad::Var<T>();
    for (int i = from + 1; i <= to; ++i) {
      const std::string& n = kNames[static_cast<std::size_t>(i)];
      if (n == "conv") v = ad::conv2d(v, w1_, b1_, p);
      else if (n == "relu") v = skip = ad::relu(v);
      else if (n == "conv2") v = ad::conv2d(v, w2_, b2_, p);
      else if (n == "add") v = ad::add(v, skip);
      else if (n == "relu2") v = ad::relu(v);
      else if (n == "pool") v = ad::adaptive_avg_pool2d(v, 1, 1);
      else if (n == "flatten") v = ad::flatten(v);
      else if (n == "fc") v = ad::linear(v, wf_, bf_);
    }
    models::Cut<T> out{resolve_layer(until), v, {}};
    if (carried_count(to)) out.carried.push_back(skip);
    return out;
  }

 private:
  inline static const std::vector<std::string> kNames = {"conv", "relu", "conv2", "add", "relu2", "pool", "flatten", "fc"};
  // Only the cut at conv2 lies strictly between relu (the skip's source) and add (its reader):
  // it carries relu's output. (The cut at relu has it as its activation.)
  static int carried_count(int index) { return index == 2 ? 1 : 0; }
  int index(const std::string& layer) const {
    const auto canon = resolve_layer(layer);
    if (canon == models::kInputLayer) return -1;
    return static_cast<int>(std::find(kNames.begin(), kNames.end(), canon) - kNames.begin());
  }
  Tensor<T> w1_, b1_, w2_, b2_, wf_, bf_;
};

}  // namespace gradattr::testing
