#pragma once
// The shipped score policies (docs/methods.md §1), each a model of ScoreSpace:
//
//   policy      S                    ∂S/∂z                 shift-invariant
//   Pre         z_c                  e_c                   no (∂S/∂u gains ∂t/∂u under z + t·1)
//   Post        y_c = softmax(z)_c   y_c (e_c − y)         yes
//   LogSoftmax  log y_c              e_c − y               yes
//   Contrast    z_c − z_c′           e_c − e_c′            yes
//   Centered    z_c − (1/n) Σ_j z_j  e_c − 1/n             yes (never saturates)
//
// Post and LogSoftmax go through the stable log-softmax (max subtraction, log-sum-exp); y is
// exp(log_softmax), never a division. Post's seed is computed as y_c times LogSoftmax's seed,
// element by element, so Post = y_c · LogSoftmax holds bit for bit at the seed.
//
// Shift invariance at this level: for z + t·1 with a constant t all four seeds are unchanged
// (Pre's seed e_c trivially so). What differs for Pre is downstream: when t = f(x) is built by
// the network, the backward pass adds ∂f/∂u to Pre's gradient, while the seeds of the
// shift-invariant policies sum to zero over classes and so cancel it.
#include <cmath>
#include <cstdint>
#include <string_view>

#include "gradattr/core/tensor.hpp"
#include "gradattr/kernels/softmax.hpp"
#include "gradattr/score/score_space.hpp"

namespace gradattr::score {

// S = z_c, the pre-softmax logit.
struct Pre {
  static constexpr std::string_view name = "pre";
  static constexpr bool shift_invariant = false;
  static constexpr bool linear_in_logits = true;

  template <class T>
  static Tensor<T> score(const Tensor<T>& z, Classes classes) {
    check_logits_and_classes(z, classes, "score::Pre");
    const auto N = z.dim(0);
    auto s = Tensor<T>::uninitialized({N});
    for (std::int64_t n = 0; n < N; ++n) s[n] = z(n, classes[static_cast<std::size_t>(n)]);  // METHODS §1: S = z_c
    return s;
  }
  template <class T>
  static Tensor<T> seed(const Tensor<T>& z, Classes classes) {
    check_logits_and_classes(z, classes, "score::Pre");
    Tensor<T> d(z.shape());
    for (std::int64_t n = 0; n < z.dim(0); ++n) d(n, classes[static_cast<std::size_t>(n)]) = T{1};  // METHODS §1: e_c
    return d;
  }
};

// S = log y_c = z_c − logsumexp(z). Minus the cross-entropy loss of class c.
struct LogSoftmax {
  static constexpr std::string_view name = "log";
  static constexpr bool shift_invariant = true;

  // Along u with z = b + J u: log y_c = z_c − logsumexp(z), and the derivatives of logsumexp
  // along u are the cumulants of J under y, so S' = J_c − E_y[J] = l1, S'' = −Var_y(J),
  // S''' = −κ₃ (docs/methods.md §2, Grad-CAM++ exact).
  static ScoreDerivatives along_linear_logits(double l1, double k2, double k3, double /*y_c*/) {
    return {l1, -k2, -k3};
  }

  template <class T>
  static Tensor<T> score(const Tensor<T>& z, Classes classes) {
    check_logits_and_classes(z, classes, "score::LogSoftmax");
    const auto ls = log_probabilities(z);
    auto s = Tensor<T>::uninitialized({z.dim(0)});
    for (std::int64_t n = 0; n < z.dim(0); ++n) s[n] = ls(n, classes[static_cast<std::size_t>(n)]);  // METHODS §1: log y_c
    return s;
  }
  template <class T>
  static Tensor<T> seed(const Tensor<T>& z, Classes classes) {
    check_logits_and_classes(z, classes, "score::LogSoftmax");
    const auto ls = log_probabilities(z);
    auto d = Tensor<T>::uninitialized(z.shape());
    for (std::int64_t n = 0; n < z.dim(0); ++n) seed_row(ls, n, classes[static_cast<std::size_t>(n)], T{1}, d);
    return d;
  }

  // Row n of scale · (e_c − y) from the log-probabilities ls. The class's own entry 1 − y_c is
  // computed as Σ_{j≠c} y_j: when y_c → 1, 1 − y_c in floating point keeps only a few bits (the
  // saturation of docs/methods.md §1), while the sum of the small competitors is accurate.
  template <class T>
  static void seed_row(const Tensor<T>& ls, std::int64_t n, std::int64_t c, T scale, Tensor<T>& d) {
    const auto C = ls.dim(1);
    T rest = 0;
    for (std::int64_t j = 0; j < C; ++j) {
      if (j == c) continue;
      const T yj = std::exp(ls(n, j));
      rest += yj;
      d(n, j) = scale * -yj;  // METHODS §1: e_c − y, off the class
    }
    d(n, c) = scale * rest;  // 1 − y_c
  }

  // Row-wise log-softmax of z (stable), shared by LogSoftmax and Post.
  template <class T>
  static Tensor<T> log_probabilities(const Tensor<T>& z) {
    auto ls = Tensor<T>::uninitialized(z.shape());
    kernels::log_softmax(ls, z);
    return ls;
  }
};

// S = y_c = softmax(z)_c, the probability.
struct Post {
  static constexpr std::string_view name = "post";
  static constexpr bool shift_invariant = true;

