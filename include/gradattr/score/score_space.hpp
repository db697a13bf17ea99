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

// Higher derivatives (optional; used by Grad-CAM++'s exact α, docs/methods.md §2): the first three
// derivatives of S along one coordinate u of an activation when the head is piecewise linear, so
// that the logits are locally z = b + J u (J_j = ∂z_j/∂u). A policy may declare either
//   - `static constexpr bool linear_in_logits = true`: S is linear in z, so S'' = S''' = 0 and
//     S' is the gradient of the backward pass (Pre, Centered, Contrast); or
//   - `static ScoreDerivatives along_linear_logits(double l1, double k2, double k3, double y_c)`:
//     S', S'', S''' from the derivatives of log y_c along u, which are l1 = J_c − E_y[J],
//     −k2 = −Var_y(J) and −k3 = −(third central moment of J under y) (LogSoftmax, Post).
// A policy with neither gives Grad-CAM++ no exact α (it falls back to the closed form and says so).
struct ScoreDerivatives {
  double d1 = 0, d2 = 0, d3 = 0;  // S', S'', S'''
};

template <class P>
concept LinearInLogits = requires {
  { P::linear_in_logits } -> std::convertible_to<bool>;
} && P::linear_in_logits;

template <class P>
concept SoftmaxDerivatives = requires(double v) {
  { P::along_linear_logits(v, v, v, v) } -> std::same_as<ScoreDerivatives>;
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
using score::ScoreDerivatives;
}  // namespace gradattr
