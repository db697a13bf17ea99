// metrics/stats.hpp: bootstrap CIs, Wilcoxon signed-rank, Holm. Expected values come from
// hand-checkable textbook cases written here and from tests/data/stats/stats_fixtures.json,
// computed independently in pure Python by tools/make_stats_fixtures.py (its own MT19937-64,
// exact enumeration of the signed-rank distribution, the normal approximation).
#include "gradattr/metrics/stats.hpp"

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "support/data_files.hpp"
#include "support/testing.hpp"

using namespace gradattr::metrics::stats;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<double> values(const nlohmann::json& j) {
  std::vector<double> v;
  for (const auto& e : j) v.push_back(e.is_null() ? kNaN : e.get<double>());
  return v;
}

const nlohmann::json& fixtures() {
  static const nlohmann::json j = [] {
    std::ifstream in(gradattr::testing::data_file("stats/stats_fixtures.json"));
    REQUIRE(in.good());
    return nlohmann::json::parse(in);
  }();
  return j;
}

}  // namespace

TEST_CASE("Wilcoxon signed-rank: textbook cases", "[metrics][stats]") {
  // Darwin's Zea mays differences (Fisher 1935; scipy.stats.wilcoxon's documentation example):
  // n = 15, W- = 24, exact two-sided p = 0.041259765625.
  const std::vector<double> d{6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75};
  const auto r = wilcoxon_signed_rank(d, std::vector<double>(d.size(), 0.0));
  CHECK(r.exact);
  CHECK(r.n == 15);
  CHECK(r.w_minus == 24);
  CHECK(r.w_plus == 120 - 24);
  CHECK(r.p == Approx(0.041259765625).epsilon(1e-12));
  // Swapping the samples mirrors W+ and W- and keeps p.
  const auto s = wilcoxon_signed_rank(std::vector<double>(d.size(), 0.0), d);
  CHECK(s.w_plus == 24);
  CHECK(s.p == r.p);
  // n = 5, every difference positive: the most extreme of 2^5 sign patterns on each side, p = 2/32.
  const auto five = wilcoxon_signed_rank({1, 2, 3, 4, 5}, {0, 0, 0, 0, 0});
  CHECK(five.p == Approx(0.0625).epsilon(1e-15));
  // Zeros are dropped before ranking (Wilcoxon), not ranked (Pratt): {0, 0, 1, 2} ranks {1, 2}.
  const auto z = wilcoxon_signed_rank({0, 0, 1, 2}, {0, 0, 0, 0});
  CHECK(z.zeros == 2);
  CHECK(z.n == 2);
  CHECK(z.w_plus == 3);
  CHECK(z.p == Approx(0.5).epsilon(1e-15));  // 2 · P(W+ >= 3) = 2 · 1/4
  // No nonzero difference: no evidence, p = 1.
  const auto none = wilcoxon_signed_rank({1, 2, 3}, {1, 2, 3});
  CHECK(none.n == 0);
  CHECK(none.p == 1);
}

TEST_CASE("Wilcoxon signed-rank: NaN pairs dropped from both sides", "[metrics][stats]") {
  const std::vector<double> a{1, kNaN, 3, 4, 5, 6}, b{0, 0, kNaN, 0, 0, 0};
  const auto r = wilcoxon_signed_rank(a, b);
  CHECK(r.dropped == 2);
  CHECK(r.n == 4);
  const auto same = wilcoxon_signed_rank({1, 4, 5, 6}, {0, 0, 0, 0});
  CHECK(r.p == same.p);
  CHECK(r.w_plus == same.w_plus);
  CHECK_THROWS(wilcoxon_signed_rank({1, 2}, {1}));
}

TEST_CASE("Wilcoxon signed-rank against the independent Python reference", "[metrics][stats]") {
  for (const auto& c : fixtures().at("wilcoxon")) {
    INFO(c.at("name").get<std::string>() << ": " << c.at("note").get<std::string>());
    const auto r = wilcoxon_signed_rank(values(c.at("a")), values(c.at("b")));
    const auto& e = c.at("expected");
    CHECK(r.n == e.at("n").get<std::int64_t>());
    CHECK(r.zeros == e.at("zeros").get<std::int64_t>());
    CHECK(r.dropped == e.at("dropped").get<std::int64_t>());
    CHECK(r.exact == e.at("exact").get<bool>());
    CHECK(r.w_plus == Approx(e.at("w_plus").get<double>()).margin(1e-9));
    CHECK(r.w_minus == Approx(e.at("w_minus").get<double>()).margin(1e-9));
    CHECK(r.p == Approx(e.at("p").get<double>()).epsilon(1e-10));
    if (e.contains("z")) CHECK(r.z == Approx(e.at("z").get<double>()).epsilon(1e-10));
  }
}

