// metrics/road.hpp: ROAD's noisy linear imputation and curves. The imputation is checked against
// the equations it must satisfy, written here from Rong et al.'s definition (every removed pixel
// = the weighted mean of its in-image 8-neighbours, weights 1/6 direct and 1/12 diagonal), not
// against the solver's own arithmetic.
#include "gradattr/metrics/road.hpp"

#include <cmath>
#include <string>
#include <vector>

#include "gradattr/nn/sequential.hpp"
#include "support/testing.hpp"

using namespace gradattr;
using namespace gradattr::metrics;

namespace {

// max over removed pixels and channels of |x_p − Σ_q w_q x_q / Σ_q w_q| (q: in-image 8-neighbours).
double max_residual(const Tensor<double>& xi, const Tensor<std::uint8_t>& removed, std::int64_t C, std::int64_t H, std::int64_t W) {
  double worst = 0;
  for (std::int64_t c = 0; c < C; ++c)
    for (std::int64_t i = 0; i < H; ++i)
      for (std::int64_t j = 0; j < W; ++j) {
        if (!removed[i * W + j]) continue;
        double s = 0, ws = 0;
        for (int di = -1; di <= 1; ++di)
          for (int dj = -1; dj <= 1; ++dj) {
            if (di == 0 && dj == 0) continue;
            const std::int64_t ii = i + di, jj = j + dj;
            if (ii < 0 || jj < 0 || ii >= H || jj >= W) continue;
            const double w = (di == 0 || dj == 0) ? 1.0 / 6 : 1.0 / 12;
            s += w * xi[(c * H + ii) * W + jj];
            ws += w;
          }
        worst = std::max(worst, std::abs(xi[(c * H + i) * W + j] - s / ws));
      }
  return worst;
}

Tensor<std::uint8_t> random_mask(std::int64_t H, std::int64_t W, double p, std::uint64_t seed) {
  const auto u = gradattr::testing::random_tensor<double>({H, W}, seed, 0.0, 1.0);
  Tensor<std::uint8_t> m({H, W});
  for (std::int64_t i = 0; i < H * W; ++i) m[i] = u[i] < p;
  return m;
}

}  // namespace

TEST_CASE("noisy_linear_impute: removed pixels solve the neighbour equations; kept pixels unchanged", "[metrics][road]") {
  const std::int64_t C = 2, H = 9, W = 11;
  const auto x = gradattr::testing::random_tensor<double>({1, C, H, W}, 5, 0.0, 1.0);
  for (double p : {0.1, 0.5, 0.9}) {
    const auto m = random_mask(H, W, p, 17);
    std::int64_t removed = 0;
    for (auto v : m) removed += v;
    REQUIRE(removed > 0);
    REQUIRE(removed < H * W);
    const auto xi = noisy_linear_impute(x, m, {.noise = 0.0, .seed = 1});
    REQUIRE(xi.shape() == x.shape());
    CHECK(max_residual(xi, m, C, H, W) < 1e-12);
    for (std::int64_t c = 0; c < C; ++c)
      for (std::int64_t q = 0; q < H * W; ++q)
        if (!m[q]) REQUIRE(xi[c * H * W + q] == x[c * H * W + q]);  // bit for bit
    // the same in float, [C, H, W], and a 3-D mask: kept pixels still exact
    Tensor<float> xf({C, H, W});
    for (std::int64_t i = 0; i < xf.numel(); ++i) xf[i] = static_cast<float>(x[i]);
    Tensor<std::uint8_t> m3({1, H, W});
    std::copy(m.begin(), m.end(), m3.begin());
    const auto xif = noisy_linear_impute(xf, m3, {.noise = 0.0});
    for (std::int64_t i = 0; i < xf.numel(); ++i) CHECK(xif[i] == Approx(static_cast<float>(xi[i])).margin(1e-6));
  }
}

TEST_CASE("noisy_linear_impute: noise is seeded, added only to removed pixels, of the given size", "[metrics][road]") {
  const std::int64_t H = 28, W = 28;
  const auto x = gradattr::testing::random_tensor<double>({1, 1, H, W}, 6, 0.0, 1.0);
  const auto m = random_mask(H, W, 0.6, 3);
  const auto clean = noisy_linear_impute(x, m, {.noise = 0.0});
  const auto a = noisy_linear_impute(x, m, {.noise = 0.05, .seed = 42});
  const auto b = noisy_linear_impute(x, m, {.noise = 0.05, .seed = 42});
  const auto c = noisy_linear_impute(x, m, {.noise = 0.05, .seed = 43});
  double ss = 0;
  std::int64_t n = 0;
  bool differ = false;
  for (std::int64_t i = 0; i < H * W; ++i) {
    REQUIRE(a[i] == b[i]);
    if (!m[i]) {
      REQUIRE(a[i] == x[i]);
      continue;
    }
    differ = differ || a[i] != c[i];
    ss += (a[i] - clean[i]) * (a[i] - clean[i]);
    ++n;
  }
  CHECK(differ);
  REQUIRE(n > 300);
  CHECK(std::sqrt(ss / static_cast<double>(n)) == Approx(0.05).epsilon(0.12));  // sample sd of the added noise
}

