#pragma once
// Optimisers: SGD with momentum and Adam, both with (coupled, L2-style) weight decay, as in
// torch.optim.SGD / torch.optim.Adam. They update parameter tensors in place from gradients
// given in the same order at every step; state (momentum, moments) is created at the first step.
//
// Contract: step(params, grads) requires params.size() == grads.size() and matching shapes
// (ShapeError otherwise), and the same parameter list (same order, same shapes) at every step
// (ArgumentError if the count or a shape changes).
// Thread safety: an optimiser is a per-training-run object; not shared.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "gradattr/core/error.hpp"
#include "gradattr/core/parallel.hpp"
#include "gradattr/core/tensor.hpp"

namespace gradattr::nn {

namespace detail {
template <class T>
void check_step(const std::vector<Tensor<T>*>& params, const std::vector<Tensor<T>>& grads,
                std::vector<Tensor<T>>& state, const char* who) {
  if (params.size() != grads.size())
    throw ShapeError(std::string(who) + ": " + std::to_string(params.size()) + " parameters but " +
                     std::to_string(grads.size()) + " gradients");
  for (std::size_t i = 0; i < params.size(); ++i)
    require_same_shape(*params[i], grads[i], std::string(who) + ": parameter " + std::to_string(i) + " and its gradient");
  if (state.empty()) {
    for (auto* p : params) state.emplace_back(p->shape());
    return;
  }
  if (state.size() != params.size())
    throw ArgumentError(std::string(who) + ": the parameter list changed between steps (" + std::to_string(state.size()) +
                        " then " + std::to_string(params.size()) + ")");
  for (std::size_t i = 0; i < params.size(); ++i)
    require_same_shape(*params[i], state[i], std::string(who) + ": parameter " + std::to_string(i) + " changed shape");
}
}  // namespace detail

template <class T>
class Sgd {
 public:
  struct Options {
    double lr = 0.01;
    double momentum = 0.9;
    double weight_decay = 0.0;
  };
  explicit Sgd(Options o) : o_(o) {
    if (!(o.lr > 0) || o.momentum < 0 || o.weight_decay < 0) throw ArgumentError("Sgd: lr must be > 0, momentum and weight_decay >= 0");
  }
  void set_lr(double lr) { o_.lr = lr; }
  double lr() const { return o_.lr; }

  // v = momentum·v + (g + wd·p);  p -= lr·v   (torch.optim.SGD, dampening 0, no Nesterov)
  void step(const std::vector<Tensor<T>*>& params, const std::vector<Tensor<T>>& grads) {
    detail::check_step(params, grads, velocity_, "Sgd::step");
    for (std::size_t i = 0; i < params.size(); ++i) {
      T* p = params[i]->data();
      const T* g = grads[i].data();
      T* v = velocity_[i].data();
      const auto lr = static_cast<T>(o_.lr), mu = static_cast<T>(o_.momentum), wd = static_cast<T>(o_.weight_decay);
      const bool first = steps_ == 0;
      parallel_for(0, params[i]->numel(), 4.0, [&](std::int64_t k) {
        const T d = g[k] + wd * p[k];
        v[k] = first ? d : mu * v[k] + d;
        p[k] -= lr * v[k];
      });
    }
    ++steps_;
  }

 private:
  Options o_;
  std::vector<Tensor<T>> velocity_;
  std::int64_t steps_ = 0;
};

template <class T>
class Adam {
 public:
  struct Options {
    double lr = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 0.0;
  };
  explicit Adam(Options o) : o_(o) {
    if (!(o.lr > 0) || !(o.beta1 >= 0 && o.beta1 < 1) || !(o.beta2 >= 0 && o.beta2 < 1) || !(o.eps > 0) || o.weight_decay < 0)
      throw ArgumentError("Adam: need lr > 0, betas in [0, 1), eps > 0, weight_decay >= 0");
  }
  void set_lr(double lr) { o_.lr = lr; }
  double lr() const { return o_.lr; }

  // torch.optim.Adam (amsgrad off): g += wd·p; m, v moments; bias-corrected update.
  void step(const std::vector<Tensor<T>*>& params, const std::vector<Tensor<T>>& grads) {
    detail::check_step(params, grads, m_, "Adam::step");
    if (v_.empty())
      for (auto* p : params) v_.emplace_back(p->shape());
    ++steps_;
    const double bc1 = 1 - std::pow(o_.beta1, static_cast<double>(steps_));
    const double bc2 = 1 - std::pow(o_.beta2, static_cast<double>(steps_));
    const auto step_size = static_cast<T>(o_.lr / bc1), b1 = static_cast<T>(o_.beta1), b2 = static_cast<T>(o_.beta2);
    const auto wd = static_cast<T>(o_.weight_decay), eps = static_cast<T>(o_.eps), sbc2 = static_cast<T>(std::sqrt(bc2));
    for (std::size_t i = 0; i < params.size(); ++i) {
      T* p = params[i]->data();
      const T* g = grads[i].data();
      T* m = m_[i].data();
      T* v = v_[i].data();
      parallel_for(0, params[i]->numel(), 4.0, [&](std::int64_t k) {
        const T d = g[k] + wd * p[k];
        m[k] = b1 * m[k] + (1 - b1) * d;
        v[k] = b2 * v[k] + (1 - b2) * d * d;
        p[k] -= step_size * m[k] / (std::sqrt(v[k]) / sbc2 + eps);
      });
    }
  }

 private:
  Options o_;
  std::vector<Tensor<T>> m_, v_;
  std::int64_t steps_ = 0;
};

}  // namespace gradattr::nn
