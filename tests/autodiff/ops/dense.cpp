// linear: gradients with respect to input, weight and bias; shape errors.
#include "autodiff/helpers.hpp"

using namespace gradattr;
using namespace gradattr::ad;
using namespace gradattr::ad::testing;

TEST_CASE("linear gradients match finite differences", "[autodiff][ops][linear]") {
  for (auto [n, in, out] : {std::array<std::int64_t, 3>{3, 7, 4}, {1, 5, 9}, {4, 1, 2}}) {
    INFO("N " << n << " in " << in << " out " << out);
    const auto x = kink_free_random(Shape{n, in}, 1), w = kink_free_random(Shape{out, in}, 2);
    const auto b = kink_free_random(Shape{out}, 3);
    check_gradients([&](const Vars& v) { return weighted_sum(linear(v[0], v[1], v[2])); }, {x, w, b});
    check_gradients([&](const Vars& v) { return weighted_sum(linear(v[0], v[1])); }, {x, w});
    check_gradients([&](const Vars& v) { return weighted_sum(linear(v[0], w, b)); }, {x});
    check_gradients([&](const Vars& v) { return weighted_sum(linear(V(x), v[0], v[1])); }, {w, b});
  }
}

TEST_CASE("linear reports shape errors naming the op and both shapes", "[autodiff][ops][linear][errors]") {
  Tape<double> tape;
  auto x = tape.variable(Tensor<double>(Shape{2, 6}));
  REQUIRE_THROWS_AS(linear(x, Tensor<double>(Shape{3, 5})), ShapeError);
  REQUIRE_THROWS_WITH(linear(x, Tensor<double>(Shape{3, 5})),
                      Catch::Contains("linear") && Catch::Contains("[2, 6]") && Catch::Contains("[3, 5]"));
  REQUIRE_THROWS_WITH(linear(x, Tensor<double>(Shape{3, 6}), Tensor<double>(Shape{4})),
                      Catch::Contains("linear") && Catch::Contains("bias [4]") && Catch::Contains("[3, 6]"));
  auto x4 = tape.variable(Tensor<double>(Shape{2, 6, 1, 1}));
  REQUIRE_THROWS_WITH(linear(x4, Tensor<double>(Shape{3, 6})), Catch::Contains("linear") && Catch::Contains("[2, 6, 1, 1]"));
}
