// conv2d: gradients with respect to input, weight and bias against finite differences, over
// strides, paddings, kernel sizes and non-square shapes; shape errors.
#include "autodiff/helpers.hpp"

using namespace gradattr;
using namespace gradattr::ad;
using namespace gradattr::ad::testing;

TEST_CASE("conv2d gradients match finite differences", "[autodiff][ops][conv2d]") {
  struct Case {
    Shape x, w;
    kernels::Conv2dParams p;
  };
  const Case cases[] = {
      {{2, 3, 7, 5}, {4, 3, 3, 3}, {1, 1, 1, 1}},  // 3x3 "same", C_in != C_out, H != W
      {{2, 3, 7, 5}, {4, 3, 3, 3}, {1, 1, 0, 0}},  // 3x3 valid
      {{2, 2, 6, 9}, {3, 2, 3, 3}, {2, 2, 0, 0}},  // stride 2, no padding
      {{2, 3, 8, 7}, {2, 3, 3, 3}, {2, 2, 1, 1}},  // stride 2, padding 1
      {{2, 5, 4, 3}, {2, 5, 1, 1}, {1, 1, 0, 0}},  // 1x1
      {{2, 3, 5, 6}, {4, 3, 1, 1}, {2, 2, 1, 1}},  // 1x1, stride 2, padding 1
      {{2, 1, 8, 7}, {2, 1, 3, 2}, {2, 1, 1, 0}},  // anisotropic kernel, stride and padding
  };
  std::uint64_t seed = 1;
  for (const auto& c : cases) {
    INFO("x " << c.x.str() << " w " << c.w.str() << " stride " << c.p.stride_h << "x" << c.p.stride_w << " pad "
              << c.p.pad_h << "x" << c.p.pad_w);
    const auto x = kink_free_random(c.x, seed++), w = kink_free_random(c.w, seed++);
    const auto b = kink_free_random(Shape{c.w[0]}, seed++);
    SECTION("with bias") {
      check_gradients([&](const Vars& v) { return weighted_sum(conv2d(v[0], v[1], v[2], c.p)); }, {x, w, b});
    }
    SECTION("without bias") {
      check_gradients([&](const Vars& v) { return weighted_sum(conv2d(v[0], v[1], V(), c.p)); }, {x, w});
    }
    SECTION("input only, constant weights") {
      check_gradients([&](const Vars& v) { return weighted_sum(conv2d(v[0], w, b, c.p)); }, {x});
    }
    SECTION("weights only, constant input") {
      check_gradients([&](const Vars& v) { return weighted_sum(conv2d(V(x), v[0], v[1], c.p)); }, {w, b});
    }
  }
}

TEST_CASE("conv2d reports shape errors naming the op and both shapes", "[autodiff][ops][conv2d][errors]") {
  Tape<double> tape;
  auto x = tape.variable(Tensor<double>(Shape{1, 3, 5, 5}));
  const Tensor<double> w(Shape{4, 2, 3, 3}), b(Shape{4});
  REQUIRE_THROWS_AS(conv2d(x, w, b), ShapeError);
  REQUIRE_THROWS_WITH(conv2d(x, w, b), Catch::Contains("conv2d") && Catch::Contains("[1, 3, 5, 5]") &&
                                           Catch::Contains("[4, 2, 3, 3]"));
  const Tensor<double> w3(Shape{4, 3, 3, 3}), b5(Shape{5});
  REQUIRE_THROWS_WITH(conv2d(x, w3, b5), Catch::Contains("conv2d") && Catch::Contains("bias [5]") &&
                                             Catch::Contains("[4, 3, 3, 3]"));
  const Tensor<double> big(Shape{4, 3, 7, 7});
  REQUIRE_THROWS_AS(conv2d(x, big, b), ShapeError);
  REQUIRE_THROWS_AS(conv2d(x, w3, b, {0, 1, 0, 0}), ShapeError);
  REQUIRE(tape.size() == 1);  // nothing recorded by a failed op
}
