// max_pool2d, avg_pool2d and adaptive_avg_pool2d: gradients (inputs with distinct values, so
// no window has a tie), output shapes (asymmetric pads, ceil_mode), values and gradients
// against PyTorch, and shape errors.
#include <algorithm>
#include <cmath>
#include <string>

#include "autodiff/helpers.hpp"
#include "gradattr/io/npy.hpp"
#include "support/data_files.hpp"

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

// ---- asymmetric pads, ceil_mode, average pooling (ONNX MaxPool / AveragePool) ----

namespace {
using P = kernels::Pool2dParams;  // {kh, kw, sh, sw, pad_h, pad_w, pad_bottom, pad_right, ceil_mode}
std::string describe(const Shape& x, const P& p) {
  return "x " + x.str() + " kernel " + std::to_string(p.kernel_h) + "x" + std::to_string(p.kernel_w) + " stride " +
         std::to_string(p.stride_h) + "x" + std::to_string(p.stride_w) + " pads " + std::to_string(p.pad_h) + "," +
         std::to_string(p.pad_w) + "," + std::to_string(p.pad_b()) + "," + std::to_string(p.pad_r()) + " ceil " +
         std::to_string(p.ceil_mode);
}
}  // namespace

TEST_CASE("max_pool2d with asymmetric pads and ceil_mode: gradients match finite differences",
          "[autodiff][ops][max_pool2d][pool_onnx]") {
  struct Case {
    Shape x;
    P p;
  };
  const Case cases[] = {
      {{2, 3, 7, 9}, {3, 3, 2, 2, 0, 1, 1, 1, true}},     // ceil, asymmetric: last windows run past the padding
      {{2, 3, 7, 9}, {2, 2, 2, 2, 0, 0, -1, -1, true}},   // 2x2 ceil on odd sizes: 1-row / 1-column windows
      {{1, 5, 9, 8}, {3, 3, 2, 2, 1, 1}},                 // ResNet's stem pool
      {{2, 3, 5, 7}, {3, 2, 1, 2, 2, 0, 0, 1, false}},    // pad 2 of a 3-high window (ONNX allows < kernel)
      {{1, 3, 6, 7}, {3, 3, 3, 2, 1, 0, 2, 2, true}},
  };
  std::uint64_t seed = 200;
  for (const auto& c : cases) {
    INFO(describe(c.x, c.p));
    check_gradients([&](const Vars& v) { return weighted_sum(max_pool2d(v[0], c.p)); },
                    {kink_free_random(c.x, seed++)});
  }
}

TEST_CASE("avg_pool2d: gradients match finite differences (count_include_pad on/off, ceil_mode, asymmetric pads)",
          "[autodiff][ops][avg_pool2d][pool_onnx]") {
  struct Case {
    Shape x;
    P p;
  };
  const Case cases[] = {
      {{2, 3, 7, 9}, {2, 2, 2, 2, 0, 0}},                 // DenseNet transition (odd sizes: floor)
      {{2, 3, 7, 9}, {2, 2, 2, 2, 0, 0, -1, -1, true}},   // ... ceil: partial windows
      {{2, 3, 6, 7}, {3, 3, 2, 2, 1, 1, -1, -1, true}},   // windows past the padding
      {{1, 5, 7, 8}, {3, 3, 2, 2, 1, 0, 0, 1, false}},    // asymmetric
      {{1, 3, 9, 5}, {3, 2, 1, 2, 2, 1, 0, 0, true}},
      {{2, 3, 5, 5}, {3, 3, 1, 1, 1, 1}},                 // stride 1, overlapping windows
  };
  std::uint64_t seed = 220;
  for (const auto& c : cases)
    for (bool include : {false, true}) {
      INFO(describe(c.x, c.p) << " count_include_pad " << include);
      check_gradients([&](const Vars& v) { return weighted_sum(avg_pool2d(v[0], c.p, include)); },
                      {kink_free_random(c.x, seed++)});
    }
}

