// Agreement metrics: known values, ties, invariances and degenerate inputs.
#include "gradattr/metrics/agreement.hpp"

#include <cmath>
#include <limits>

#include "support/testing.hpp"

using namespace gradattr;
using namespace gradattr::metrics;
using gradattr::testing::random_tensor;

TEST_CASE("Pearson, known values", "[metrics]") {
  const Tensor<double> x({5}, {1, 2, 3, 4, 5}), y({5}, {2, 4, 5, 4, 5});
  // Σdxdy = 6, Σdx² = 10, Σdy² = 6: r = 6/√60
  REQUIRE(pearson(x, y) == Approx(6 / std::sqrt(60.0)).epsilon(1e-14));
  REQUIRE(pearson(x, Tensor<float>({5}, {3, 5, 7, 9, 11})) == Approx(1.0).epsilon(1e-14));
  REQUIRE(pearson(x, Tensor<double>({5}, {-1, -2, -3, -4, -5})) == Approx(-1.0).epsilon(1e-14));
}

TEST_CASE("Spearman with average ranks for ties", "[metrics]") {
  const Tensor<double> t({4}, {10, 20, 10, 30});
  REQUIRE(average_ranks(t) == std::vector<double>{1.5, 3, 1.5, 4});
  // x ranks (1, 2.5, 2.5, 4) against (1, 2, 3, 4): 4.5 / √(4.5 · 5) (scipy: 0.9486832980505138)
  const Tensor<double> x({4}, {1, 2, 2, 3}), y({4}, {1, 2, 3, 4});
  REQUIRE(spearman(x, y) == Approx(0.9486832980505138).epsilon(1e-14));
  // Monotone maps agree perfectly whatever their shape; a reversal gives −1.
  const Tensor<double> c({2, 3}, {1, 8, 27, 64, 125, 216}), l({2, 3}, {1, 2, 3, 4, 5, 6});
  REQUIRE(spearman(c, l) == 1.0);
  REQUIRE(pearson(c, l) < 0.99);
  const Tensor<double> r({2, 3}, {6, 5, 4, 3, 2, 1});
  REQUIRE(spearman(r, l) == -1.0);
}

TEST_CASE("rank metrics ignore positive scaling (Post = y_c · LogSoftmax)", "[metrics]") {
  const auto a = random_tensor<float>({1, 7, 7}, 91);
  auto b = a.clone();
  for (auto& v : b) v *= 0.37f;
  REQUIRE(spearman(a, b) == 1.0);
  REQUIRE(pearson(a, b) == Approx(1.0).epsilon(1e-6));
  REQUIRE(top_k_iou(a, b, 0.1) == 1.0);
}

TEST_CASE("top-k% IoU", "[metrics]") {
  const Tensor<double> a({10}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  const Tensor<double> rev({10}, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0});
  REQUIRE(top_k_iou(a, a, 0.1) == 1.0);
  REQUIRE(top_k_iou(a, rev, 0.2) == 0.0);  // {8, 9} vs {0, 1}
  const Tensor<double> b({10}, {9, 0, 0, 0, 0, 0, 0, 1, 8, 7});  // top-3: {0, 8, 9}
  REQUIRE(top_k_iou(a, b, 0.3) == 0.5);                          // {7, 8, 9}: ∩ 2, ∪ 4
  REQUIRE(top_k_iou(a, b, 1.0) == 1.0);
  REQUIRE(top_k_iou(a, b, 0.01) == 0.0);  // k = 1 at least: {9} vs {0}
  // Ties at the threshold are all included: a constant map selects everything.
  const Tensor<double> flat({10}, 3.0);
  REQUIRE(top_k_iou(flat, a, 0.1) == Approx(0.1));
  REQUIRE(top_k_iou(flat, flat, 0.1) == 1.0);
  REQUIRE_THROWS_AS(top_k_iou(a, b, 0.0), ArgumentError);
  REQUIRE_THROWS_AS(top_k_iou(a, b, 1.5), ArgumentError);
}

TEST_CASE("degenerate inputs: constant maps give NaN correlations, bad input throws", "[metrics]") {
  const Tensor<double> flat({3, 3}, 1.0), zero({3, 3});
  const auto r = random_tensor<double>({3, 3}, 92);
  REQUIRE(std::isnan(pearson(flat, r)));
  REQUIRE(std::isnan(spearman(r, zero)));
  REQUIRE(std::isnan(spearman(flat, zero)));
  REQUIRE(std::isnan(pearson(Tensor<double>({1}, {2.0}), Tensor<double>({1}, {3.0}))));
  REQUIRE_THROWS_AS(pearson(r, Tensor<double>({9})), ShapeError);
  auto n = r.clone();
  n[4] = std::numeric_limits<double>::quiet_NaN();
  REQUIRE_THROWS_AS(spearman(n, r), ArgumentError);
  REQUIRE_THROWS_AS(top_k_iou(r, n, 0.5), ArgumentError);
}
