// sum, mean (to a scalar) and sum_dim1.
#include "autodiff/helpers.hpp"

using namespace gradattr;
using namespace gradattr::ad;
using namespace gradattr::ad::testing;

TEST_CASE("reductions' gradients match finite differences", "[autodiff][ops][reduce]") {
  for (const Shape& s : {Shape{3, 4}, Shape{2, 3, 2, 5}, Shape{2, 3, 4}}) {
    INFO("shape " << s.str());
    const auto x = kink_free_random(s, 1);
    check_gradients([](const Vars& v) { return sum(v[0]); }, {x});
    check_gradients([](const Vars& v) { return mean(v[0]); }, {x});
    check_gradients([](const Vars& v) { return sum(exp(v[0])); }, {x});
    check_gradients([](const Vars& v) { return weighted_sum(sum_dim1(v[0])); }, {x});
  }
}

TEST_CASE("reductions have the documented shapes and values", "[autodiff][ops][reduce]") {
  const Tensor<double> x(Shape{2, 3}, {1, 2, 3, 4, 5, 6});
  REQUIRE(sum(V(x)).shape() == Shape{});
  REQUIRE(sum(V(x)).value()[0] == 21.0);
  REQUIRE(mean(V(x)).value()[0] == 3.5);
  const auto s = sum_dim1(V(x)).value();
  REQUIRE(s.shape() == Shape{2});
  REQUIRE(s[0] == 6.0);
  REQUIRE(s[1] == 15.0);
  REQUIRE(sum_dim1(V(Tensor<double>(Shape{2, 3, 4, 5}))).shape() == Shape{2, 4, 5});
  REQUIRE_THROWS_WITH(sum_dim1(V(Tensor<double>(Shape{4}))), Catch::Contains("sum_dim1") && Catch::Contains("[4]"));
}
