// metrics/ssim.hpp: single-scale SSIM (Wang et al. 2004). Expected values come from
// tests/data/ssim/ssim_fixtures.json, computed independently in pure Python by
// tools/make_ssim_fixtures.py (a direct 2-D 11×11 Gaussian window, not the separable filter of
// the C++ code), and from properties that hold by the formula.
#include "gradattr/metrics/ssim.hpp"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/data_files.hpp"
#include "support/testing.hpp"

using namespace gradattr;
using namespace gradattr::metrics;

TEST_CASE("ssim: equals the pure-Python reference (tools/make_ssim_fixtures.py)", "[metrics][ssim]") {
  std::ifstream in(gradattr::testing::data_file("ssim/ssim_fixtures.json"));
  REQUIRE(in.good());
  const auto j = nlohmann::json::parse(in);
  REQUIRE(j.at("cases").size() >= 5);
  for (const auto& c : j.at("cases")) {
    const std::int64_t H = c.at("H"), W = c.at("W");
    Tensor<double> a({H, W}), b({H, W});
    for (std::int64_t i = 0; i < H * W; ++i) {
      a[i] = c.at("a")[static_cast<std::size_t>(i)].get<double>();
      b[i] = c.at("b")[static_cast<std::size_t>(i)].get<double>();
    }
    SsimOptions o;
    o.data_range = c.at("data_range").get<double>();
    INFO(c.at("name").get<std::string>());
    CHECK(ssim(a, b, o) == Approx(c.at("ssim").get<double>()).margin(1e-12));
    CHECK(ssim(b, a, o) == Approx(c.at("ssim").get<double>()).margin(1e-12));  // symmetric
  }
}

TEST_CASE("ssim: properties and errors", "[metrics][ssim]") {
  const auto a = gradattr::testing::random_tensor<float>({28, 28}, 1, 0.0, 1.0);
  const auto b = gradattr::testing::random_tensor<float>({1, 28, 28}, 2, 0.0, 1.0);
  CHECK(ssim(a, a) == Approx(1.0).margin(1e-12));
  const double s = ssim(a, b);
  CHECK(s < 0.2);
  CHECK(s > -1.0);
  Tensor<float> c({1, 1, 28, 28}, 0.5f);
  CHECK(ssim(c, c) == Approx(1.0));  // constant maps: (μ²·2 + C1)/(2μ² + C1) · C2/C2 = 1
  REQUIRE_THROWS_AS(ssim(a, Tensor<float>({27, 28})), ShapeError);
  REQUIRE_THROWS_AS(ssim(Tensor<float>({10, 10}), Tensor<float>({10, 10})), ShapeError);  // smaller than the window
  REQUIRE_THROWS_AS(ssim(Tensor<float>({2, 28, 28}), Tensor<float>({2, 28, 28})), ShapeError);
  auto n = a.clone();
  n[5] = NAN;
  REQUIRE_THROWS_AS(ssim(a, n), ArgumentError);
  REQUIRE_THROWS_AS(ssim(a, a, SsimOptions{.data_range = 0}), ArgumentError);
  REQUIRE_THROWS_AS(ssim(a, a, SsimOptions{.window = 10}), ArgumentError);
  try {
    ssim(a, a, SsimOptions{.sigma = -1});
    FAIL("no throw");
  } catch (const ArgumentError& e) {
    CHECK(std::string(e.what()).find("sigma") != std::string::npos);
  }
}
