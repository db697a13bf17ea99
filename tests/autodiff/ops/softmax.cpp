// softmax and log_softmax: gradients (also at large logits) and shape errors.
#include "autodiff/helpers.hpp"

using namespace gradattr;
using namespace gradattr::ad;
using namespace gradattr::ad::testing;

TEST_CASE("softmax and log_softmax gradients match finite differences", "[autodiff][ops][softmax]") {
  for (const Shape& s : {Shape{3, 5}, Shape{1, 2}, Shape{4, 1}}) {
    INFO("x " << s.str());
    const auto x = kink_free_random(s, 40, -3, 3);
    check_gradients([](const Vars& v) { return weighted_sum(softmax(v[0])); }, {x});
    check_gradients([](const Vars& v) { return weighted_sum(log_softmax(v[0])); }, {x});
  }
  // Large logits: the log-sum-exp path keeps both finite and exact.
  const auto big = kink_free_random(Shape{2, 4}, 41, 500, 520);
  check_gradients([](const Vars& v) { return weighted_sum(log_softmax(v[0])); }, {big});
  check_gradients([](const Vars& v) { return weighted_sum(softmax(v[0])); }, {big});
}

TEST_CASE("Post = y_c · LogSoftmax for the gradient of any input (METHODS.md §1)", "[autodiff][ops][softmax]") {
  Tape<double> tape;
  auto z = tape.variable(kink_free_random(Shape{2, 5}, 42, -2, 2));
  const std::vector<std::int64_t> cls{3, 1};
  auto post = grad(tape, sum(gather(softmax(z), cls)), {z})[0];
  auto log = grad(tape, sum(gather(log_softmax(z), cls)), {z})[0];
  auto y = softmax(V(z.value())).value();
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t c = 0; c < 5; ++c) REQUIRE(post(n, c) == Approx(y(n, cls[n]) * log(n, c)).margin(1e-15));
}

TEST_CASE("softmax needs logits [N, C]", "[autodiff][ops][softmax][errors]") {
  Tape<double> tape;
  auto x = tape.variable(Tensor<double>(Shape{2, 3, 4}));
  REQUIRE_THROWS_AS(softmax(x), ShapeError);
  REQUIRE_THROWS_WITH(softmax(x), Catch::Contains("softmax") && Catch::Contains("[2, 3, 4]"));
  REQUIRE_THROWS_WITH(log_softmax(x), Catch::Contains("log_softmax") && Catch::Contains("[2, 3, 4]"));
}
