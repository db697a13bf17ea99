// conv2d: gradients with respect to input, weight and bias against finite differences, over
// strides, paddings (asymmetric too), dilations, groups, kernel sizes and non-square shapes;
// values and gradients against PyTorch; shape errors.
#include <algorithm>
#include <cmath>
#include <string>

#include "autodiff/helpers.hpp"
#include "gradattr/io/npy.hpp"
#include "support/data_files.hpp"

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

// ---- groups, dilation, asymmetric pads (ONNX Conv) ----

TEST_CASE("conv2d with groups, dilation, stride and asymmetric pads: gradients match finite differences",
          "[autodiff][ops][conv2d][conv_onnx]") {
  struct Case {
    Shape x, w;
    kernels::Conv2dParams p;  // {stride_h, stride_w, pad_h, pad_w, pad_bottom, pad_right, dil_h, dil_w, groups}
    const char* what;
  };
  const Case cases[] = {
      {{2, 4, 7, 9}, {6, 2, 3, 3}, {1, 1, 1, 1, -1, -1, 1, 1, 2}, "groups 2"},
      {{2, 3, 7, 9}, {3, 1, 3, 3}, {1, 1, 1, 1, -1, -1, 1, 1, 3}, "depthwise 3x3"},
      {{1, 3, 9, 8}, {2, 3, 3, 3}, {1, 1, 2, 2, -1, -1, 2, 2, 1}, "dilation 2"},
      {{2, 3, 7, 9}, {4, 3, 3, 3}, {2, 2, 0, 1, 1, 0}, "stride 2, asymmetric pads"},
      {{2, 5, 7, 9}, {3, 5, 1, 1}, {1, 1, 0, 0}, "1x1"},
      {{1, 3, 11, 9}, {2, 3, 7, 7}, {2, 2, 3, 3}, "7x7 stride 2 pad 3"},
      {{1, 5, 9, 7}, {5, 1, 5, 5}, {2, 2, 2, 2, -1, -1, 1, 1, 5}, "depthwise 5x5 stride 2"},
      {{1, 6, 9, 11}, {4, 3, 3, 2}, {1, 2, 1, 0, 2, 1, 2, 1, 2}, "groups, dilation, stride, pads at once"},
  };
  std::uint64_t seed = 101;
  for (const auto& c : cases) {
    INFO(c.what << ": x " << c.x.str() << " w " << c.w.str());
    const auto x = kink_free_random(c.x, seed++), w = kink_free_random(c.w, seed++);
    const auto b = kink_free_random(Shape{c.w[0]}, seed++);
    check_gradients([&](const Vars& v) { return weighted_sum(conv2d(v[0], v[1], v[2], c.p)); }, {x, w, b});
    // input only (the op keeps w, drops x): a different path through the op
    check_gradients([&](const Vars& v) { return weighted_sum(conv2d(v[0], w, b, c.p)); }, {x});
  }
}

TEST_CASE("conv2d rejects bad groups, dilation and pads naming the op and the shapes", "[autodiff][ops][conv2d][errors]") {
  Tape<double> tape;
  auto x = tape.variable(Tensor<double>(Shape{1, 4, 5, 5}));
  const Tensor<double> b(Shape{6});
  using P = kernels::Conv2dParams;
  auto fails = [&](const Tensor<double>& w, const P& p, const std::string& shape_w) {
    REQUIRE_THROWS_AS(conv2d(x, w, b, p), ShapeError);
    REQUIRE_THROWS_WITH(conv2d(x, w, b, p),
                        Catch::Contains("conv2d") && Catch::Contains("[1, 4, 5, 5]") && Catch::Contains(shape_w));
  };
  const Tensor<double> w2(Shape{6, 2, 3, 3});
  fails(w2, P{1, 1, 1, 1, -1, -1, 1, 1, 0}, "[6, 2, 3, 3]");  // groups 0
  fails(w2, P{1, 1, 1, 1, -1, -1, 1, 1, 3}, "[6, 2, 3, 3]");  // 3 does not divide 4 input channels
  fails(Tensor<double>(Shape{6, 1, 3, 3}), P{1, 1, 1, 1, -1, -1, 1, 1, 2}, "[6, 1, 3, 3]");  // 1 x 2 != 4
  fails(Tensor<double>(Shape{6, 4, 3, 3}), P{1, 1, 1, 1, -1, -1, 1, 1, 2}, "[6, 4, 3, 3]");  // 4 x 2 != 4
  fails(Tensor<double>(Shape{5, 2, 3, 3}), P{1, 1, 1, 1, -1, -1, 1, 1, 2}, "[5, 2, 3, 3]");  // 5 outputs, 2 groups
  fails(w2, P{1, 1, 1, 1, -1, -1, 0, 1, 2}, "[6, 2, 3, 3]");  // dilation 0
  fails(w2, P{1, 1, 1, 1, -1, -1, 1, -1, 2}, "[6, 2, 3, 3]");
  fails(w2, P{1, 1, 0, 0, -1, -1, 3, 3, 2}, "[6, 2, 3, 3]");  // dilated to 7x7 on a 5x5 input
  REQUIRE_THROWS_AS(conv2d(x, w2, b, P{1, 1, 1, 1, -2, -1, 1, 1, 2}), ShapeError);  // pad_bottom < -1
  REQUIRE_THROWS_WITH(conv2d(x, w2, b, P{1, 1, 0, 0, -1, -1, 3, 3, 2}), Catch::Contains("dilated to 7x7"));
  REQUIRE(tape.size() == 1);  // nothing recorded by a failed op
}