  // S = y_c = exp(L), L = log y_c with L' = l1, L'' = −k2, L''' = −k3 (LogSoftmax): by the chain
  // rule S' = y_c L', S'' = y_c (L'² + L''), S''' = y_c (L'³ + 3 L' L'' + L''') (docs/methods.md §2).
  static ScoreDerivatives along_linear_logits(double l1, double k2, double k3, double y_c) {
    const double L1 = l1, L2 = -k2, L3 = -k3;
    return {y_c * L1, y_c * (L1 * L1 + L2), y_c * (L1 * L1 * L1 + 3 * L1 * L2 + L3)};
  }

  template <class T>
  static Tensor<T> score(const Tensor<T>& z, Classes classes) {
    check_logits_and_classes(z, classes, "score::Post");
    auto s = LogSoftmax::score(z, classes);
    for (auto& v : s) v = std::exp(v);  // METHODS §1: y_c = exp(log y_c)
    return s;
  }
  template <class T>
  static Tensor<T> seed(const Tensor<T>& z, Classes classes) {
    check_logits_and_classes(z, classes, "score::Post");
    const auto ls = LogSoftmax::log_probabilities(z);
    auto d = Tensor<T>::uninitialized(z.shape());
    for (std::int64_t n = 0; n < z.dim(0); ++n) {
      const auto c = classes[static_cast<std::size_t>(n)];
      // METHODS §1: y_c (e_c − y), as y_c times LogSoftmax's seed row (same rounding, so exact)
      LogSoftmax::seed_row(ls, n, c, std::exp(ls(n, c)), d);
    }
    return d;
  }
};

// S = z_c − z_c′: the evidence for c against one competitor c′ (METHODS §1, "worth
// shipping"). Carries state (c′), which the concept allows. When c′ = c the score and the
// seed are zero.
struct Contrast {
  static constexpr std::string_view name = "contrast";
  static constexpr bool shift_invariant = true;
  static constexpr bool linear_in_logits = true;

  std::int64_t other = 0;  // the contrast class c′

  Contrast() = default;
  explicit Contrast(std::int64_t other_class) : other(other_class) {}

  template <class T>
  Tensor<T> score(const Tensor<T>& z, Classes classes) const {
    check(z, classes);
    auto s = Tensor<T>::uninitialized({z.dim(0)});
    for (std::int64_t n = 0; n < z.dim(0); ++n)
      s[n] = z(n, classes[static_cast<std::size_t>(n)]) - z(n, other);  // S = z_c − z_c′
    return s;
  }
  template <class T>
  Tensor<T> seed(const Tensor<T>& z, Classes classes) const {
    check(z, classes);
    Tensor<T> d(z.shape());
    for (std::int64_t n = 0; n < z.dim(0); ++n) {
      d(n, classes[static_cast<std::size_t>(n)]) += T{1};  // e_c − e_c′ (zero when c′ = c)
      d(n, other) -= T{1};
    }
    return d;
  }

 private:
  template <class T>
  void check(const Tensor<T>& z, Classes classes) const {
    check_logits_and_classes(z, classes, "score::Contrast");
    if (other < 0 || other >= z.dim(1))
      throw ArgumentError("score::Contrast: contrast class " + std::to_string(other) + " is outside [0, " +
                          std::to_string(z.dim(1)) + ")");
  }
};

// S = z_c − (1/n) Σ_j z_j, the centred logit (docs/methods.md §1): shift-invariant like Post and
// LogSoftmax (a t·1 added to z cancels in z_c − mean z), and, being linear in z, it never
// saturates: its seed e_c − 1/n does not depend on z.
struct Centered {
  static constexpr std::string_view name = "centered";
  static constexpr bool shift_invariant = true;
  static constexpr bool linear_in_logits = true;

  template <class T>
  static Tensor<T> score(const Tensor<T>& z, Classes classes) {
    check_logits_and_classes(z, classes, "score::Centered");
    const auto C = z.dim(1);
    auto s = Tensor<T>::uninitialized({z.dim(0)});
    for (std::int64_t n = 0; n < z.dim(0); ++n) {
      double sum = 0;
      for (std::int64_t j = 0; j < C; ++j) sum += static_cast<double>(z(n, j));
      // METHODS §1: S = z_c − (1/n) Σ_j z_j (the mean in double)
      s[n] = static_cast<T>(static_cast<double>(z(n, classes[static_cast<std::size_t>(n)])) - sum / static_cast<double>(C));
    }
    return s;
  }
  template <class T>
  static Tensor<T> seed(const Tensor<T>& z, Classes classes) {
    check_logits_and_classes(z, classes, "score::Centered");
    const auto C = z.dim(1);
    const T inv = static_cast<T>(1.0 / static_cast<double>(C));
    auto d = Tensor<T>::uninitialized(z.shape());
    // METHODS §1: e_c − 1/n, with d_c = 1 − fl(1/n) rounded once: what a one-hot minus 1/n computes
    // (PyTorch's reference), so the seed equals it bit for bit. (Summing the others' 1/n instead
    // would make the row sum exactly zero but moves d_c by (n − 1) roundings: 0.90000004 for n = 10.)
    for (std::int64_t n = 0; n < z.dim(0); ++n) {
      for (std::int64_t j = 0; j < C; ++j) d(n, j) = -inv;
      d(n, classes[static_cast<std::size_t>(n)]) = T(1) - inv;
    }
    return d;
  }
};

static_assert(ScoreSpace<Pre> && ScoreSpace<Post> && ScoreSpace<LogSoftmax> && ScoreSpace<Contrast> &&
              ScoreSpace<Centered>);

}  // namespace gradattr::score

namespace gradattr {
using score::Centered;
using score::Contrast;
using score::LogSoftmax;
using score::Post;
using score::Pre;
}  // namespace gradattr
