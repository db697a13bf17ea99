// gradattr::sweep::compute_row (include/gradattr/sweep/compute.hpp): the curves' AUCs under several
// evaluation score spaces equal metrics::perturbation_curve called directly; the random-map
// reference row (seeded per image, so every shard draws the same map); errors become the row's.
#include <catch2/catch.hpp>

#include <cmath>
#include <set>
#include <string>

#include "gradattr/models/vgg.hpp"
#include "gradattr/sweep/compute.hpp"

namespace sw = gradattr::sweep;
using gradattr::Tensor;
using gradattr::score::ScoreKind;

namespace {

const gradattr::models::Vgg<float>& small_vgg() {
  static const auto m =
      gradattr::models::vgg<float>(11, gradattr::models::VggOptions{.width_scale = 1.0 / 32, .hidden = {8, 8}, .num_classes = 6, .seed = 3});
  return m;
}

Tensor<float> image(std::uint32_t seed) {
  Tensor<float> x(gradattr::Shape{1, 3, 32, 32});
  std::uint32_t s = seed;
  for (auto& v : x) v = static_cast<float>((s = s * 1664525u + 1013904223u) >> 8) / static_cast<float>(1u << 24);
  return x;
}

sw::ComputeOptions curves(std::vector<ScoreKind> spaces) {
  sw::ComputeOptions o;
  o.run.layer = "features.19";
  o.metrics = {gradattr::metrics::Perturbation::Deletion, gradattr::metrics::Perturbation::Insertion};
  o.metric_steps = 5;
  o.metric_batch = 4;
  o.metric_scores = std::move(spaces);
  return o;
}

double auc_of(const sw::ResultRow& r, const std::string& metric, const std::string& eval) {
  for (const auto& a : r.aucs)
    if (a.metric == metric && a.evaluation == eval) return a.auc;
  FAIL("no " << metric << " AUC under " << eval);
  return 0;
}

}  // namespace

TEST_CASE("compute_row: each metric under each evaluation space, equal to perturbation_curve", "[sweep]") {
  const auto x = image(1);
  const auto o = curves({ScoreKind::Pre, ScoreKind::Post, ScoreKind::LogSoftmax});
  const sw::Job job{gradattr::Method::GradCam, "", ScoreKind::Post};
  const auto row = sw::compute_row(small_vgg(), x, job, gradattr::Target{}, o, 0);
  REQUIRE(row.error.empty());
  REQUIRE(row.aucs.size() == 6);
  // the map the curves order pixels by: the method's displayed map at the input's size
  const auto shown = gradattr::run_method(job.method, job.score, small_vgg(), x, gradattr::Target{}, o.run).displayed(32, 32);
  gradattr::metrics::PerturbationOptions<float> po;
  po.steps = 5;
  po.batch_size = 4;
  for (auto kind : o.metrics)
    for (auto eval : o.metric_scores) {
      const std::string m(gradattr::metrics::to_string(kind)), e(gradattr::score::to_string(eval));
      INFO(m << " under " << e);
      const auto direct = gradattr::metrics::perturbation_curve(eval, small_vgg(), kind, x, shown, gradattr::Target::all(*row.cls), po);
      CHECK(auc_of(row, m, e) == direct.auc);
    }
  // the row's deletion/insertion are the first evaluation space's (Pre here: not y_c)
  CHECK(*row.deletion == auc_of(row, "deletion", "pre"));
  CHECK(*row.insertion == auc_of(row, "insertion", "pre"));
  CHECK(auc_of(row, "deletion", "pre") != auc_of(row, "deletion", "post"));
}

TEST_CASE("random_map: seeded by (seed, image), uniform in [0, 1)", "[sweep]") {
  const auto a = sw::random_map(7, 3, 5, 6), b = sw::random_map(7, 3, 5, 6);
  REQUIRE(a.shape() == gradattr::Shape{1, 5, 6});
  CHECK(std::equal(a.begin(), a.end(), b.begin()));  // the same on every shard and rank
  const auto other_image = sw::random_map(7, 4, 5, 6), other_seed = sw::random_map(8, 3, 5, 6);
  CHECK(!std::equal(a.begin(), a.end(), other_image.begin()));
  CHECK(!std::equal(a.begin(), a.end(), other_seed.begin()));
  double sum = 0;
  std::set<float> distinct;
  const auto big = sw::random_map(0, 0, 100, 100);
  for (float v : big) {
    CHECK((v >= 0.f && v < 1.f));
    sum += v;
    distinct.insert(v);
  }
  CHECK(sum / 1e4 == Approx(0.5).margin(0.02));  // 10^4 draws: the mean's sd is 0.003
  CHECK(distinct.size() > 9900);
}

TEST_CASE("compute_row: the random-map row, keyed (random, \"\", none), its curves on the seeded map", "[sweep]") {
  const auto x = image(2);
  auto o = curves({ScoreKind::Post});
  o.save_maps = true;
  o.run.seed = 11;
  sw::Job job{gradattr::Method::GradCam, "", ScoreKind::Pre, true};
  const auto row = sw::compute_row(small_vgg(), x, job, gradattr::Target{}, o, 5);
  REQUIRE(row.error.empty());
  CHECK(row.method == "random");
  CHECK(row.variant.empty());
  CHECK(row.score == "none");
  CHECK(sw::job_key(job) == std::tuple<std::string, std::string, std::string>{"random", "", "none"});
  // the class is the top class; y_c its softmax probability
  const auto z = small_vgg().forward(x);
  std::int64_t top = 0;
  double denom = 0;
  for (std::int64_t j = 0; j < 6; ++j) {
    if (z(0, j) > z(0, top)) top = j;
  }
  for (std::int64_t j = 0; j < 6; ++j) denom += std::exp(static_cast<double>(z(0, j)) - z(0, top));
  CHECK(*row.cls == top);
  CHECK(*row.y_c == Approx(1.0 / denom).epsilon(1e-6));
  CHECK(!row.s.has_value());
  const auto map = sw::random_map(11, 5, 32, 32);
  REQUIRE(row.map.size() == 32u * 32u);
  CHECK(std::equal(row.map.begin(), row.map.end(), map.begin()));
  CHECK(row.map_shape == std::vector<std::int64_t>{32, 32});
  gradattr::metrics::PerturbationOptions<float> po;
  po.steps = 5;
  po.batch_size = 4;
  const auto direct = gradattr::metrics::perturbation_curve(ScoreKind::Post, small_vgg(), gradattr::metrics::Perturbation::Deletion, x, map,
                                                            gradattr::Target::all(top), po);
  CHECK(*row.deletion == direct.auc);
}

TEST_CASE("compute_row: a bad class or a non-finite input is the row's error, the key kept", "[sweep]") {
  const auto o = curves({ScoreKind::Post, ScoreKind::Pre});
  for (bool random : {false, true}) {
    INFO((random ? "random map" : "gradcam"));
    const sw::Job job{gradattr::Method::GradCam, "", ScoreKind::Post, random};
    const auto bad_class = sw::compute_row(small_vgg(), image(3), job, gradattr::Target::all(6), o, 0);
    CHECK(bad_class.error.find("6") != std::string::npos);
    CHECK(bad_class.aucs.empty());
    CHECK(!bad_class.y_c.has_value());
    CHECK(bad_class.method == (random ? "random" : "gradcam"));
    auto nan = image(3);
    nan[17] = std::nanf("");
    const auto bad_input = sw::compute_row(small_vgg(), nan, job, gradattr::Target{}, o, 0);
    CHECK(!bad_input.error.empty());
    CHECK(bad_input.aucs.empty());
  }
}