TEST_CASE("conv2d output shapes follow ONNX's rule with asymmetric pads and dilation", "[autodiff][ops][conv2d][conv_onnx]") {
  // OH = floor((H + pad_h + pad_b - dil_h (KH - 1) - 1) / stride_h) + 1, worked by hand
  using P = kernels::Conv2dParams;
  REQUIRE(kernels::conv2d_output_shape({1, 3, 7, 9}, {4, 3, 3, 3}, P{2, 2, 0, 1, 1, 0}) == Shape{1, 4, 3, 4});
  REQUIRE(kernels::conv2d_output_shape({1, 3, 9, 8}, {2, 3, 3, 3}, P{1, 1, 2, 2, -1, -1, 2, 2, 1}) == Shape{1, 2, 9, 8});
  REQUIRE(kernels::conv2d_output_shape({1, 6, 9, 11}, {4, 3, 3, 2}, P{1, 2, 1, 0, 2, 1, 2, 1, 2}) == Shape{1, 4, 8, 6});
  REQUIRE(kernels::conv2d_output_shape({2, 8, 224, 224}, {8, 1, 3, 3}, P{2, 2, 0, 0, 1, 1, 1, 1, 8}) ==
          Shape{2, 8, 112, 112});  // TF "same" padding of a stride-2 depthwise layer
}

// ---- against PyTorch (tools/gen_conv_pool_fixtures.py) ----

namespace {
Tensor<double> ops_fixture(const std::string& name) {
  return io::read_npy_f64(gradattr::testing::data_file("ops/" + name + ".npy"));
}
double max_abs(const Tensor<double>& t) {
  double m = 0;
  for (double v : t) m = std::max(m, std::abs(v));
  return m;
}
// |got - want| <= tol (max|want| + |want|): relative to the tensor's scale and to the element.
template <class T>
void require_matches(const Tensor<T>& got, const Tensor<double>& want, double tol, const char* what) {
  INFO(what);
  REQUIRE_CLOSE(got.template cast<double>(), want, tol * max_abs(want), tol);
}
}  // namespace

TEST_CASE("conv2d matches PyTorch: values and gradients, float and double", "[autodiff][ops][conv2d][torch]") {
  struct Case {
    const char* name;
    kernels::Conv2dParams p;  // as tools/gen_conv_pool_fixtures.py's CONV_CASES
  };
  const Case cases[] = {
      {"group2", {1, 1, 1, 1, 1, 1, 1, 1, 2}},     {"dw5s2_asym", {2, 2, 1, 2, 2, 1, 1, 1, 5}},
      {"dw3s1", {1, 1, 1, 1, 1, 1, 1, 1, 3}},      {"dil2", {1, 1, 2, 2, 2, 2, 2, 2, 1}},
      {"7x7s2", {2, 2, 3, 3, 3, 3, 1, 1, 1}},      {"1x1s2", {2, 2, 0, 0, 0, 0, 1, 1, 1}},
  };
  for (const auto& c : cases) {
    const std::string base = std::string("conv_") + c.name + "_";
    INFO(base);
    const auto x = ops_fixture(base + "x"), w = ops_fixture(base + "w"), b = ops_fixture(base + "b");
    const auto cw = ops_fixture(base + "c"), y = ops_fixture(base + "y");
    const auto dx = ops_fixture(base + "dx"), dw = ops_fixture(base + "dw"), db = ops_fixture(base + "db");
    auto run = [&](auto zero, double tol) {
      using T = decltype(zero);
      Tape<T> tape;
      auto vx = tape.variable(x.cast<T>()), vw = tape.variable(w.cast<T>()), vb = tape.variable(b.cast<T>());
      auto out = conv2d(vx, vw, vb, c.p);
      const auto g = grad(tape, sum(mul(out, cw.cast<T>())), {vx, vw, vb});
      require_matches(out.value(), y, tol, "y");
      require_matches(g[0], dx, tol, "dx");
      require_matches(g[1], dw, tol, "dw");
      require_matches(g[2], db, tol, "db");
    };
    run(0.0f, 1e-5);
    run(0.0, 1e-12);
  }
}