TEST_CASE("Bootstrap CI against the independent Python reference (same MT19937-64 stream)", "[metrics][stats]") {
  for (const auto& c : fixtures().at("bootstrap")) {
    INFO(c.at("name").get<std::string>());
    BootstrapOptions o;
    o.resamples = c.at("resamples").get<std::int64_t>();
    o.level = c.at("level").get<double>();
    o.seed = c.at("seed").get<std::uint64_t>();
    const auto r = c.at("b").is_null() ? bootstrap_mean_ci(values(c.at("a")), o)
                                       : bootstrap_mean_diff_ci(values(c.at("a")), values(c.at("b")), o);
    const auto& e = c.at("expected");
    CHECK(r.n == e.at("n").get<std::int64_t>());
    CHECK(r.dropped == e.at("dropped").get<std::int64_t>());
    CHECK(r.estimate == Approx(e.at("estimate").get<double>()).epsilon(1e-12));
    CHECK(r.lo == Approx(e.at("lo").get<double>()).epsilon(1e-12));
    CHECK(r.hi == Approx(e.at("hi").get<double>()).epsilon(1e-12));
  }
}

TEST_CASE("Bootstrap CI: properties", "[metrics][stats]") {
  // A constant sample: every resample has the same mean.
  const auto k = bootstrap_mean_ci(std::vector<double>(40, 2.5));
  CHECK(k.estimate == 2.5);
  CHECK(k.lo == 2.5);
  CHECK(k.hi == 2.5);
  // Seeded: the same seed gives the same interval, another seed (almost surely) another one.
  std::vector<double> x;
  for (int i = 0; i < 200; ++i) x.push_back(std::sin(i * 1.7) + 0.01 * i);
  const auto a = bootstrap_mean_ci(x), b = bootstrap_mean_ci(x);
  CHECK(a.lo == b.lo);
  CHECK(a.hi == b.hi);
  BootstrapOptions o;
  o.seed = 99;
  CHECK(bootstrap_mean_ci(x, o).lo != a.lo);
  CHECK(a.lo < a.estimate);
  CHECK(a.estimate < a.hi);
  // Roughly the normal-theory interval mean ± 1.96 s/√n for a smooth sample of 200.
  double m = 0, s2 = 0;
  for (double v : x) m += v / 200;
  for (double v : x) s2 += (v - m) * (v - m) / 199;
  const double half = 1.96 * std::sqrt(s2 / 200);
  CHECK(a.hi - a.lo == Approx(2 * half).epsilon(0.15));
  // Paired: a mean difference of a sample with itself shifted by 1 is exactly 1, with no width.
  std::vector<double> y = x;
  for (double& v : y) v -= 1;
  const auto d = bootstrap_mean_diff_ci(x, y);
  CHECK(d.estimate == Approx(1).epsilon(1e-12));
  CHECK(d.hi - d.lo == Approx(0).margin(1e-12));
  // NaN: dropped and counted; an all-NaN sample has no estimate.
  const auto e = bootstrap_mean_ci({kNaN, kNaN});
  CHECK(e.n == 0);
  CHECK(e.dropped == 2);
  CHECK(std::isnan(e.estimate));
  o.resamples = 0;
  CHECK_THROWS(bootstrap_mean_ci(x, o));
}

TEST_CASE("Holm-Bonferroni", "[metrics][stats]") {
  // By hand: sorted 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 -> max(0.06, 0.04).
  const auto h = holm({0.01, 0.04, 0.03, 0.005});
  CHECK(h[0] == Approx(0.03));
  CHECK(h[1] == Approx(0.06));
  CHECK(h[2] == Approx(0.06));
  CHECK(h[3] == Approx(0.02));
  // Capped at 1; NaN stays NaN and is not counted in the family (m = 2 here).
  const auto c = holm({0.6, kNaN, 0.3});
  CHECK(c[0] == Approx(0.6));
  CHECK(std::isnan(c[1]));
  CHECK(c[2] == Approx(0.6));
  CHECK(holm({0.9, 0.8})[0] == 1.0);
  for (const auto& f : fixtures().at("holm")) {
    const auto got = holm(f.at("p").get<std::vector<double>>());
    const auto want = f.at("expected").get<std::vector<double>>();
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(want[i]).epsilon(1e-14));
  }
}
