// Reduced E8 (sanity checks, examples/paper/e8_sanity.hpp) and E9 (ROAD, e9_road.hpp): a couple
// of images and methods, checked against recomputations written here: the signed map's
// upsampling, the normalisation, Spearman ranks, the ROAD masks and scores, the Sobel and
// Gaussian baselines and the deletion/insertion curves. The library pieces they build on are
// tested elsewhere (metrics::ssim against a pure-Python reference, noisy_linear_impute against
// its equations, run_method against PyTorch). Needs the shipped model and Fashion-MNIST.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <numeric>
#include <random>

#include "examples/paper/e8_sanity.hpp"
#include "examples/paper/e9_road.hpp"

namespace {

using namespace paper;

const std::string kWeights8 = std::string(GRADATTR_SOURCE_DIR) + "/examples/data/fashion_vgg.safetensors";

const gradattr::models::Vgg<float>& shipped() {
  static const auto m = [] {
    REQUIRE(std::filesystem::exists(kWeights8));
    return gradattr::models::vgg_from_safetensors<float>(kWeights8);
  }();
  return m;
}

TestSet two_images() {
  for (const char* f : {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"})
    REQUIRE(std::filesystem::exists(std::string(kDefaultData) + "/" + f));
  return load_test_set(kDefaultData, 2);
}

std::int64_t top_class(const Tensor<float>& z) {
  std::int64_t c = 0;
  for (std::int64_t j = 1; j < z.dim(1); ++j)
    if (z(0, j) > z(0, c)) c = j;
  return c;
}

std::vector<double> avg_ranks(const std::vector<double>& v) {
  std::vector<std::size_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (std::size_t i = 0; i < idx.size();) {
    std::size_t j = i;
    while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) ++j;
    for (std::size_t k = i; k <= j; ++k) r[idx[k]] = 0.5 * static_cast<double>(i + j) + 1.0;
    i = j + 1;
  }
  return r;
}

double spearman_ref(const std::vector<double>& a, const std::vector<double>& b) {
  const auto ra = avg_ranks(a), rb = avg_ranks(b);
  const double n = static_cast<double>(ra.size());
  const double ma = std::accumulate(ra.begin(), ra.end(), 0.0) / n, mb = std::accumulate(rb.begin(), rb.end(), 0.0) / n;
  double sab = 0, saa = 0, sbb = 0;
  for (std::size_t i = 0; i < ra.size(); ++i) sab += (ra[i] - ma) * (rb[i] - mb), saa += (ra[i] - ma) * (ra[i] - ma), sbb += (rb[i] - mb) * (rb[i] - mb);
  return saa == 0 || sbb == 0 ? std::numeric_limits<double>::quiet_NaN() : sab / std::sqrt(saa * sbb);
}

// Bilinear upsampling with half-pixel centres (PyTorch align_corners=False), written out.
std::vector<double> upsample_ref(const Tensor<float>& raw, std::int64_t h, std::int64_t w, std::int64_t H, std::int64_t W) {
  std::vector<double> out(static_cast<std::size_t>(H * W));
  for (std::int64_t i = 0; i < H; ++i)
    for (std::int64_t j = 0; j < W; ++j) {
      const double sy = std::max(0.0, (i + 0.5) * static_cast<double>(h) / static_cast<double>(H) - 0.5);
      const double sx = std::max(0.0, (j + 0.5) * static_cast<double>(w) / static_cast<double>(W) - 0.5);
      const auto y0 = std::min<std::int64_t>(static_cast<std::int64_t>(sy), h - 1), x0 = std::min<std::int64_t>(static_cast<std::int64_t>(sx), w - 1);
      const auto y1 = std::min(y0 + 1, h - 1), x1 = std::min(x0 + 1, w - 1);
      const double fy = sy - static_cast<double>(y0), fx = sx - static_cast<double>(x0);
      out[static_cast<std::size_t>(i * W + j)] = (1 - fy) * ((1 - fx) * raw[y0 * w + x0] + fx * raw[y0 * w + x1]) +
                                                 fy * ((1 - fx) * raw[y1 * w + x0] + fx * raw[y1 * w + x1]);
    }
  return out;
}

// The signed map at 28×28 of one method, from run_method's raw map.
std::vector<double> signed_ref(Method m, ScoreKind k, const gradattr::models::Vgg<float>& model, const Tensor<float>& x, std::int64_t cls,
                               std::int64_t steps) {
  const auto a = gradattr::run_method(m, k, model, x, gradattr::Target{cls}, run_options(steps, 0));
  if (a.raw.rank() == 4) {
    std::vector<double> v;
    for (std::int64_t i = 0; i < a.raw.numel(); ++i) v.push_back(a.raw[i]);  // one channel
    return v;
  }
  return upsample_ref(a.raw, a.raw.dim(1), a.raw.dim(2), 28, 28);
}

Tensor<double> unit_ref(const std::vector<double>& s) {
  Tensor<double> t({28, 28});
  double lo = INFINITY, hi = -INFINITY;
  for (double v : s) lo = std::min(lo, std::abs(v)), hi = std::max(hi, std::abs(v));
  for (std::size_t i = 0; i < s.size(); ++i) t[static_cast<std::int64_t>(i)] = hi > lo ? (std::abs(s[i]) - lo) / (hi - lo) : 0.0;
  return t;
}

std::vector<double> absv(std::vector<double> v) {
  for (auto& x : v) x = std::abs(x);
  return v;
}

}  // namespace

TEST_CASE("E8: cascading randomisation replaces exactly the top groups with the trainer's initialisation", "[paper][e8]") {
  const auto& m = shipped();
  const auto groups = e8_groups(m);
  REQUIRE(groups == std::vector<std::string>{"classifier", "features.6", "features.3", "features.0"});
  const auto fresh = gradattr::models::vgg<float>(m.config(), 5);
  for (int d = 0; d <= 4; ++d) {
    const auto r = cascade_randomised(m, d, 5);
    const auto pr = r.parameters(), po = m.parameters(), pf = fresh.parameters();
    REQUIRE(pr.size() == po.size());
    for (std::size_t i = 0; i < pr.size(); ++i) {
      bool random = false;
      for (int g = 0; g < d; ++g) random = random || pr[i].name.rfind(groups[static_cast<std::size_t>(g)] + ".", 0) == 0;
      const auto& want = random ? pf[i].tensor : po[i].tensor;
      INFO(pr[i].name << " depth " << d);
      REQUIRE(pr[i].name == po[i].name);
      CHECK(max_abs_diff(pr[i].tensor, want) == 0.0);
    }
  }
  REQUIRE_THROWS_AS(cascade_randomised(m, 5, 1), gradattr::ArgumentError);
  REQUIRE_THROWS_AS(cascade_randomised(m, -1, 1), gradattr::ArgumentError);
}

TEST_CASE("E8 reduced: Spearman and SSIM to the original equal a direct recomputation; depth 0 is identical", "[paper][e8]") {
  const auto& m = shipped();
  const TestSet ts = two_images();
  const std::vector<Method> methods{Method::GradCam, Method::Saliency};
  constexpr std::int64_t kSteps = 4;
  // depth 0: the same model, identical maps, every measure 1
  {
    const auto same = cascade_randomised(m, 0, 3);
    const auto x = ts.image(0);
    for (Method me : methods)
      for (ScoreKind k : kPolicies) {
        const auto a = gradattr::run_method(me, k, m, x, gradattr::Target{}, run_options(kSteps, 0));
        const auto b = gradattr::run_method(me, k, same, x, gradattr::Target{}, run_options(kSteps, 0));
        REQUIRE(max_abs_diff(a.raw, b.raw) == 0.0);
        const auto mm = e8_measures(e8_signed_map(a, 28, 28), e8_signed_map(b, 28, 28));
        CHECK(mm[0] == Approx(1.0));
        CHECK(mm[1] == Approx(1.0));
        CHECK(mm[2] == Approx(1.0));
      }
  }
  std::vector<E8Model> variants;
  variants.push_back({"depth 1", "cascade", 1, cascade_randomised(m, 1, 7)});
  variants.push_back({"depth 4", "cascade", 4, cascade_randomised(m, 4, 7)});
  variants.push_back({"stand-in data model", "data", 0, gradattr::models::vgg<float>(m.config(), 99)});
  E8Samples smp;
  const auto rows = run_e8(m, variants, ts, methods, kSteps, 0, no_log, &smp);
  REQUIRE(rows.size() == variants.size() * methods.size() * kNP);
  REQUIRE(smp.in.cells.size() == variants.size() * 3 * methods.size());
  REQUIRE(smp.in.saturated.size() == 2);
  std::size_t row = 0;
  for (std::size_t v = 0; v < variants.size(); ++v)
    for (std::size_t mi = 0; mi < methods.size(); ++mi)
      for (std::size_t p = 0; p < kNP; ++p, ++row) {
        double sum[3] = {0, 0, 0};
        int defined[3] = {0, 0, 0};
        for (std::int64_t n = 0; n < 2; ++n) {
          const auto x = ts.image(n);
          const std::int64_t cls = top_class(m.forward(x));
          const auto s0 = signed_ref(methods[mi], kPolicies[p], m, x, cls, kSteps);
          const auto s1 = signed_ref(methods[mi], kPolicies[p], variants[v].model, x, cls, kSteps);
          const double want[3] = {spearman_ref(absv(s0), absv(s1)), spearman_ref(s0, s1), gradattr::metrics::ssim(unit_ref(s0), unit_ref(s1))};
          for (std::size_t k = 0; k < 3; ++k) {
            const double got = smp.in.cells[(v * 3 + k) * methods.size() + mi].v[p][static_cast<std::size_t>(n)];
            INFO(variants[v].name << " " << method_name(methods[mi]) << " " << policy_name(kPolicies[p]) << " measure " << k << " image " << n);
            if (std::isnan(want[k])) {
              CHECK(std::isnan(got));
              continue;
            }
            CHECK(got == Approx(want[k]).margin(1e-4));  // float maps vs the double recomputation
            sum[k] += want[k];
            ++defined[k];
          }
        }
        const auto& r = rows[row];
        CHECK(r.model == variants[v].name);
        CHECK(r.method == method_name(methods[mi]));
        CHECK(r.policy == policy_name(kPolicies[p]));
        for (std::size_t k = 0; k < 3; ++k)
          if (defined[k]) CHECK(r.mean[k] == Approx(sum[k] / defined[k]).margin(1e-4));
      }
  // the report: flags follow the rule, files are written
  const auto dir = std::filesystem::temp_directory_path() / "gradattr-test-e8";
  Values vals;
  e8_report(rows, smp, variants, dir, vals, 0.5);
  CHECK(std::filesystem::exists(dir / "e8_flags.csv"));
  CHECK(std::filesystem::exists(dir / "e8_cmp.csv"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("E9: Sobel and centred Gaussian baselines", "[paper][e9]") {
  Tensor<float> x({1, 1, 5, 6});
  for (std::int64_t i = 0; i < 5; ++i)
    for (std::int64_t j = 3; j < 6; ++j) x[i * 6 + j] = 1.f;  // a vertical step between columns 2 and 3
  const auto s = sobel_magnitude(x);
  for (std::int64_t i = 0; i < 5; ++i) {
    CHECK(s[i * 6 + 0] == 0.f);
    CHECK(s[i * 6 + 2] == 4.f);  // (1 + 2 + 1) − 0
    CHECK(s[i * 6 + 3] == 4.f);
    CHECK(s[i * 6 + 5] == 0.f);
  }
  const auto g = centred_gaussian(28, 28);
  CHECK(g[13 * 28 + 13] == g[14 * 28 + 14]);
  CHECK(g[13 * 28 + 13] > g[0]);
  CHECK(g[0] == Approx(std::exp(-(13.5 * 13.5 * 2) / (2 * 49.0))));
}

TEST_CASE("E9 reduced: ROAD and deletion/insertion equal a direct recomputation; fraction 0 is the clean score", "[paper][e9]") {
  const auto& m = shipped();
  const TestSet ts = two_images();
  E9Options o;
  o.methods = {Method::GradCam};
  o.steps = 4;
  o.seed = 3;
  o.fractions = {0.0, 0.3, 0.7};
  o.curve_steps = 6;
  const E9Result r = run_e9(m, ts, o);
  const std::size_t NM = kNP + 4;
  REQUIRE(r.metric.size() == NM);
  auto y_of = [](const Tensor<float>& z, std::int64_t n, std::int64_t c) {
    double mx = -INFINITY, se = 0;
    for (std::int64_t j = 0; j < z.dim(1); ++j) mx = std::max(mx, static_cast<double>(z(n, j)));
    for (std::int64_t j = 0; j < z.dim(1); ++j) se += std::exp(z(n, j) - mx);
    return std::exp(z(n, c) - mx) / se;
  };
  std::mt19937_64 rng(o.seed ^ 0xE9ull);
  std::uniform_real_distribution<float> U(0.f, 1.f);
  std::vector<std::array<double, 2>> curve0(NM, {0, 0});
  double clean_mean = 0;
  for (std::int64_t n = 0; n < 2; ++n) {
    const auto x = ts.image(n);
    const Tensor<float> z0 = m.forward(x);
    const std::int64_t cls = top_class(z0);
    clean_mean += y_of(z0, 0, cls) / 2;
    for (std::size_t k = 0; k < NM; ++k) {
      std::vector<double> map(784);
      if (k < kNP) {
        const auto d = gradattr::run_method(Method::GradCam, kPolicies[k], m, x, gradattr::Target{cls}, run_options(4, 3)).displayed(28, 28);
        for (int i = 0; i < 784; ++i) map[static_cast<std::size_t>(i)] = d[i];
      } else if (k == kNP) {
        for (auto& v : map) v = U(rng);
      } else if (k == kNP + 1) {
        for (int i = 0; i < 28; ++i)
          for (int j = 0; j < 28; ++j) map[static_cast<std::size_t>(i * 28 + j)] = std::exp(-((i - 13.5) * (i - 13.5) + (j - 13.5) * (j - 13.5)) / 98.0);
      } else if (k == kNP + 2) {
        auto px = [&](int i, int j) { return static_cast<double>(x[std::clamp(i, 0, 27) * 28 + std::clamp(j, 0, 27)]); };
        for (int i = 0; i < 28; ++i)
          for (int j = 0; j < 28; ++j) {
            double gx = 0, gy = 0;
            for (int d = -1; d <= 1; ++d) {
              const double w = d == 0 ? 2 : 1;
              gx += w * (px(i + d, j + 1) - px(i + d, j - 1));
              gy += w * (px(i + 1, j + d) - px(i - 1, j + d));
            }
            map[static_cast<std::size_t>(i * 28 + j)] = std::sqrt(gx * gx + gy * gy);
          }
      } else {
        for (int i = 0; i < 784; ++i) map[static_cast<std::size_t>(i)] = x[i];
      }
      // ROAD: masks by my own ordering, imputation by the library (tested on its equations)
      std::vector<int> desc(784);
      std::iota(desc.begin(), desc.end(), 0);
      std::stable_sort(desc.begin(), desc.end(), [&](int a, int b) { return static_cast<float>(map[static_cast<std::size_t>(a)]) > static_cast<float>(map[static_cast<std::size_t>(b)]); });
      std::vector<int> asc(784);
      std::iota(asc.begin(), asc.end(), 0);
      std::stable_sort(asc.begin(), asc.end(), [&](int a, int b) { return static_cast<float>(map[static_cast<std::size_t>(a)]) < static_cast<float>(map[static_cast<std::size_t>(b)]); });
      double area[2] = {0, 0};
      for (int d = 0; d < 2; ++d)
        for (std::size_t f = 0; f < o.fractions.size(); ++f) {
          Tensor<std::uint8_t> mask({28, 28});
          const auto cnt = static_cast<int>(std::lround(o.fractions[f] * 784));
          for (int i = 0; i < cnt; ++i) mask[(d ? asc : desc)[static_cast<std::size_t>(i)]] = 1;
          const std::uint64_t seed = (o.seed + 1) * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(n) * 1024 + f;
          const auto xi = gradattr::metrics::noisy_linear_impute(x, mask, {.noise = o.noise, .seed = seed});
          const double y = y_of(m.forward(xi), 0, cls);
          area[d] += y / static_cast<double>(o.fractions.size());
          if (f == 0) curve0[k][static_cast<std::size_t>(d)] += y / 2;
        }
      // deletion / insertion of y_c, black baseline, n_s = floor(s P / steps), trapezoid
      double da = 0, ia = 0;
      std::vector<double> dy, iy;
      for (std::int64_t s = 0; s <= o.curve_steps; ++s) {
        const std::int64_t changed = s * 784 / o.curve_steps;
        Tensor<float> xd = x.clone(), xn({1, 1, 28, 28});
        for (std::int64_t i = 0; i < changed; ++i) {
          xd[desc[static_cast<std::size_t>(i)]] = 0.f;
          xn[desc[static_cast<std::size_t>(i)]] = x[desc[static_cast<std::size_t>(i)]];
        }
        dy.push_back(y_of(m.forward(xd), 0, cls));
        iy.push_back(y_of(m.forward(xn), 0, cls));
      }
      for (std::int64_t s = 1; s <= o.curve_steps; ++s) da += 0.5 * (dy[s - 1] + dy[s]) / o.curve_steps, ia += 0.5 * (iy[s - 1] + iy[s]) / o.curve_steps;
      const double want[5] = {area[0], area[1], 0.5 * (area[1] - area[0]), da, ia};
      for (std::size_t q = 0; q < 5; ++q) {
        INFO(r.map_method[k] << " " << r.map_policy[k] << " " << kE9Metrics[q] << " image " << n);
        CHECK(r.metric[k][q][static_cast<std::size_t>(n)] == Approx(want[q]).margin(2e-5));
      }
    }
  }
  for (std::size_t k = 0; k < NM; ++k)
    for (int d = 0; d < 2; ++d) {
      CHECK(r.curve_y[k][static_cast<std::size_t>(d)][0] == Approx(clean_mean).margin(2e-5));  // fraction 0 = no change
      CHECK(r.curve_y[k][static_cast<std::size_t>(d)][0] == Approx(curve0[k][static_cast<std::size_t>(d)]).margin(2e-5));
      CHECK(r.curve_acc[k][static_cast<std::size_t>(d)][0] == 1.0);
    }
  CHECK(r.map_method[kNP + 2] == "sobel");
  const auto dir = std::filesystem::temp_directory_path() / "gradattr-test-e9";
  Values vals;
  e9_report(r, dir, vals);
  CHECK(std::filesystem::exists(dir / "e9_vs_edge.csv"));
  CHECK(std::filesystem::exists(dir / "e9_digest.md"));
  std::filesystem::remove_all(dir);
}
