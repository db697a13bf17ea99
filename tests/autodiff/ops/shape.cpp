// reshape/flatten, select_position, gather, concat_batch and slice_batch.
#include "autodiff/helpers.hpp"

using namespace gradattr;
using namespace gradattr::ad;
using namespace gradattr::ad::testing;

TEST_CASE("reshape and flatten pass gradients through", "[autodiff][ops][reshape]") {
  const auto x = kink_free_random(Shape{2, 3, 2, 2}, 1);
  check_gradients([](const Vars& v) { return weighted_sum(flatten(v[0])); }, {x});
  check_gradients([](const Vars& v) { return weighted_sum(reshape(v[0], Shape{4, 6})); }, {x});
  // reshape feeding an elementwise op that also sees the original: views must not alias badly
  check_gradients([](const Vars& v) { return weighted_sum(mul(reshape(v[0], Shape{4, 6}), reshape(v[0], Shape{4, 6}))); },
                  {x});
  REQUIRE(flatten(V(x)).shape() == Shape{2, 12});
}

TEST_CASE("select_position picks one spatial position", "[autodiff][ops][select_position]") {
  const auto x = kink_free_random(Shape{2, 3, 4, 5}, 2);
  for (auto [h, w] : {std::pair<std::int64_t, std::int64_t>{0, 0}, {3, 4}, {1, 2}}) {
    INFO("position " << h << ", " << w);
    check_gradients([h = h, w = w](const Vars& v) { return weighted_sum(select_position(v[0], h, w)); }, {x});
    REQUIRE(select_position(V(x), h, w).value()(1, 2) == x(1, 2, h, w));
  }
  // The shift t(x) = K Σ_k A_{k,0,0} of METHODS.md §4 added to every logit.
  const auto z = kink_free_random(Shape{2, 5}, 3);
  check_gradients(
      [](const Vars& v) { return weighted_sum(add_column(v[1], scale(sum_dim1(select_position(v[0], 0, 0)), 7.0))); },
      {x, z});
}

TEST_CASE("gather takes one class per row", "[autodiff][ops][gather]") {
  const auto x = kink_free_random(Shape{3, 5}, 4);
  check_gradients([](const Vars& v) { return weighted_sum(gather(v[0], {4, 0, 2})); }, {x});
  check_gradients([](const Vars& v) { return sum(gather(log_softmax(v[0]), {1, 1, 3})); }, {x});
  const auto g = gather(V(x), {4, 0, 2}).value();
  REQUIRE(g.shape() == Shape{3});
  REQUIRE(g[0] == x(0, 4));
  REQUIRE(g[2] == x(2, 2));
}

TEST_CASE("concat_batch and slice_batch are inverses", "[autodiff][ops][concat_batch]") {
  const auto a = kink_free_random(Shape{1, 3, 2, 2}, 5), b = kink_free_random(Shape{2, 3, 2, 2}, 6);
  check_gradients([](const Vars& v) { return weighted_sum(concat_batch(Vars{v[0], v[1]})); }, {a, b});
  check_gradients([](const Vars& v) { return weighted_sum(concat_batch(Vars{v[1], v[0], v[1]})); }, {a, b});
  check_gradients([](const Vars& v) { return weighted_sum(slice_batch(v[0], 1, 1)); }, {b});
  check_gradients(
      [](const Vars& v) {
        auto c = concat_batch(Vars{v[0], v[1]});
        return weighted_sum(mul(slice_batch(c, 0, 2), slice_batch(c, 1, 2)));
      },
      {a, b});
  Tape<double> tape;
  auto va = tape.variable(a), vb = tape.variable(b);
  auto c = concat_batch(Vars{va, vb});
  REQUIRE(c.shape() == Shape{3, 3, 2, 2});
  REQUIRE_CLOSE(slice_batch(c, 1, 2).value(), b, 0, 0);
}

TEST_CASE("shape ops report errors naming the op and the shapes", "[autodiff][ops][errors]") {
  Tape<double> tape;
  auto x = tape.variable(Tensor<double>(Shape{2, 3, 4, 5}));
  auto z = tape.variable(Tensor<double>(Shape{2, 5}));
  REQUIRE_THROWS_AS(reshape(x, Shape{7, 7}), ShapeError);
  REQUIRE_THROWS_WITH(reshape(x, Shape{7, 7}),
                      Catch::Contains("reshape") && Catch::Contains("[2, 3, 4, 5]") && Catch::Contains("[7, 7]"));
  REQUIRE_THROWS_AS(select_position(x, 4, 0), ArgumentError);
  REQUIRE_THROWS_WITH(select_position(x, 4, 0), Catch::Contains("select_position") && Catch::Contains("[2, 3, 4, 5]"));
  REQUIRE_THROWS_AS(select_position(z, 0, 0), ShapeError);
  REQUIRE_THROWS_AS(gather(z, {1}), ShapeError);
  REQUIRE_THROWS_WITH(gather(z, {1}), Catch::Contains("gather") && Catch::Contains("[2, 5]"));
  REQUIRE_THROWS_AS(gather(z, {1, 5}), ArgumentError);
  REQUIRE_THROWS_WITH(gather(z, {1, -1}), Catch::Contains("gather") && Catch::Contains("class -1"));
  auto y = tape.variable(Tensor<double>(Shape{1, 3, 4, 6}));
  REQUIRE_THROWS_AS(concat_batch(Vars{x, y}), ShapeError);
  REQUIRE_THROWS_WITH(concat_batch(Vars{x, y}), Catch::Contains("concat_batch") && Catch::Contains("[2, 3, 4, 5]") &&
                                                    Catch::Contains("[1, 3, 4, 6]"));
  REQUIRE_THROWS_AS(concat_batch(Vars{}), ArgumentError);
  REQUIRE_THROWS_AS(slice_batch(x, 1, 2), ArgumentError);
  REQUIRE_THROWS_WITH(slice_batch(x, 1, 2), Catch::Contains("slice_batch") && Catch::Contains("[2, 3, 4, 5]"));
  REQUIRE(tape.size() == 3);
}