TEST_CASE("noisy_linear_impute: a constant image stays constant; nothing removed = identity; errors", "[metrics][road]") {
  const Tensor<double> x({1, 3, 8, 8}, 0.375);
  const auto m = random_mask(8, 8, 0.7, 9);
  const auto xi = noisy_linear_impute(x, m, {.noise = 0.0});
  for (auto v : xi) CHECK(v == Approx(0.375).margin(1e-14));
  const auto y = gradattr::testing::random_tensor<double>({1, 1, 8, 8}, 2);
  const auto same = noisy_linear_impute(y, Tensor<std::uint8_t>({8, 8}), {.noise = 0.3, .seed = 1});
  for (std::int64_t i = 0; i < y.numel(); ++i) REQUIRE(same[i] == y[i]);
  REQUIRE_THROWS_AS(noisy_linear_impute(y, Tensor<std::uint8_t>({8, 7}), {}), ShapeError);
  REQUIRE_THROWS_AS(noisy_linear_impute(Tensor<double>({2, 1, 8, 8}), Tensor<std::uint8_t>({8, 8}), {}), ShapeError);
  REQUIRE_THROWS_AS(noisy_linear_impute(y, Tensor<std::uint8_t>({8, 8}, std::uint8_t{1}), {}), ArgumentError);  // all removed
  REQUIRE_THROWS_AS(noisy_linear_impute(y, m, {.noise = -1}), ArgumentError);
  try {
    noisy_linear_impute(y, Tensor<std::uint8_t>({4, 4}), {});
    FAIL("no throw");
  } catch (const ShapeError& e) {
    CHECK(std::string(e.what()).find("mask") != std::string::npos);
  }
}

TEST_CASE("road_mask: MoRF removes the largest values, LeRF the smallest; fraction errors", "[metrics][road]") {
  const Tensor<float> map({2, 3}, {0.5f, 1.0f, 0.2f, -1.0f, 0.9f, 0.3f});
  auto ones = [](const Tensor<std::uint8_t>& m) {
    std::vector<int> v;
    for (std::int64_t i = 0; i < m.numel(); ++i)
      if (m[i]) v.push_back(static_cast<int>(i));
    return v;
  };
  CHECK(ones(road_mask(map, 0.0, RoadOrder::MoRF)).empty());
  CHECK(ones(road_mask(map, 1.0 / 3, RoadOrder::MoRF)) == std::vector<int>{1, 4});
  CHECK(ones(road_mask(map, 1.0 / 3, RoadOrder::LeRF)) == std::vector<int>{2, 3});
  CHECK(ones(road_mask(map, 0.5, RoadOrder::LeRF)) == std::vector<int>{2, 3, 5});
  CHECK(ones(road_mask(map, 1.0, RoadOrder::LeRF)).size() == 6);
  for (double f : {-0.1, 1.5, static_cast<double>(NAN)}) {
    try {
      road_mask(map, f, RoadOrder::MoRF);
      FAIL("no throw");
    } catch (const ArgumentError& e) {
      CHECK(std::string(e.what()).find("fraction") != std::string::npos);
    }
  }
}

TEST_CASE("road_curve: fraction 0 is the clean score; each point is the score of the imputed image", "[metrics][road]") {
  const std::int64_t H = 6, W = 6;
  nn::Sequential<double> model;
  model.add("flatten", nn::Flatten<double>{});
  model.add("fc", nn::Linear<double>(gradattr::testing::random_tensor<double>({4, H * W}, 11), gradattr::testing::random_tensor<double>({4}, 12)));
  const auto x = gradattr::testing::random_tensor<double>({1, 1, H, W}, 3, 0.0, 1.0);
  const auto map = gradattr::testing::random_tensor<double>({H, W}, 4);
  const std::vector<double> fr{0.0, 0.25, 0.5, 0.75};
  const Tensor<double> z = model.forward(x);
  std::int64_t top = 0;
  for (std::int64_t k = 1; k < 4; ++k)
    if (z[k] > z[top]) top = k;
  for (RoadOrder o : {RoadOrder::MoRF, RoadOrder::LeRF}) {
    const auto r = road_curve(ScoreKind::Pre, model, x, map, o, fr, Target{}, {.noise = 0.01, .seed = 7});
    REQUIRE(r.cls == top);
    REQUIRE(r.scores.size() == fr.size());
    CHECK(r.scores[0] == Approx(z[top]).epsilon(1e-12));
    CHECK(r.removed[0] == 0);
    CHECK(r.removed[2] == 18);
    double mean = 0;
    for (std::size_t k = 0; k < fr.size(); ++k) {
      // direct recomputation: the mask, the imputation (seed + k), z_c = W_c · x + b_c
      const auto m = road_mask(map, fr[k], o);
      const auto xi = noisy_linear_impute(x, m, {.noise = 0.01, .seed = 7 + k});
      const auto& lin = std::get<nn::Linear<double>>(model.layer("fc"));
      double zc = lin.bias()[top];
      for (std::int64_t p = 0; p < H * W; ++p) zc += lin.weight()(top, p) * xi[p];
      CHECK(r.scores[k] == Approx(zc).epsilon(1e-10));
      mean += r.scores[k] / static_cast<double>(fr.size());
    }
    CHECK(r.area == Approx(mean));
    CHECK(r.correct[0] == 1);
  }
  REQUIRE_THROWS_AS(road_curve(ScoreKind::Post, model, x, map, RoadOrder::MoRF, {0.5, 1.2}), ArgumentError);
  REQUIRE_THROWS_AS(road_curve(ScoreKind::Post, model, x, map, RoadOrder::MoRF, {}), ArgumentError);
  REQUIRE_THROWS_AS(road_curve(ScoreKind::Post, model, x, Tensor<double>({5, 6}), RoadOrder::MoRF, {0.5}), ShapeError);
}
