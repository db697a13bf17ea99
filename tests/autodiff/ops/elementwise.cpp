// add, sub, mul, add_column, scale, add_scalar, exp, log and the operators.
#include "autodiff/helpers.hpp"

using namespace gradattr;
using namespace gradattr::ad;
using namespace gradattr::ad::testing;

TEST_CASE("elementwise gradients match finite differences", "[autodiff][ops][elementwise]") {
  for (const Shape& s : {Shape{3, 4}, Shape{2, 3, 2, 2}, Shape{5}}) {
    INFO("shape " << s.str());
    const auto a = kink_free_random(s, 1), b = kink_free_random(s, 2);
    check_gradients([](const Vars& v) { return weighted_sum(add(v[0], v[1])); }, {a, b});
    check_gradients([](const Vars& v) { return weighted_sum(sub(v[0], v[1])); }, {a, b});
    check_gradients([](const Vars& v) { return weighted_sum(mul(v[0], v[1])); }, {a, b});
    check_gradients([](const Vars& v) { return weighted_sum(v[0] * v[1] - v[1] + v[0]); }, {a, b});
    check_gradients([](const Vars& v) { return weighted_sum(-v[0]); }, {a});
    check_gradients([](const Vars& v) { return weighted_sum(scale(v[0], 2.5)); }, {a});
    check_gradients([](const Vars& v) { return weighted_sum(3.0 * v[0] * 0.5 + 1.5 - 0.25); }, {a});
    check_gradients([](const Vars& v) { return weighted_sum(exp(v[0])); }, {a});
    check_gradients([](const Vars& v) { return weighted_sum(log(v[0])); }, {kink_free_random(s, 3, 0.2, 3.0)});
    // one constant operand: only the tracked one is a target
    check_gradients([&](const Vars& v) { return weighted_sum(mul(V(b), v[0])); }, {a});
  }
}

TEST_CASE("add_column broadcasts [N] or [N, 1] along rows", "[autodiff][ops][add_column]") {
  const auto x = kink_free_random(Shape{3, 4}, 5);
  check_gradients([](const Vars& v) { return weighted_sum(add_column(v[0], v[1])); },
                  {x, kink_free_random(Shape{3}, 6)});
  check_gradients([](const Vars& v) { return weighted_sum(add_column(v[0], v[1])); },
                  {x, kink_free_random(Shape{3, 1}, 7)});
  Var<double> y = add_column(V(x), V(Tensor<double>(Shape{3}, {1.0, 2.0, 3.0})));
  REQUIRE(y.value()(2, 3) == x(2, 3) + 3.0);
}

TEST_CASE("elementwise ops report shape errors naming the op and both shapes", "[autodiff][ops][errors]") {
  Tape<double> tape;
  auto a = tape.variable(Tensor<double>(Shape{2, 3}));
  auto b = tape.variable(Tensor<double>(Shape{3, 2}));
  REQUIRE_THROWS_AS(add(a, b), ShapeError);
  REQUIRE_THROWS_WITH(add(a, b), Catch::Contains("add") && Catch::Contains("[2, 3]") && Catch::Contains("[3, 2]"));
  REQUIRE_THROWS_WITH(sub(a, b), Catch::Contains("sub") && Catch::Contains("[2, 3]") && Catch::Contains("[3, 2]"));
  REQUIRE_THROWS_WITH(a * b, Catch::Contains("mul") && Catch::Contains("[2, 3]") && Catch::Contains("[3, 2]"));
  REQUIRE_THROWS_WITH(add_column(a, Tensor<double>(Shape{3})),
                      Catch::Contains("add_column") && Catch::Contains("[3]") && Catch::Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(add_column(a, Tensor<double>(Shape{2, 2})),
                      Catch::Contains("add_column") && Catch::Contains("[2, 2]") && Catch::Contains("[2, 3]"));
  REQUIRE(tape.size() == 2);
}
