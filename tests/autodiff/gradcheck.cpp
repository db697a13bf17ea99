// gradcheck itself: it passes correct gradients, fails at a kink with a useful report, and
// kink_free_random keeps its promises.
#include <algorithm>
#include <set>

#include "autodiff/helpers.hpp"

using namespace gradattr;
using namespace gradattr::ad;
using namespace gradattr::ad::testing;

TEST_CASE("gradcheck reports a mismatch with the worst element", "[autodiff][gradcheck]") {
  // ReLU at exactly 0: analytic 0 (PyTorch's convention), central difference ½.
  const Tensor<double> x(Shape{3}, {1.0, 0.0, -1.0});
  const auto r = gradcheck([](const Vars& v) { return sum(relu(v[0])); }, {x});
  INFO(r.str());
  REQUIRE_FALSE(r.passed);
  REQUIRE_FALSE(static_cast<bool>(r));
  REQUIRE(r.checked == 3);
  REQUIRE(r.input == 0);
  REQUIRE(r.element == 1);
  REQUIRE(r.analytic == 0.0);
  REQUIRE(r.numeric == Approx(0.5));
  REQUIRE(r.max_abs_error == Approx(0.5));
  REQUIRE_THAT(r.str(), Catch::Contains("FAIL") && Catch::Contains("3 elements checked"));
}

TEST_CASE("gradcheck passes exact gradients and honours its tolerances", "[autodiff][gradcheck]") {
  const auto x = kink_free_random(Shape{2, 3}, 1), y = kink_free_random(Shape{2, 3}, 2);
  const auto r = gradcheck([](const Vars& v) { return sum(mul(exp(v[0]), v[1])); }, {x, y});
  INFO(r.str());
  REQUIRE(r.passed);
  REQUIRE(r.checked == 12);
  REQUIRE(r.max_abs_error < 1e-8);
  REQUIRE_THAT(r.str(), Catch::Contains("PASS"));
  // A huge eps makes the central difference of exp visibly wrong.
  const auto coarse = gradcheck([](const Vars& v) { return sum(exp(v[0])); }, {x}, {.eps = 0.5});
  REQUIRE_FALSE(coarse.passed);
  // f that ignores its inputs: zero gradients everywhere, and they match.
  REQUIRE(gradcheck([](const Vars&) { return V(Tensor<double>::scalar(1.0)); }, {x}).passed);
}

TEST_CASE("gradcheck needs a scalar f", "[autodiff][gradcheck][errors]") {
  REQUIRE_THROWS_AS(gradcheck([](const Vars& v) { return relu(v[0]); }, {kink_free_random(Shape{2}, 1)}),
                    ArgumentError);
}

TEST_CASE("kink_free_random: distinct, spaced, away from zero, deterministic", "[autodiff][gradcheck]") {
  for (auto [lo, hi] : {std::pair{-1.0, 1.0}, std::pair{-0.3, 2.0}, std::pair{0.5, 1.5}}) {
    for (const Shape& s : {Shape{7}, Shape{2, 3, 5, 4}}) {
      const auto t = kink_free_random(s, 3, lo, hi);
      std::vector<double> v(t.begin(), t.end());
      std::sort(v.begin(), v.end());
      const double step = (hi - lo) / static_cast<double>(v.size());
      for (std::size_t i = 1; i < v.size(); ++i) REQUIRE(v[i] - v[i - 1] == Approx(step));
      for (double e : v) {
        REQUIRE(std::abs(e) >= 0.25 * step * (1 - 1e-9));
        REQUIRE(e >= lo);
        REQUIRE(e < hi + 0.5 * step);
      }
      REQUIRE_CLOSE(kink_free_random(s, 3, lo, hi), t, 0, 0);
    }
  }
  REQUIRE_FALSE(kink_free_random(Shape{16}, 1)[0] == kink_free_random(Shape{16}, 2)[0]);
}
