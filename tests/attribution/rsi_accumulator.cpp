// RSI Grad-CAM's trapezoid accumulator (METHODS.md §2).
#include "gradattr/attribution/rsi_accumulator.hpp"

#include <cmath>

#include "support/testing.hpp"

using namespace gradattr;
using gradattr::testing::random_tensor;

TEST_CASE("RSI accumulator, hand-computed, with and without ReLU on g", "[attribution]") {
  // One 1×1 channel: A = 0, 1, 3; g = 1, 3, −1.
  // G = ½(1 + 3)(1 − 0) + ½(3 − 1)(3 − 1) = 4;  with ReLU: ½(1 + 3)·1 + ½(3 + 0)·2 = 5.
  cam::RsiAccumulator<double> acc, relu(true);
  const double a[3] = {0, 1, 3}, g[3] = {1, 3, -1};
  for (int m = 0; m < 3; ++m) {
    acc.add(Tensor<double>({1, 1, 1, 1}, {a[m]}), Tensor<double>({1, 1, 1, 1}, {g[m]}));
    relu.add(Tensor<double>({1, 1, 1, 1}, {a[m]}), Tensor<double>({1, 1, 1, 1}, {g[m]}));
  }
  REQUIRE(acc.intervals() == 2);
  REQUIRE(acc.integrated()[0] == 4.0);
  REQUIRE(acc.weights()[0] == 4.0);
  REQUIRE(acc.completeness()[0] == 4.0);
  REQUIRE(relu.integrated()[0] == 5.0);
}

TEMPLATE_TEST_CASE("RSI completeness is exact for S linear in A: Σ G = S(x) − S(x′)", "[attribution]", float,
                   double) {
  using T = TestType;
  // S(A) = Σ V⊙A + b, so g = V at every point; the path of A is deliberately not straight.
  const std::int64_t N = 2, K = 3, H = 2, W = 3, M = 50;
  const auto V = random_tensor<T>({N, K, H, W}, 51);
  const auto Ax = random_tensor<T>({N, K, H, W}, 52, 0, 2), Ab = random_tensor<T>({N, K, H, W}, 53, 0, 0.5);
  cam::RsiAccumulator<T> acc;
  for (std::int64_t m = 0; m <= M; ++m) {
    const double t = double(m) / M, bend = std::sin(3.0 * t) * (1 - t) * t;
    auto Am = Tensor<T>::uninitialized(Ax.shape());
    for (std::int64_t i = 0; i < Am.numel(); ++i) Am[i] = static_cast<T>(Ab[i] + t * t * (Ax[i] - Ab[i]) + bend);
    acc.add(Am, V);
  }
  const auto c = acc.completeness();
  const std::int64_t P = K * H * W;
  for (std::int64_t n = 0; n < N; ++n) {
    double dS = 0;
    for (std::int64_t i = 0; i < P; ++i) dS += double(V[n * P + i]) * (double(Ax[n * P + i]) - double(Ab[n * P + i]));
    REQUIRE(double(c[n]) == Approx(dS).epsilon(std::is_same_v<T, float> ? 1e-5 : 1e-12));
  }
  // weights = mean over ij of G; here G_k = V_k ⊙ (A_x − A_b) exactly.
  const auto w = acc.weights();
  for (std::int64_t nk = 0; nk < N * K; ++nk) {
    double s = 0;
    for (std::int64_t ij = 0; ij < H * W; ++ij) {
      const auto i = nk * H * W + ij;
      s += double(V[i]) * (double(Ax[i]) - double(Ab[i]));
    }
    REQUIRE(double(w[nk]) == Approx(s / (H * W)).epsilon(1e-5).margin(1e-6));
  }
}

TEST_CASE("RSI trapezoid is exact for S quadratic in A (g affine in A)", "[attribution]") {
  // S = ½ Σ q A², g = q ⊙ A; the trapezoid rule integrates an affine g along each segment exactly.
  const auto q = random_tensor<double>({1, 2, 2, 2}, 61);
  const auto Ax = random_tensor<double>({1, 2, 2, 2}, 62);
  auto S = [&](const Tensor<double>& A) {
    double s = 0;
    for (std::int64_t i = 0; i < A.numel(); ++i) s += 0.5 * q[i] * A[i] * A[i];
    return s;
  };
  cam::RsiAccumulator<double> acc;
  const int M = 7;
  for (int m = 0; m <= M; ++m) {
    auto Am = Ax.clone(), gm = Ax.clone();
    for (std::int64_t i = 0; i < Am.numel(); ++i) {
      Am[i] = Ax[i] * std::pow(double(m) / M, 1.5);
      gm[i] = q[i] * Am[i];
    }
    acc.add(Am, gm);
  }
  REQUIRE(acc.completeness()[0] == Approx(S(Ax)).epsilon(1e-12));
}

TEST_CASE("RSI accumulator misuse", "[attribution]") {
  cam::RsiAccumulator<float> acc;
  REQUIRE_THROWS_AS(acc.weights(), ArgumentError);
  acc.add(Tensor<float>({1, 1, 2, 2}), Tensor<float>({1, 1, 2, 2}));
  REQUIRE_THROWS_AS(acc.completeness(), ArgumentError);
  REQUIRE_THROWS_AS(acc.add(Tensor<float>({1, 1, 2, 3}), Tensor<float>({1, 1, 2, 3})), ShapeError);
  REQUIRE_THROWS_AS(acc.add(Tensor<float>({1, 1, 2, 2}), Tensor<float>({1, 1, 2, 3})), ShapeError);
  acc.add(Tensor<float>({1, 1, 2, 2}, 1.f), Tensor<float>({1, 1, 2, 2}, 2.f));
  REQUIRE(acc.completeness()[0] == 4.f);  // ½(0 + 2)(1 − 0) · 4 positions
  acc.reset();
  REQUIRE(acc.points() == 0);
}
