#pragma once
// The ScoreSpace concept: what a score policy must provide so that every attribution method
// can use it (docs/methods.md §1).
//
// A policy P maps logits z [N, C] and one class per row to
//   - p.score(z, classes) -> Tensor<T> [N]     the score S_n of each image,
//   - p.seed(z, classes)  -> Tensor<T> [N, C]  ∂S_n/∂z_n, the seed of the backward pass,
// for T = float and T = double, both callable on a const policy (a policy may hold state, such
// as Contrast's second class, but evaluating it never changes it), plus
//   - P::name            a std::string_view-convertible constant ("pre", "post", ...), used in
//                        results, file names and panel labels,
//   - P::shift_invariant a bool constant: true when S is unchanged by z -> z + t·1.
// A batch's score is the sum of the rows' scores: rows never interact, so one backward pass
// seeded with seed() gives every image the gradient of its own score.
//
// Contract for implementers: validate shapes and classes (check_logits_and_classes) and throw
// before any parallel region; never compute log(softmax(z)) — use kernels::log_softmax.
#include <concepts>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "gradattr/core/error.hpp"
#include "gradattr/core/tensor.hpp"

namespace gradattr::score {

// The classes argument: one class index per row of the logits.
using Classes = std::span<const std::int64_t>;

template <class P, class T>
concept ScoreSpaceFor = requires(const P& p, const Tensor<T>& z, Classes classes) {
  { p.score(z, classes) } -> std::same_as<Tensor<T>>;
  { p.seed(z, classes) } -> std::same_as<Tensor<T>>;
};

template <class P>
concept ScoreSpace = std::copy_constructible<P> && ScoreSpaceFor<P, float> && ScoreSpaceFor<P, double> &&
                     requires {
                       { P::name } -> std::convertible_to<std::string_view>;
                       { P::shift_invariant } -> std::convertible_to<bool>;
                     };

// Throws ShapeError unless z is [N, C] with C >= 1 and classes has N entries, and
// ArgumentError for a class outside [0, C).
template <class T>
void check_logits_and_classes(const Tensor<T>& z, Classes classes, std::string_view who) {
  if (z.rank() != 2 || z.dim(1) < 1)
    throw ShapeError(std::string(who) + ": logits must be [N, C] with C >= 1, got " + z.shape().str());
  if (static_cast<std::int64_t>(classes.size()) != z.dim(0))
    throw ShapeError(std::string(who) + ": " + std::to_string(classes.size()) + " classes for " +
                     std::to_string(z.dim(0)) + " rows of logits " + z.shape().str());
  for (std::size_t n = 0; n < classes.size(); ++n)
    if (classes[n] < 0 || classes[n] >= z.dim(1))
      throw ArgumentError(std::string(who) + ": class " + std::to_string(classes[n]) + " of row " +
                          std::to_string(n) + " is outside [0, " + std::to_string(z.dim(1)) + ")");
}

}  // namespace gradattr::score

namespace gradattr {
using score::ScoreSpace;
using score::ScoreSpaceFor;
}  // namespace gradattr
