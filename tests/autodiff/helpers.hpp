#pragma once
// Shared by the autodiff tests: a gradcheck assertion with a readable failure message, a
// weighted sum that makes every upstream gradient non-uniform, and a tiny VGG-shaped network.
#include <catch2/catch.hpp>
#include <cstdint>
#include <vector>

#include "gradattr/autodiff/autodiff.hpp"
#include "support/testing.hpp"

namespace gradattr::ad::testing {

using V = Var<double>;
using Vars = std::vector<V>;

// Σ y ⊙ c for a fixed random c, so that dy differs element by element (a backward that
// ignores or misplaces dy then fails the check).
template <class T>
Var<T> weighted_sum(const Var<T>& y, std::uint64_t seed = 99) {
  return sum(mul(y, kink_free_random<T>(y.shape(), seed, -1.0, 1.0)));
}

template <class F>
void check_gradients(F&& f, const std::vector<Tensor<double>>& inputs, const GradcheckOptions& opts = {}) {
  const GradcheckResult r = gradcheck(f, inputs, opts);
  INFO(r.str());
  REQUIRE(r.passed);
  REQUIRE(r.checked > 0);
}

// conv-relu-conv-relu-maxpool | conv-relu-maxpool | adaptivepool-flatten-linear-relu-linear,
// on inputs [N, 3, 12, 10], 5 classes. Cut points: 0 = the input, 1 = after the first
// max-pool [N, 4, 6, 5], 2 = after the second [N, 6, 3, 2].
template <class T>
struct TinyVgg {
  Tensor<T> w1, b1, w2, b2, w3, b3, fw1, fb1, fw2, fb2;
  kernels::Conv2dParams same{1, 1, 1, 1};

  static TinyVgg make(std::uint64_t seed) {
    // He-like scales so activations neither vanish nor explode; drawn in double, then cast,
    // so the float and double networks are the same up to rounding.
    auto r = [&](const Shape& s, double scale) {
      return gradattr::testing::random_tensor<double>(s, seed++, -scale, scale).template cast<T>();
    };
    TinyVgg m;
    m.w1 = r({4, 3, 3, 3}, 0.5), m.b1 = r({4}, 0.1);
    m.w2 = r({4, 4, 3, 3}, 0.4), m.b2 = r({4}, 0.1);
    m.w3 = r({6, 4, 3, 3}, 0.4), m.b3 = r({6}, 0.1);
    m.fw1 = r({10, 24}, 0.5), m.fb1 = r({10}, 0.1);
    m.fw2 = r({5, 10}, 0.5), m.fb2 = r({5}, 0.1);
    return m;
  }

  // The network from cut point `from` on.
  Var<T> forward_from(Var<T> a, int from) const {
    if (from <= 0) {
      a = relu(conv2d(a, w1, b1, same));
      a = max_pool2d(relu(conv2d(a, w2, b2, same)));
    }
    if (from <= 1) a = max_pool2d(relu(conv2d(a, w3, b3, same)));
    a = flatten(adaptive_avg_pool2d(a, 2, 2));
    return linear(relu(linear(a, fw1, fb1)), fw2, fb2);
  }
  // The activation at cut point `to`, as a constant (nothing recorded).
  Tensor<T> forward_until(const Tensor<T>& x, int to) const {
    Var<T> a = x;
    if (to >= 1) a = max_pool2d(relu(conv2d(relu(conv2d(a, w1, b1, same)), w2, b2, same)));
    if (to >= 2) a = max_pool2d(relu(conv2d(a, w3, b3, same)));
    return a.value();
  }
  Var<T> operator()(const Var<T>& x) const { return forward_from(x, 0); }
};

}  // namespace gradattr::ad::testing
