// Reduced paper experiments (examples/paper/experiments.hpp) as checks: a few images, a few
// methods, K in {10, 1000}. Uses the shipped model when present, else a seeded random model of
// the same shape. Budget: well under a minute on 2 cores.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <limits>

#include "examples/paper/experiments.hpp"

namespace {

using namespace paper;

const std::string kWeights = std::string(GRADATTR_SOURCE_DIR) + "/examples/data/fashion_vgg.safetensors";

const TestSet& test_images() {
  static const TestSet ts = [] {
    if (std::filesystem::exists(std::string(kDefaultData) + "/t10k-images-idx3-ubyte.gz")) return load_test_set(kDefaultData, 4);
    // No dataset: seeded random images in [0, 1].
    TestSet t;
    t.x = Tensor<float>::uninitialized({4, 1, 28, 28});
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(0.f, 1.f);
    for (auto& v : t.x) v = u(rng);
    t.labels = {0, 1, 2, 3};
    return t;
  }();
  return ts;
}

const gradattr::models::Vgg<float>& model() {
  static const auto m = fashion_model<float>(kWeights, 3);
  return m;
}

}  // namespace

TEST_CASE("E1 reduced: Post/Log invariant under the shifted twin, Pre Grad-CAM weights shift by K/Z", "[paper]") {
  E1Options o;
  o.methods = {Method::GradCam, Method::ScoreCam};
  o.ks = {10, 1000};
  o.figure = false;
  auto rows = run_e1(model(), "fashion", test_images().x, o);
  std::erase_if(rows, [](const E1Row& r) { return r.images != "all"; });
  REQUIRE(rows.size() == 2 * 2 * 3);
  const double eps = std::numeric_limits<float>::epsilon();
  for (const auto& r : rows) {
    INFO(r.method << " " << r.policy << " K=" << r.k << " rel diff " << r.max_rel_diff_raw << " weight err "
                  << r.weight_shift_error << " abs " << r.weight_abs_diff << " spread " << r.weight_diff_spread
                  << " max|w| " << r.weight_max << " max|t| " << r.max_logit_shift);
    if (r.method == "scorecam" && r.policy != "pre") {
      // No gradient: only the rounding of z + t (at the scale of |t|) separates the twins.
      CHECK(r.max_rel_diff_raw <= 1e-4 + 64 * eps * r.max_logit_shift);
      CHECK(r.spearman_raw_min > 0.999);
    }
    if (r.method == "gradcam" && r.policy != "pre") {
      // Post/Log: ∂t/∂A enters multiplied by Σ_j seed_j, zero in exact arithmetic and a few ε in
      // float (docs/report.md, E1): the weights move by a channel-uniform offset of at most
      // ~ε·K/Z, plus the rounding of z + t relative to w.
      CHECK(r.weight_abs_diff <= 4 * eps * r.z_over_k + 64 * eps * r.max_logit_shift * r.weight_max);
      CHECK(r.weight_diff_spread <= 1e-3 * r.weight_abs_diff + 64 * eps * r.max_logit_shift * r.weight_max);
    }
    if (r.method == "gradcam" && r.policy == "pre") {
      // w'_k − w_k = K/Z for every channel, to float rounding of the 49-term sums.
      CHECK(r.weight_shift_error <= 1e-4);
      CHECK(r.max_rel_diff_raw > 0);
    }
  }
}

TEST_CASE("E2 reduced: the information-gain identity to working precision", "[paper]") {
  const auto md = fashion_model<double>(kWeights, 3);
  const E2Row f = run_e2(model(), "float", test_images().x);
  const E2Row d = run_e2(md, "double", test_images().x);
  INFO("float " << f.max_rel_error << " / " << f.saliency_max_rel_error << ", double " << d.max_rel_error << " / "
                << d.saliency_max_rel_error);
  CHECK(f.max_rel_error < 1e-5);
  CHECK(f.saliency_max_rel_error < 1e-5);
  CHECK(d.max_rel_error < 1e-12);
  CHECK(d.saliency_max_rel_error < 1e-12);
}

TEST_CASE("E3 reduced: 1 - y_c in [0, 1], the histogram counts every image", "[paper]") {
  const auto md = fashion_model<double>(kWeights, 3);
  const E3Saturation s = measure_saturation(model(), md, test_images());
  REQUIRE(s.classes.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(s.one_minus_yc_double[i] >= 0);
    CHECK(s.one_minus_yc_double[i] <= 1);
    CHECK(std::abs(s.one_minus_yc_float[i] - s.one_minus_yc_double[i]) < 1e-6);
  }
  std::int64_t total = 0;
  const Table hist = e3_histogram(s);  // (a named table: rows() of a temporary would dangle)
  for (const auto& r : hist.rows()) total += std::stoll(r[1]);
  CHECK(total == 4);
  E3Options o;
  o.methods = {Method::GradCam};
  o.per_group = 1;
  const auto rows = run_e3_maps(model(), md, test_images(), s, o);
  REQUIRE(rows.size() == 2 * 3);
  for (const auto& r : rows)
    if (r.group == "unsaturated" && r.n > 0 && r.policy == "pre") CHECK(r.spearman_to_double > 0.99);
}

TEST_CASE("E4 reduced: a model agrees with itself, Spearman 1", "[paper]") {
  std::vector<gradattr::models::Vgg<float>> ms{model(), model()};
  TestSet two;
  two.x = test_images().batch(0, 2);
  two.labels = {test_images().labels[0], test_images().labels[1]};
  const auto rows = run_e4(ms, two, {Method::GradCam}, 8, 0);
  REQUIRE(rows.size() == 3);
  for (const auto& r : rows) {
    if (r.undefined == 0) CHECK(r.spearman_mean == Approx(1.0).margin(1e-12));
    CHECK(r.iou10_mean == Approx(1.0));
  }
}

TEST_CASE("E5/E6 reduced: AUCs and agreements are in range", "[paper]") {
  TestSet two;
  two.x = test_images().batch(0, 2);
  two.labels = {test_images().labels[0], test_images().labels[1]};
  const auto rows = run_e5(model(), two, {Method::GradCam}, 8, 8, 0);
  REQUIRE(rows.size() == 9 + 3);  // 3 × 3 for Grad-CAM, 3 for the random map
  for (const auto& r : rows) {
    CHECK(std::isfinite(r.deletion_auc));
    CHECK(std::isfinite(r.insertion_auc));
    if (r.evaluation_policy == "post") {
      CHECK(r.deletion_auc >= 0);
      CHECK(r.deletion_auc <= 1);
      CHECK(r.insertion_auc >= 0);
      CHECK(r.insertion_auc <= 1);
    }
  }
  const auto six = run_e6(model(), two);
  REQUIRE(six.size() == 4 * 3);
  for (const auto& r : six) {
    CHECK(r.iou10 >= 0);
    CHECK(r.iou10 <= 1);
    if (r.undefined < r.n) {
      CHECK(r.spearman_displayed >= -1);
      CHECK(r.spearman_displayed <= 1);
    }
  }
}
