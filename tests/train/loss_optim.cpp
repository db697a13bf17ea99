// Loss and optimisers. Expected optimiser values are computed by hand from the update rules of
// torch.optim.SGD / torch.optim.Adam (written out below), not by the code under test.
#include <catch2/catch.hpp>
#include <cmath>

#include "gradattr/autodiff/autodiff.hpp"
#include "gradattr/nn/loss.hpp"
#include "gradattr/nn/optim.hpp"
#include "support/testing.hpp"

using namespace gradattr;

TEST_CASE("cross_entropy equals -mean log softmax of the label and passes gradcheck", "[train]") {
  Tensor<double> z(Shape{2, 3}, {1, 2, 3, 0, 0, 5});
  ad::Tape<double> tape;
  auto v = tape.variable(z);
  auto loss = nn::cross_entropy(v, {2, 0});
  const double l0 = -(3 - std::log(std::exp(1) + std::exp(2) + std::exp(3)));
  const double l1 = -(0 - std::log(2 + std::exp(5)));
  REQUIRE(loss.value()[0] == Approx((l0 + l1) / 2).epsilon(1e-12));
  auto r = ad::gradcheck([](const std::vector<ad::Var<double>>& in) { return nn::cross_entropy(in[0], {1, 2}); },
                         {testing::random_tensor<double>(Shape{2, 4}, 3)});
  INFO(r.str());
  REQUIRE(r.passed);
  REQUIRE_THROWS_AS(nn::cross_entropy(v, {3, 0}), ArgumentError);
  REQUIRE_THROWS_AS(nn::cross_entropy(v, {0}), ShapeError);
}

TEST_CASE("cross_entropy with label smoothing: closed form, gradcheck, gradient (softmax - target)/N, bad eps", "[train]") {
  // Independent closed form: t = (1 - eps) onehot + eps / C, loss = -(1/N) sum_n sum_j t_nj log y_nj,
  // log y_nj = z_nj - log sum_k exp z_nk (written out here, not through the library's ops);
  // its gradient is (softmax(z_n) - t_n) / N.
  const Tensor<double> z(Shape{3, 4}, {1, 2, 3, 0.5, 0, 0, 5, -1, -2, 0.25, 0.75, 4});
  const std::vector<std::int64_t> y{2, 0, 3};
  for (double eps : {0.0, 0.1, 0.2, 0.9}) {
    INFO("eps " << eps);
    double expect = 0;
    Tensor<double> expect_grad(Shape{3, 4});
    for (std::int64_t n = 0; n < 3; ++n) {
      double se = 0;
      for (std::int64_t j = 0; j < 4; ++j) se += std::exp(z(n, j));
      for (std::int64_t j = 0; j < 4; ++j) {
        const double t = (j == y[static_cast<std::size_t>(n)] ? 1 - eps : 0) + eps / 4;
        expect -= t * (z(n, j) - std::log(se)) / 3;
        expect_grad(n, j) = (std::exp(z(n, j)) / se - t) / 3;
      }
    }
    ad::Tape<double> tape;
    auto v = tape.variable(z);
    auto loss = nn::cross_entropy(v, y, eps);
    CHECK(loss.value()[0] == Approx(expect).epsilon(1e-12));
    const auto g = ad::grad(tape, loss, {v});
    for (std::int64_t i = 0; i < z.numel(); ++i) CHECK(g[0][i] == Approx(expect_grad[i]).margin(1e-14));
    // finite differences in double (central, gradcheck's defaults)
    auto r = ad::gradcheck([&](const std::vector<ad::Var<double>>& in) { return nn::cross_entropy(in[0], {1, 2}, eps); },
                           {testing::random_tensor<double>(Shape{2, 4}, 5)});
    INFO(r.str());
    CHECK(r.passed);
  }
  {  // eps = 0 is the plain cross-entropy to the last bit (the shipped models' training is unchanged)
    ad::Tape<double> tape;
    auto v = tape.variable(z);
    CHECK(nn::cross_entropy(v, y, 0.0).value()[0] == nn::cross_entropy(v, y).value()[0]);
  }
  {  // the smoothed optimum: with eps, the loss is minimised at y_c = 1 - eps + eps/C, not at y_c -> 1
    const double eps = 0.2, target = 1 - eps + eps / 4;
    const double gap = std::log(target / (eps / 4));  // z_c - z_j at the optimum
    ad::Tape<double> tape;
    auto v = tape.variable(Tensor<double>(Shape{1, 4}, {gap, 0, 0, 0}));
    const auto g = ad::grad(tape, nn::cross_entropy(v, {0}, eps), {v});
    for (std::int64_t j = 0; j < 4; ++j) CHECK(g[0][j] == Approx(0).margin(1e-14));
  }
  ad::Tape<double> tape;
  auto v = tape.variable(z);
  for (double bad : {-0.1, 1.0, 1.5, std::nan("")}) {
    INFO("eps " << bad);
    REQUIRE_THROWS_AS(nn::cross_entropy(v, y, bad), ArgumentError);
    REQUIRE_THROWS_WITH(nn::cross_entropy(v, y, bad), Catch::Contains("smoothing"));
  }
}

