// max_pool2d and adaptive_avg_pool2d: gradients (inputs with distinct values, so no window
// has a tie) and shape errors.
#include "autodiff/helpers.hpp"

using namespace gradattr;
using namespace gradattr::ad;
using namespace gradattr::ad::testing;

TEST_CASE("max_pool2d gradients match finite differences", "[autodiff][ops][max_pool2d]") {
  struct Case {
    Shape x;
    kernels::Pool2dParams p;
  };
  const Case cases[] = {
      {{2, 3, 6, 4}, {2, 2, 2, 2, 0, 0}},  // VGG's pool
      {{2, 2, 7, 5}, {2, 2, 2, 2, 0, 0}},  // odd sizes: the last row and column are dropped
      {{2, 2, 7, 6}, {3, 3, 2, 2, 1, 1}},  // overlapping windows with padding
      {{1, 3, 5, 5}, {3, 3, 1, 1, 0, 0}},  // stride 1: one input is the max of several windows
      {{2, 2, 6, 9}, {2, 3, 2, 3, 1, 0}},  // anisotropic
  };
  std::uint64_t seed = 10;
  for (const auto& c : cases) {
    INFO("x " << c.x.str() << " kernel " << c.p.kernel_h << "x" << c.p.kernel_w << " stride " << c.p.stride_h << "x"
              << c.p.stride_w << " pad " << c.p.pad_h << "x" << c.p.pad_w);
    check_gradients([&](const Vars& v) { return weighted_sum(max_pool2d(v[0], c.p)); },
                    {kink_free_random(c.x, seed++)});
  }
}

TEST_CASE("adaptive_avg_pool2d gradients match finite differences", "[autodiff][ops][adaptive_avg_pool2d]") {
  const auto x = kink_free_random(Shape{2, 3, 7, 5}, 20);
  for (auto [oh, ow] : {std::pair<std::int64_t, std::int64_t>{1, 1}, {2, 2}, {3, 3}, {7, 5}, {4, 3}, {9, 8}}) {
    INFO("output " << oh << "x" << ow);
    check_gradients([&, oh = oh, ow = ow](const Vars& v) { return weighted_sum(adaptive_avg_pool2d(v[0], oh, ow)); },
                    {x});
  }
}

TEST_CASE("pooling reports shape errors naming the op and the shape", "[autodiff][ops][errors]") {
  Tape<double> tape;
  auto x = tape.variable(Tensor<double>(Shape{1, 2, 1, 5}));
  REQUIRE_THROWS_AS(max_pool2d(x), ShapeError);
  REQUIRE_THROWS_WITH(max_pool2d(x), Catch::Contains("max_pool2d") && Catch::Contains("[1, 2, 1, 5]"));
  auto x2 = tape.variable(Tensor<double>(Shape{2, 5}));
  REQUIRE_THROWS_WITH(max_pool2d(x2), Catch::Contains("max_pool2d") && Catch::Contains("[2, 5]"));
  REQUIRE_THROWS_WITH(adaptive_avg_pool2d(x2, 1, 1), Catch::Contains("adaptive_avg_pool2d") && Catch::Contains("[2, 5]"));
  REQUIRE_THROWS_AS(adaptive_avg_pool2d(x, 0, 1), ShapeError);
}
