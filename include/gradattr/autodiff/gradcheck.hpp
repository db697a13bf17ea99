#pragma once
// gradcheck(f, inputs): the analytic gradients of a scalar function against central finite
// differences, in double. One checker for every op and every model (as dlib's test_layer).
//
// f maps a std::vector<Var<double>> to a scalar Var<double> (one element). gradcheck calls it
// once with tape variables (for the analytic gradients) and twice per input element with
// constants (nothing is recorded then, so the extra evaluations stay cheap), comparing
//   analytic  vs  numeric = (f(x + eps·e_i) − f(x − eps·e_i)) / (2 eps)
// element by element: an element passes when |analytic − numeric| <= atol + rtol·|numeric|.
//
// Kinks. Finite differences are wrong where f is not differentiable: ReLU at 0, max-pool where
// two inputs of a window tie, and anything within eps of those. Give inputs that keep every
// ReLU input and every pooling window at least ~1e-4 away from a kink. kink_free_random()
// makes inputs whose values are pairwise distinct (spaced (hi − lo)/n apart) and away from 0,
// which settles kinks at the first layer; deeper in a network, random weights put
// pre-activations within eps of a kink with negligible probability.
// Also a check of "assign, don't accumulate": the analytic pass runs with NaN-filled gradient
// buffers (Tape::poison_gradient_buffers). ReLU outputs of exactly 0
// tying in a max-pool window are harmless (both sides of the difference see the same zeros).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "gradattr/autodiff/grad.hpp"
#include "gradattr/autodiff/tape.hpp"
#include "gradattr/autodiff/var.hpp"

namespace gradattr::ad {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
};

struct GradcheckResult {
  bool passed = true;
  std::int64_t checked = 0;   // elements compared, over all inputs
  double max_abs_error = 0;   // max |analytic − numeric| over all elements
  // The worst element: the largest |analytic − numeric| / (atol + rtol·|numeric|); above 1 fails.
  std::size_t input = 0;
  std::int64_t element = -1;  // flat index into that input
  double analytic = 0, numeric = 0;

  explicit operator bool() const noexcept { return passed; }
  std::string str() const {
    std::ostringstream os;
    os.precision(6);
    os << "max abs error " << max_abs_error << ", " << checked << " elements checked: " << (passed ? "PASS" : "FAIL");
    if (element >= 0)
      os << " (worst: input " << input << " element " << element << ", analytic " << analytic << ", numeric "
         << numeric << ")";
    return os.str();
  }
};

// Uniform-looking values in [lo, hi) that are pairwise distinct, at least (hi − lo)/n apart,
// and at least (hi − lo)/(4n) away from 0: a random permutation of an evenly spaced grid.
// Deterministic for a seed.
template <class T = double>
Tensor<T> kink_free_random(const Shape& shape, std::uint64_t seed, double lo = -1.0, double hi = 1.0) {
  if (!(hi > lo)) throw ArgumentError("kink_free_random: needs lo < hi");
  const std::int64_t n = shape.numel();
  std::vector<std::int64_t> slots(static_cast<std::size_t>(n));
  std::iota(slots.begin(), slots.end(), std::int64_t{0});
  std::mt19937_64 rng(seed);
  std::shuffle(slots.begin(), slots.end(), rng);
  const double step = (hi - lo) / static_cast<double>(std::max<std::int64_t>(n, 1));
  // Grid points lo + (k + ½)·step; if one lands within step/4 of 0, shift the whole grid by
  // half a step, which moves every point at least step/4 away from 0.
  double offset = lo + 0.5 * step;
  const double k0 = std::round((0.0 - offset) / step);
  if (k0 >= 0 && k0 < static_cast<double>(n) && std::abs(offset + k0 * step) < 0.25 * step) offset += 0.5 * step;
  Tensor<T> t = Tensor<T>::uninitialized(shape);
  for (std::int64_t i = 0; i < n; ++i)
    t[i] = static_cast<T>(offset + static_cast<double>(slots[static_cast<std::size_t>(i)]) * step);
  return t;
}

// F: Var<double>(const std::vector<Var<double>>&), returning a one-element Var.
template <class F>
GradcheckResult gradcheck(F&& f, const std::vector<Tensor<double>>& inputs, const GradcheckOptions& opts = {}) {
  using V = Var<double>;
  // Private copies: the finite differences perturb them in place.
  std::vector<Tensor<double>> xs;
  for (const auto& x : inputs) xs.push_back(x.clone());

  auto evaluate = [&](const std::vector<V>& vars) {
    V out = std::invoke(f, vars);
    if (out.value().numel() != 1)
      throw ArgumentError("gradcheck: f must return a scalar (one element), got " + out.shape().str());
    return out;
  };

  std::vector<Tensor<double>> analytic;
  {
    Tape<double> tape;
    // NaN-filled gradient buffers: an op that adds into a fresh buffer instead of assigning it
    // then fails the check (dlib's "prefill with garbage" test, for every op gradcheck sees).
    tape.poison_gradient_buffers(true);
    std::vector<V> vars;
    for (const auto& x : xs) vars.push_back(tape.variable(x));
    V out = evaluate(vars);
    if (out.tracked()) {
      analytic = grad(tape, out, vars);
    } else {  // f ignores its inputs
      for (const auto& x : xs) analytic.push_back(Tensor<double>(x.shape()));
    }
  }

  auto value_at = [&]() {
    std::vector<V> constants(xs.begin(), xs.end());
    return evaluate(constants).value()[0];
  };

  GradcheckResult r;
  double worst_ratio = -1;
  for (std::size_t k = 0; k < xs.size(); ++k) {
    Tensor<double>& x = xs[k];
    for (std::int64_t i = 0; i < x.numel(); ++i) {
      const double x0 = x[i];
      x[i] = x0 + opts.eps;
      const double fp = value_at();
      x[i] = x0 - opts.eps;
      const double fm = value_at();
      x[i] = x0;
      const double numeric = (fp - fm) / (2 * opts.eps);
      const double a = analytic[k][i];
      const double err = std::abs(a - numeric);
      const double tol = opts.atol + opts.rtol * std::abs(numeric);
      const double ratio = err == 0 ? 0 : (std::isnan(err) || tol == 0) ? std::numeric_limits<double>::infinity() : err / tol;
      ++r.checked;
      r.max_abs_error = std::max(r.max_abs_error, std::isnan(err) ? std::numeric_limits<double>::infinity() : err);
      if (ratio > worst_ratio) {
        worst_ratio = ratio;
        r.input = k;
        r.element = i;
        r.analytic = a;
        r.numeric = numeric;
      }
    }
  }
  r.passed = !(worst_ratio > 1);
  return r;
}

}  // namespace gradattr::ad
