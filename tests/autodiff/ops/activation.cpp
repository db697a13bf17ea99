// relu: gradient away from the kink, the kink convention, and the saved mask.
#include "autodiff/helpers.hpp"

using namespace gradattr;
using namespace gradattr::ad;
using namespace gradattr::ad::testing;

TEST_CASE("relu gradients match finite differences away from 0", "[autodiff][ops][relu]") {
  for (const Shape& s : {Shape{3, 5}, Shape{2, 3, 4, 5}}) {
    INFO("x " << s.str());
    check_gradients([](const Vars& v) { return weighted_sum(relu(v[0])); }, {kink_free_random(s, 30)});
  }
}

TEST_CASE("relu passes the gradient where the input is positive, 0 at and below 0", "[autodiff][ops][relu]") {
  Tape<double> tape;
  auto x = tape.variable(Tensor<double>(Shape{4}, {-1.0, 0.0, 2.0, 3.0}));
  auto g = grad(tape, weighted_sum(relu(x)), {x})[0];
  const auto c = kink_free_random(Shape{4}, 99);
  REQUIRE(g[0] == 0.0);
  REQUIRE(g[1] == 0.0);  // as PyTorch
  REQUIRE(g[2] == c[2]);
  REQUIRE(g[3] == c[3]);
}
