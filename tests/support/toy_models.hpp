#pragma once
// Small seeded Classifiers built from autodiff ops, for the attribution tests (no weights file):
//
//   shallow: input -> conv (3x3, pad 1) -> relu -> pool (adaptive avg 1x1) -> flatten -> fc
//   deep:    input -> conv -> relu -> conv2 -> relu2 -> pool -> flatten -> fc
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

template <class T>
class ToyCnn {
 public:
  using scalar_type = T;

  explicit ToyCnn(std::uint64_t seed = 1, bool deep = false, std::int64_t in_channels = 3, std::int64_t channels = 6,
                  std::int64_t classes = 5)
      : deep_(deep) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> n01(0.0, 1.0);
    auto fill = [&](Tensor<T>& t, double scale, double shift = 0) {
      for (auto& v : t) v = static_cast<T>(shift + scale * n01(rng));
    };
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
  Tensor<T> forward_until(const Tensor<T>& x, const std::string& layer) const {
    ad::Tape<T> tape;
    return run(ad::Var<T>(x), -1, index(layer), tape).value();
  }
  ad::Var<T> forward_from(const ad::Var<T>& a, const std::string& layer, ad::Tape<T>& tape) const {
    return run(a, index(layer), static_cast<int>(names_.size()) - 1, tape);
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

}  // namespace gradattr::testing