TEST_CASE("Sgd with momentum and weight decay follows torch.optim.SGD", "[train]") {
  Tensor<double> p(Shape{1}, {1.0});
  nn::Sgd<double> opt({.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01});
  std::vector<Tensor<double>*> ps{&p};
  // step 1: d = 0.5 + 0.01*1 = 0.51; v = 0.51; p = 1 - 0.051 = 0.949
  opt.step(ps, {Tensor<double>(Shape{1}, {0.5})});
  REQUIRE(p[0] == Approx(0.949).epsilon(1e-14));
  // step 2: d = 0.5 + 0.00949 = 0.50949; v = 0.9*0.51 + 0.50949 = 0.96849; p = 0.949 - 0.096849
  opt.step(ps, {Tensor<double>(Shape{1}, {0.5})});
  REQUIRE(p[0] == Approx(0.949 - 0.096849).epsilon(1e-14));
  REQUIRE_THROWS_AS(opt.step(ps, {Tensor<double>(Shape{2})}), ShapeError);
}

TEST_CASE("Adam follows torch.optim.Adam's bias-corrected update", "[train]") {
  Tensor<double> p(Shape{2}, {1.0, -2.0});
  nn::Adam<double> opt({.lr = 0.1});
  std::vector<Tensor<double>*> ps{&p};
  // step 1 with g: m = 0.1 g, v = 0.001 g², m̂ = g, v̂ = g²: p -= 0.1 · g / (|g| + 1e-8)
  opt.step(ps, {Tensor<double>(Shape{2}, {0.3, -4.0})});
  REQUIRE(p[0] == Approx(1.0 - 0.1 * 0.3 / (0.3 + 1e-8)).epsilon(1e-12));
  REQUIRE(p[1] == Approx(-2.0 + 0.1 * 4.0 / (4.0 + 1e-8)).epsilon(1e-12));
  // step 2 with g2 = 0.1 for p[0]: m = 0.9·0.03 + 0.1·0.1 = 0.037, v = 0.999·0.00009 + 0.001·0.01
  const double m = 0.037, v = 0.999 * 0.00009 + 0.001 * 0.01;
  const double mhat = m / (1 - 0.81), vhat = v / (1 - 0.999 * 0.999);
  const double before = p[0];
  opt.step(ps, {Tensor<double>(Shape{2}, {0.1, 0.0})});
  REQUIRE(p[0] == Approx(before - 0.1 * mhat / (std::sqrt(vhat) + 1e-8)).epsilon(1e-10));
}

TEST_CASE("Training a linear softmax classifier with the tape lowers the loss", "[train]") {
  // Two separable blobs; weights are tape variables; loss must fall well below log(2).
  auto x = testing::random_tensor<float>(Shape{32, 2}, 11);
  std::vector<std::int64_t> labels(32);
  for (int n = 0; n < 32; ++n) {
    labels[static_cast<std::size_t>(n)] = n % 2;
    x(n, 0) += n % 2 ? 2.0f : -2.0f;
  }
  Tensor<float> w(Shape{2, 2}), b(Shape{2});
  nn::Adam<float> opt({.lr = 0.1});
  float first = 0, last = 0;
  for (int it = 0; it < 50; ++it) {
    ad::Tape<float> tape;
    auto wv = tape.variable(w), bv = tape.variable(b);
    auto loss = nn::cross_entropy(ad::linear(ad::Var<float>(x), wv, bv), labels);
    auto g = ad::grad(tape, loss, {wv, bv});
    opt.step({&w, &b}, g);
    (it == 0 ? first : last) = loss.value()[0];
  }
  REQUIRE(first == Approx(std::log(2.0f)).epsilon(1e-4));
  REQUIRE(last < 0.1f);
}