TEST_CASE("pooling output shapes and divisors follow torch / ONNX", "[autodiff][ops][avg_pool2d][pool_onnx]") {
  // ceil((H + pads - K) / stride) + 1, minus one when the last window would start in the bottom
  // padding; worked by hand.
  REQUIRE(kernels::pool2d_output_shape({1, 1, 5, 8}, P{3, 3, 2, 2, 1, 1, -1, -1, true}) == Shape{1, 1, 3, 5});
  REQUIRE(kernels::pool2d_output_shape({1, 1, 5, 8}, P{3, 3, 2, 2, 1, 1, -1, -1, false}) == Shape{1, 1, 3, 4});
  REQUIRE(kernels::pool2d_output_shape({1, 1, 7, 9}, P{2, 2, 2, 2, 0, 0, -1, -1, true}) == Shape{1, 1, 4, 5});
  // H = 4, K = 2, stride 3, pads 1, 1: ceil(4 / 3) + 1 = 3, but window 2 would start at
  // 2*3 - 1 = 5 >= H: dropped; W = 3, K = 2, stride 2, pads 1, 1: ceil(3 / 2) + 1 = 3, window 2
  // would start at 2*2 - 1 = 3 >= W: dropped.
  REQUIRE(kernels::pool2d_output_shape({1, 1, 4, 3}, P{2, 2, 3, 2, 1, 1, -1, -1, true}) == Shape{1, 1, 2, 2});
  // Divisors (torch 1.13, printed by python3 -c): a plane of ones, 3x3 / stride 2 / pad 1,
  // ceil_mode, count_include_pad: corners 4/9, last row / column of a 6x6 input 2/6 and 1/4
  Tape<double> tape;
  auto ones = tape.variable(Tensor<double>::full(Shape{1, 1, 6, 6}, 1.0));
  const auto y = avg_pool2d(ones, P{3, 3, 2, 2, 1, 1, -1, -1, true}, true).value();
  REQUIRE(y.shape() == Shape{1, 1, 4, 4});
  CHECK(y[0] == Approx(4.0 / 9));
  CHECK(y[1] == Approx(6.0 / 9));
  CHECK(y[3] == Approx(2.0 / 6));
  CHECK(y[15] == Approx(1.0 / 4));
  const auto ye = avg_pool2d(ones, P{3, 3, 2, 2, 1, 1, -1, -1, true}, false).value();
  for (double v : ye) CHECK(v == 1.0);  // without padding in the divisor: means of ones
}

TEST_CASE("pooling rejects pads not smaller than the window, naming the op and the shape", "[autodiff][ops][errors]") {
  Tape<double> tape;
  auto x = tape.variable(Tensor<double>(Shape{1, 2, 7, 5}));
  for (const P& p : {P{3, 3, 2, 2, 3, 0}, P{3, 3, 2, 2, 0, 0, 3, 0}, P{2, 3, 2, 2, 0, 0, 0, 3}, P{2, 2, 2, 2, 0, 0, -2, 0}}) {
    INFO(describe(x.shape(), p));
    REQUIRE_THROWS_AS(max_pool2d(x, p), ShapeError);
    REQUIRE_THROWS_WITH(max_pool2d(x, p), Catch::Contains("max_pool2d") && Catch::Contains("[1, 2, 7, 5]"));
    REQUIRE_THROWS_AS(avg_pool2d(x, p, true), ShapeError);
    REQUIRE_THROWS_WITH(avg_pool2d(x, p, false), Catch::Contains("avg_pool2d") && Catch::Contains("[1, 2, 7, 5]"));
  }
  auto x2 = tape.variable(Tensor<double>(Shape{2, 5}));
  REQUIRE_THROWS_WITH(avg_pool2d(x2, P{}, false), Catch::Contains("avg_pool2d") && Catch::Contains("[2, 5]"));
  REQUIRE(tape.size() == 2);  // nothing recorded by a failed op
}

// ---- against PyTorch (tools/gen_conv_pool_fixtures.py) ----

TEST_CASE("max_pool2d and avg_pool2d match PyTorch: values and gradients, float and double",
          "[autodiff][ops][pool_onnx][torch]") {
  struct Case {
    const char* name;
    bool max;
    P p;  // as tools/gen_conv_pool_fixtures.py's POOL_CASES
    bool include_pad;
  };
  const Case cases[] = {
      {"max_ceil_asym", true, {3, 3, 2, 2, 0, 1, 1, 1, true}, false},
      {"max_3x3s2p1", true, {3, 3, 2, 2, 1, 1, 1, 1, false}, false},
      {"avg_ceil_incl", false, {3, 3, 2, 2, 1, 1, 1, 1, true}, true},
      {"avg_ceil_excl", false, {3, 3, 2, 2, 1, 1, 1, 1, true}, false},
      {"avg_2x2_ceil", false, {2, 2, 2, 2, 0, 0, 0, 0, true}, true},
      {"avg_asym_incl", false, {3, 3, 2, 2, 1, 0, 0, 1, false}, true},
  };
  for (const auto& c : cases) {
    const std::string base = std::string("ops/pool_") + c.name + "_";
    INFO(base);
    auto fixture = [&](const char* k) { return io::read_npy_f64(gradattr::testing::data_file(base + k + ".npy")); };
    const auto x = fixture("x"), cw = fixture("c"), y = fixture("y"), dx = fixture("dx");
    auto run = [&](auto zero, double tol) {
      using T = decltype(zero);
      Tape<T> tape;
      auto vx = tape.variable(x.cast<T>());
      auto out = c.max ? max_pool2d(vx, c.p) : avg_pool2d(vx, c.p, c.include_pad);
      const auto g = grad(tape, sum(mul(out, cw.cast<T>())), {vx});
      double scale = 0;
      for (double v : y) scale = std::max(scale, std::abs(v));
      REQUIRE_CLOSE(out.value().template cast<double>(), y, tol * scale, tol);
      scale = 0;
      for (double v : dx) scale = std::max(scale, std::abs(v));
      REQUIRE_CLOSE(g[0].template cast<double>(), dx, tol * scale, tol);
    };
    run(0.0f, 1e-5);
    run(0.0, 1e-12);
  }
}
