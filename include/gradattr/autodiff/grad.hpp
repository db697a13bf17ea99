#pragma once
// grad(tape, output, targets, seed): reverse-mode gradients of `output` with respect to each
// target, computed only along the records that connect the targets to the output.
//
//  1. Mark (one forward sweep over creation order): a record is on the path if it is a target
//     or one of its inputs is. Nothing before the earliest target or after the output can be.
//  2. Sweep backward from the output, visiting only marked records that received a gradient;
//     each op computes gradients only for the inputs that are marked (so a gradient with respect
//     to an activation never computes a weight gradient, and a branch that does not lead to a
//     target is never run).
//
// Promises:
//  - One Tensor per target, in order, of the target's shape; zeros if the output does not depend
//    on it. Each returned tensor has its own buffer (none aliases the seed or another result).
//  - A scalar output (one element) needs no seed (∂output = 1); any other output needs a seed of
//    exactly its shape (the vector of the vector-Jacobian product, e.g. a score's ∂S/∂z).
//  - The tape is not changed: grad() may run again on it.
// Errors: ArgumentError if the output or a target is not a live variable of this tape (a
// constant, another tape's, or from before Tape::clear()), or if a scalar-free output has no
// seed; ShapeError for a seed of the wrong shape.
//
// grad_once(tape, output, targets, seed): the same results, for a tape used for one gradient
// (PyTorch's default, retain_graph=False): each record's saved tensors (activations, ReLU
// outputs, pool indices) are freed as soon as its backward has run, so peak memory falls while
// the sweep goes down the network instead of holding every saved tensor to the end. A later
// grad() through a released record throws ArgumentError.
#include <algorithm>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "gradattr/autodiff/backward_context.hpp"
#include "gradattr/autodiff/profile.hpp"
#include "gradattr/autodiff/tape.hpp"
#include "gradattr/autodiff/var.hpp"

namespace gradattr::ad {

namespace detail {
// The sweep behind grad() and grad_once(): after_backward(i) runs once record i's backward has.
template <class T, class AfterBackward>
std::vector<Tensor<T>> grad_sweep(const Tape<T>& tape, const Var<T>& output, const std::vector<Var<T>>& targets,
                                  const Tensor<T>& seed, AfterBackward after_backward) {
  if (!output.tracked())
    throw ArgumentError("grad: the output is a constant (no input of its computation was a tape variable)");
  tape.check(output, "grad: the output");
  for (std::size_t t = 0; t < targets.size(); ++t) tape.check(targets[t], "grad: target " + std::to_string(t));

  Tensor<T> dout;
  if (seed.empty()) {
    if (output.value().numel() != 1)
      throw ArgumentError("grad: the output " + output.shape().str() +
                          " is not a scalar; pass a seed of its shape (the gradient to propagate)");
    dout = Tensor<T>(output.shape(), T{1});
  } else {
    if (seed.shape() != output.shape())
      throw ShapeError("grad: seed " + seed.shape().str() + " does not match the output " + output.shape().str());
    dout = seed;
  }

  const auto out = static_cast<std::size_t>(output.index());
  std::vector<char> on_path(out + 1, 0), is_target(out + 1, 0);
  std::size_t first = out + 1;
  for (const Var<T>& t : targets) {
    const auto i = static_cast<std::size_t>(t.index());
    if (i > out) continue;  // made after the output: the output cannot depend on it
    on_path[i] = is_target[i] = 1;
    first = std::min(first, i);
  }
  for (std::size_t i = first; i <= out; ++i)
    for (std::int32_t in : tape.record(i).inputs)
      if (in >= 0 && on_path[static_cast<std::size_t>(in)]) on_path[i] = 1;

  std::vector<Tensor<T>> grads(out + 1);
  std::vector<char> owned(out + 1, 0);  // BackwardContext: buffers the sweep made itself
  if (on_path[out]) grads[out] = dout;
  for (std::size_t i = out + 1; i-- > first;) {
    if (!on_path[i] || grads[i].empty()) continue;
    const Record<T>& rec = tape.record(i);
    BackwardContext<T> ctx(rec.inputs, on_path, grads, owned, tape.poisons_gradient_buffers());
    if (OpTimes* prof = backward_profile()) {
      const std::string* label = tape.label(i);
      detail::timed(*prof, label ? *label : std::string(rec.name()),
                    [&] { std::visit([&](const auto& o) { o.backward(grads[i], ctx); }, rec.op); });
    } else {
      std::visit([&](const auto& o) { o.backward(grads[i], ctx); }, rec.op);
    }
    if (!is_target[i]) grads[i] = Tensor<T>();  // no longer needed: free it early
    after_backward(i);
  }

  std::vector<Tensor<T>> result;
  result.reserve(targets.size());
  for (const Var<T>& t : targets) {
    const auto i = static_cast<std::size_t>(t.index());
    Tensor<T> g = i <= out ? grads[i] : Tensor<T>();
    if (g.empty()) {
      result.push_back(Tensor<T>(t.shape()));
      continue;
    }
    // Gradients pass through views (add, reshape, concat): give every result its own buffer.
    bool shared = g.shares_buffer_with(dout);
    for (const Tensor<T>& r : result) shared = shared || g.shares_buffer_with(r);
    result.push_back(shared ? g.clone() : g);
  }
  return result;
}
}  // namespace detail

template <class T>
std::vector<Tensor<T>> grad(const Tape<T>& tape, const Var<T>& output, const std::vector<Var<T>>& targets,
                            const Tensor<T>& seed = Tensor<T>()) {
  return detail::grad_sweep(tape, output, targets, seed, [](std::size_t) {});
}

template <class T>
std::vector<Tensor<T>> grad_once(Tape<T>& tape, const Var<T>& output, const std::vector<Var<T>>& targets,
                                 const Tensor<T>& seed = Tensor<T>()) {
  return detail::grad_sweep(tape, output, targets, seed, [&](std::size_t i) { tape.release(i); });
}

}  // namespace gradattr::ad
