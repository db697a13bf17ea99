// The reference kernels against hand-computed values and against each other (adjoint
// identities: <dy, conv(x)> = <conv_backward_data(dy), x> etc.). Their gradients are also
// checked by finite differences in tests/autodiff/.
#include <catch2/catch.hpp>

#include "gradattr/kernels/reference/activation.hpp"
#include "gradattr/kernels/reference/conv2d.hpp"
#include "gradattr/kernels/reference/dense.hpp"
#include "gradattr/kernels/reference/pool.hpp"
#include "gradattr/kernels/reference/softmax.hpp"
#include "gradattr/kernels/reference/upsample.hpp"
#include "support/testing.hpp"

using namespace gradattr;
namespace ref = gradattr::kernels::reference;
using gradattr::testing::random_tensor;

namespace {
double dot(const Tensor<double>& a, const Tensor<double>& b) {
  double s = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) s += a[i] * b[i];
  return s;
}
}  // namespace

TEST_CASE("reference conv2d matches a hand computation", "[kernels][reference]") {
  // x: 1x1x3x3 = 1..9, w: 1x1x2x2 = [1 0; 0 -1], b = 0.5, stride 1, pad 0
  Tensor<double> x(Shape{1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  Tensor<double> w(Shape{1, 1, 2, 2}, {1, 0, 0, -1});
  Tensor<double> b(Shape{1}, {0.5});
  kernels::Conv2dParams p;
  Tensor<double> y(kernels::conv2d_output_shape(x.shape(), w.shape(), p));
  ref::conv2d_forward(y, x, w, b, p);
  REQUIRE(y.shape() == Shape{1, 1, 2, 2});
  for (std::int64_t i = 0; i < 4; ++i) REQUIRE(y[i] == Approx(-4 + 0.5));
  // padding 1, stride 2: output 2x2, top-left sees only x(0,0) at the kernel's (1,1) tap
  p = {2, 2, 1, 1};
  Tensor<double> y2(kernels::conv2d_output_shape(x.shape(), w.shape(), p));
  REQUIRE(y2.shape() == Shape{1, 1, 2, 2});
  ref::conv2d_forward(y2, x, w, b, p);
  REQUIRE(y2(0, 0, 0, 0) == Approx(-1 + 0.5));
  REQUIRE(y2(0, 0, 1, 1) == Approx(5 - 9 + 0.5));
}

TEST_CASE("reference conv2d backward kernels are the adjoints of forward", "[kernels][reference]") {
  struct Case { Shape x, w; kernels::Conv2dParams p; };
  for (auto c : {Case{{2, 3, 7, 5}, {4, 3, 3, 3}, {1, 1, 1, 1}}, Case{{1, 2, 6, 9}, {3, 2, 3, 3}, {2, 2, 0, 0}},
                 Case{{2, 5, 4, 4}, {2, 5, 1, 1}, {1, 1, 0, 0}}, Case{{1, 1, 8, 7}, {2, 1, 3, 2}, {2, 1, 1, 0}}}) {
    auto x = random_tensor<double>(c.x, 1), w = random_tensor<double>(c.w, 2);
    Tensor<double> none;
    Tensor<double> y(kernels::conv2d_output_shape(c.x, c.w, c.p));
    ref::conv2d_forward(y, x, w, none, c.p);
    auto dy = random_tensor<double>(y.shape(), 3);
    Tensor<double> dx(c.x), dw(c.w), db(Shape{c.w[0]});
    ref::conv2d_backward_data(dx, dy, w, c.p);
    ref::conv2d_backward_weights(dw, db, dy, x, c.p);
    const double lhs = dot(dy, y);
    REQUIRE(dot(dx, x) == Approx(lhs).epsilon(1e-12));
    REQUIRE(dot(dw, w) == Approx(lhs).epsilon(1e-12));
    double sum_dy = 0;
    for (std::int64_t n = 0; n < dy.dim(0); ++n)
      for (std::int64_t i = 0; i < dy.dim(2) * dy.dim(3); ++i) sum_dy += dy[n * dy.dim(1) * dy.dim(2) * dy.dim(3) + i];
    REQUIRE(db[0] == Approx(sum_dy).epsilon(1e-12));
  }
}

TEST_CASE("reference max_pool2d: first maximum wins, NaN propagates, backward routes to argmax", "[kernels][reference]") {
  Tensor<float> x(Shape{1, 1, 2, 4}, {1, 3, 5, 5, 3, 2, 5, 0});
  kernels::Pool2dParams p;  // 2x2 stride 2
  Tensor<float> y(kernels::pool2d_output_shape(x.shape(), p));
  Tensor<std::int32_t> am(y.shape());
  ref::max_pool2d_forward(y, am, x, p);
  REQUIRE(y[0] == 3);
  REQUIRE(am[0] == 1);  // 3 at (0,1) comes before 3 at (1,0)
  REQUIRE(y[1] == 5);
  REQUIRE(am[1] == 2);  // first of three 5s
  x[5] = std::nanf("");
  ref::max_pool2d_forward(y, am, x, p);
  REQUIRE(std::isnan(y[0]));
  REQUIRE(am[0] == 5);
  Tensor<float> dy(y.shape(), {10, 20}), dx(x.shape());
  ref::max_pool2d_backward(dx, dy, am);
  REQUIRE(dx[5] == 10);
  REQUIRE(dx[2] == 20);
  REQUIRE(dx[0] + dx[1] + dx[3] + dx[4] + dx[6] + dx[7] == 0);
}

TEST_CASE("reference adaptive_avg_pool2d uses PyTorch's windows", "[kernels][reference]") {
  // 5 -> 3: windows [0,2), [1,4), [3,5)
  Tensor<double> x(Shape{1, 1, 1, 5}, {1, 2, 3, 4, 5});
  Tensor<double> y(Shape{1, 1, 1, 3});
  ref::adaptive_avg_pool2d_forward(y, x);
  REQUIRE(y[0] == Approx(1.5));
  REQUIRE(y[1] == Approx(3.0));
  REQUIRE(y[2] == Approx(4.5));
  auto dy = random_tensor<double>(y.shape(), 4);
  Tensor<double> dx(x.shape());
  ref::adaptive_avg_pool2d_backward(dx, dy);
  REQUIRE(dot(dx, x) == Approx(dot(dy, y)));
}

TEST_CASE("reference linear forward and its adjoints", "[kernels][reference]") {
  Tensor<double> x(Shape{1, 2}, {1, 2}), w(Shape{3, 2}, {1, 0, 0, 1, 1, 1}), b(Shape{3}, {0, 0, -3});
  Tensor<double> y(Shape{1, 3});
  ref::linear_forward(y, x, w, b);
  REQUIRE(y[0] == 1);
  REQUIRE(y[1] == 2);
  REQUIRE(y[2] == 0);
  auto X = random_tensor<double>(Shape{3, 5}, 5), W = random_tensor<double>(Shape{4, 5}, 6);
  Tensor<double> none, Y(Shape{3, 4});
  ref::linear_forward(Y, X, W, none);
  auto dY = random_tensor<double>(Y.shape(), 7);
  Tensor<double> dX(X.shape()), dW(W.shape()), dB(Shape{4});
  ref::linear_backward_data(dX, dY, W);
  ref::linear_backward_weights(dW, dB, dY, X);
  REQUIRE(dot(dX, X) == Approx(dot(dY, Y)));
  REQUIRE(dot(dW, W) == Approx(dot(dY, Y)));
  REQUIRE(dB[1] == Approx(dY(0, 1) + dY(1, 1) + dY(2, 1)));
}

TEST_CASE("reference softmax is stable for huge and equal logits", "[kernels][reference]") {
  Tensor<double> z(Shape{3, 3}, {1e30, -1e30, 0, 5, 5, 5, -1000, -1000.5, -2000});
  Tensor<double> y(z.shape()), ly(z.shape());
  ref::softmax(y, z);
  ref::log_softmax(ly, z);
  for (int r = 0; r < 3; ++r) {
    REQUIRE(y(r, 0) + y(r, 1) + y(r, 2) == Approx(1.0));
    for (int c = 0; c < 3; ++c) REQUIRE(std::isfinite(ly(r, c)));
  }
  REQUIRE(y(0, 0) == 1.0);
  REQUIRE(y(1, 1) == Approx(1.0 / 3));
  // Equal huge logits: m + log(k) would round to m; (x - m) - log(k) does not.
  Tensor<double> big(Shape{1, 2}, {1e30, 1e30}), py(big.shape()), lpy(big.shape());
  ref::softmax(py, big);
  ref::log_softmax(lpy, big);
  REQUIRE(py[0] + py[1] == Approx(1.0));
  REQUIRE(lpy[0] == Approx(-std::log(2.0)));
  REQUIRE(ly(2, 0) == Approx(-std::log1p(std::exp(-0.5))));
}

TEST_CASE("reference relu keeps NaN and passes gradient only where positive", "[kernels][reference]") {
  Tensor<float> x(Shape{4}, {-1, 0, 2, std::nanf("")}), y(Shape{4});
  ref::relu_forward(y, x);
  REQUIRE(y[0] == 0);
  REQUIRE(y[1] == 0);
  REQUIRE(y[2] == 2);
  REQUIRE(std::isnan(y[3]));
  Tensor<float> dy(Shape{4}, {1, 1, 1, 1}), dx(Shape{4});
  ref::relu_backward(dx, dy, y);
  REQUIRE(dx[0] == 0);
  REQUIRE(dx[1] == 0);
  REQUIRE(dx[2] == 1);
  REQUIRE(dx[3] == 0);
}

TEST_CASE("reference bilinear upsampling uses half-pixel centres", "[kernels][reference]") {
  // 2 -> 4 along W, as torch interpolate(align_corners=False): [1, 1.25, 1.75, 2]
  Tensor<double> x(Shape{1, 1, 1, 2}, {1, 2}), y(Shape{1, 1, 1, 4});
  ref::upsample_bilinear(y, x);
  REQUIRE(y[0] == Approx(1.0));
  REQUIRE(y[1] == Approx(1.25));
  REQUIRE(y[2] == Approx(1.75));
  REQUIRE(y[3] == Approx(2.0));
}

TEST_CASE("kernel output shapes reject bad inputs with the op's name", "[kernels]") {
  using kernels::conv2d_output_shape;
  REQUIRE_THROWS_WITH(conv2d_output_shape(Shape{1, 3, 8, 8}, Shape{4, 2, 3, 3}, {}), Catch::Contains("conv2d") && Catch::Contains("[4, 2, 3, 3]"));
  REQUIRE_THROWS_AS(conv2d_output_shape(Shape{1, 3, 2, 2}, Shape{4, 3, 3, 3}, {}), ShapeError);
  REQUIRE_THROWS_AS(conv2d_output_shape(Shape{0, 3, 8, 8}, Shape{4, 3, 3, 3}, {}), ShapeError);
  REQUIRE_THROWS_AS(kernels::pool2d_output_shape(Shape{1, 3, 1, 1}, {}), ShapeError);
  REQUIRE_THROWS_AS(kernels::linear_output_shape(Shape{2, 3}, Shape{4, 5}), ShapeError);
}
