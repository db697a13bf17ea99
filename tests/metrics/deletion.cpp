// Deletion / insertion curves (metrics/deletion.hpp) on a linear model, where every point of the
// curve is known: z = W·vec(x) + b, so under Pre removing pixel p (baseline 0) lowers z_c by its
// contribution Σ_ch W[c, ch·HW + p]·x[ch, p] exactly.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "gradattr/metrics/deletion.hpp"
#include "gradattr/nn/sequential.hpp"
#include "support/testing.hpp"

using namespace gradattr;
using namespace gradattr::metrics;

namespace {

constexpr std::int64_t kC = 2, kH = 4, kW = 5, kP = kH * kW, kClasses = 3;

// flatten -> fc: a Classifier whose logits are linear in x.
nn::Sequential<double> linear_model() {
  nn::Sequential<double> m;
  m.add("flatten", nn::Flatten<double>{});
  m.add("fc", nn::Linear<double>(testing::random_tensor<double>({kClasses, kC * kP}, 11), testing::random_tensor<double>({kClasses}, 12)));
  return m;
}

// contribution[p] = Σ_ch W[c, ch·P + p] x[ch, p]: the Pre score lost when pixel p is zeroed.
Tensor<double> contributions(const nn::Sequential<double>& m, const Tensor<double>& x, std::int64_t c) {
  const auto& w = std::get<nn::Linear<double>>(m.layer("fc")).weight();
  Tensor<double> out({kH, kW});
  for (std::int64_t p = 0; p < kP; ++p)
    for (std::int64_t ch = 0; ch < kC; ++ch) out[p] += w(c, ch * kP + p) * x[ch * kP + p];
  return out;
}

Tensor<double> negated(const Tensor<double>& t) {
  Tensor<double> r = t.clone();
  for (auto& v : r) v = -v;
  return r;
}

}  // namespace

TEST_CASE("pixel_order: decreasing, ties broken by index; trapezoid AUC", "[metrics][deletion]") {
  const Tensor<float> map({2, 3}, {0.5f, 1.0f, 0.5f, -1.0f, 1.0f, 0.5f});
  REQUIRE(pixel_order(map) == std::vector<std::int64_t>{1, 4, 0, 2, 5, 3});
  REQUIRE(pixel_order(Tensor<float>({2, 2})) == std::vector<std::int64_t>{0, 1, 2, 3});  // constant: index order
  REQUIRE_THROWS_AS(pixel_order(Tensor<float>({1, 2}, {1.0f, NAN})), ArgumentError);
  REQUIRE(trapezoid_auc({1.0, 0.0}) == 0.5);
  REQUIRE(trapezoid_auc({1.0, 1.0, 1.0, 1.0}) == 1.0);
  REQUIRE(trapezoid_auc({0.0, 1.0, 0.0}) == 0.5);
  REQUIRE(trapezoid_auc({3.0}) == 0.0);
}

TEST_CASE("Deletion on a linear model: every point exact, perfect order falls fastest", "[metrics][deletion]") {
  const auto m = linear_model();
  const auto x = testing::random_tensor<double>({1, kC, kH, kW}, 3);
  const std::int64_t c = 1;
  const auto contrib = contributions(m, x, c);
  const double z_c = m.forward(x)(0, c);

  const auto perfect = deletion_curve<Pre>(m, x, contrib, Target(c), {.steps = kP, .batch_size = 7, .explanation_policy = "pre"});
  REQUIRE(perfect.kind == Perturbation::Deletion);
  REQUIRE(perfect.evaluation_policy == "pre");
  REQUIRE(perfect.explanation_policy == "pre");
  REQUIRE(perfect.cls == c);
  REQUIRE(perfect.scores.size() == kP + 1);
  REQUIRE(perfect.pixels_changed.front() == 0);
  REQUIRE(perfect.pixels_changed.back() == kP);
  // scores[s] = z_c − Σ of the s largest contributions
  const auto order = pixel_order(contrib);
  double expect = z_c;
  for (std::int64_t s = 0; s <= kP; ++s) {
    if (s > 0) expect -= contrib[order[static_cast<std::size_t>(s - 1)]];
    REQUIRE(perfect.scores[static_cast<std::size_t>(s)] == Approx(expect).margin(1e-12));
  }
  // the perfect ordering's curve lies below every other ordering's at every step, so its area
  // is the smallest; the reversed ordering gives the largest
  const auto reversed = deletion_curve<Pre>(m, x, negated(contrib), Target(c), {.steps = kP});
  const auto by_index = deletion_curve<Pre>(m, x, Tensor<double>({kH, kW}), Target(c), {.steps = kP});
  for (std::size_t s = 0; s < perfect.scores.size(); ++s) {
    REQUIRE(perfect.scores[s] <= by_index.scores[s] + 1e-12);
    REQUIRE(by_index.scores[s] <= reversed.scores[s] + 1e-12);
  }
  REQUIRE(perfect.auc < by_index.auc);
  REQUIRE(by_index.auc < reversed.auc);
  // every deletion ends at the all-baseline image: the same last point
  REQUIRE(perfect.scores.back() == Approx(reversed.scores.back()));
  REQUIRE(perfect.scores.back() == Approx(m.forward(Tensor<double>({1, kC, kH, kW}))(0, c)));
}

TEST_CASE("Insertion on a linear model: perfect order rises fastest; custom baselines", "[metrics][deletion]") {
  const auto m = linear_model();
  const auto x = testing::random_tensor<double>({1, kC, kH, kW}, 5);
  const std::int64_t c = 2;
  const auto contrib = contributions(m, x, c);
  const auto perfect = insertion_curve<Pre>(m, x, contrib, Target(c), {.steps = kP});
  const auto reversed = insertion_curve<Pre>(m, x, negated(contrib), Target(c), {.steps = kP});
  REQUIRE(perfect.kind == Perturbation::Insertion);
  REQUIRE(perfect.auc > reversed.auc);
  REQUIRE(perfect.scores.front() == Approx(m.forward(Tensor<double>({1, kC, kH, kW}))(0, c)));  // the baseline
  REQUIRE(perfect.scores.back() == Approx(m.forward(x)(0, c)));                                 // x itself
  // deletion and insertion with the same order are mirror images on a linear model:
  // del[s] + ins[s] = z(x) + z(baseline)
  const auto del = deletion_curve<Pre>(m, x, contrib, Target(c), {.steps = kP});
  for (std::size_t s = 0; s < del.scores.size(); ++s)
    REQUIRE(del.scores[s] + perfect.scores[s] == Approx(perfect.scores.back() + perfect.scores.front()));

  // a constant baseline value and the equal explicit baseline tensor give the same curve
  const auto v = deletion_curve<Pre>(m, x, contrib, Target(c), {.steps = 6, .baseline_value = 0.25});
  const auto t = deletion_curve<Pre>(m, x, contrib, Target(c), {.steps = 6, .baseline = Tensor<double>({1, kC, kH, kW}, 0.25)});
  REQUIRE(v.scores == t.scores);
  // a blurred copy as the insertion baseline: the curve starts at the blurred image's score
  const auto blurred = gaussian_blur(x, 1.0);
  const auto b = insertion_curve<Pre>(m, x, contrib, Target(c), {.steps = 4, .baseline = blurred});
  REQUIRE(b.scores.front() == Approx(m.forward(blurred)(0, c)));
  REQUIRE(b.scores.back() == Approx(m.forward(x)(0, c)));
}

TEST_CASE("Perturbation curves: steps, batching, progress, evaluation policies, defaults", "[metrics][deletion]") {
  const auto m = linear_model();
  const auto x = testing::random_tensor<double>({1, kC, kH, kW}, 7);
  const auto map = testing::random_tensor<double>({kH, kW}, 8);
  // fewer steps than pixels: n_s = ⌊s·P/steps⌋
  const auto r = deletion_curve<Post>(m, x, map, {}, {.steps = 3});
  REQUIRE(r.pixels_changed == std::vector<std::int64_t>{0, 6, 13, 20});
  REQUIRE(r.evaluation_policy == "post");
  // the default target is the top class of the clean image
  const auto z = m.forward(x);
  std::int64_t top = 0;
  for (std::int64_t j = 1; j < kClasses; ++j)
    if (z(0, j) > z(0, top)) top = j;
  REQUIRE(r.cls == top);
  // batching does not change the curve (bitwise: rows of a linear layer are independent)
  std::vector<std::pair<std::size_t, std::size_t>> calls;
  const auto one = deletion_curve<LogSoftmax>(m, x, map, {}, {.steps = 9, .batch_size = 1});
  const auto four = deletion_curve<LogSoftmax>(m, x, map, {},
                                               {.steps = 9, .batch_size = 4, .progress = [&](std::size_t d, std::size_t t) {
                                                  calls.emplace_back(d, t);
                                                }});
  for (std::size_t s = 0; s < one.scores.size(); ++s) REQUIRE(one.scores[s] == Approx(four.scores[s]).epsilon(1e-14));
  REQUIRE(calls == std::vector<std::pair<std::size_t, std::size_t>>{{4, 10}, {8, 10}, {10, 10}});
  // Post = exp(LogSoftmax) point by point; Pre = the logit
  const auto post = deletion_curve<Post>(m, x, map, {}, {.steps = 9});
  for (std::size_t s = 0; s < post.scores.size(); ++s) REQUIRE(post.scores[s] == Approx(std::exp(one.scores[s])));
  // runtime policy choice = the template
  const auto rt = perturbation_curve(ScoreKind::LogSoftmax, m, Perturbation::Deletion, x, map, {}, {.steps = 9});
  REQUIRE(rt.evaluation_policy == "log");
  REQUIRE(rt.scores == one.scores);
  // map shapes [H, W], [1, H, W], [1, 1, H, W] are the same
  const auto r3 = deletion_curve<Post>(m, x, map.reshape({1, kH, kW}), {}, {.steps = 3});
  const auto r4 = deletion_curve<Post>(m, x, map.reshape({1, 1, kH, kW}), {}, {.steps = 3});
  REQUIRE(r3.scores == r.scores);
  REQUIRE(r4.scores == r.scores);
}

TEST_CASE("Perturbation curves: errors", "[metrics][deletion]") {
  const auto m = linear_model();
  const auto x = testing::random_tensor<double>({1, kC, kH, kW}, 7);
  const auto map = testing::random_tensor<double>({kH, kW}, 8);
  REQUIRE_THROWS_AS(deletion_curve<Pre>(m, x, Tensor<double>({kH, kW + 1})), ShapeError);
  REQUIRE_THROWS_AS(deletion_curve<Pre>(m, testing::random_tensor<double>({2, kC, kH, kW}, 1), map), ShapeError);
  REQUIRE_THROWS_AS(deletion_curve<Pre>(m, x, map, {}, {.steps = 0}), ArgumentError);
  REQUIRE_THROWS_AS(deletion_curve<Pre>(m, x, map, {}, {.batch_size = 0}), ArgumentError);
  REQUIRE_THROWS_AS(deletion_curve<Pre>(m, x, map, Target(kClasses)), ArgumentError);
  REQUIRE_THROWS_AS(deletion_curve<Pre>(m, x, map, {}, {.baseline = Tensor<double>({1, kC, kH, 1})}), ShapeError);
  Tensor<double> bad = map.clone();
  bad[3] = NAN;
  REQUIRE_THROWS_AS(insertion_curve<Pre>(m, x, bad), ArgumentError);
}

TEST_CASE("gaussian_blur: constant images stay constant, mass is kept away from edges, sigma 0 copies",
          "[metrics][deletion]") {
  const Tensor<float> c({1, 2, 6, 7}, 0.75f);
  const auto bc = gaussian_blur(c, 1.5);
  for (auto v : bc) REQUIRE(v == Approx(0.75f));
  Tensor<double> d({1, 1, 15, 15});
  d(0, 0, 7, 7) = 1.0;
  const auto bd = gaussian_blur(d, 1.0);
  double sum = 0;
  for (auto v : bd) sum += v;
  REQUIRE(sum == Approx(1.0));
  REQUIRE(bd(0, 0, 7, 7) > bd(0, 0, 7, 8));
  REQUIRE(bd(0, 0, 7, 8) == Approx(bd(0, 0, 8, 7)));  // separable and symmetric
  const auto copy = gaussian_blur(d, 0.0);
  REQUIRE(copy(0, 0, 7, 7) == 1.0);
  REQUIRE_THROWS_AS(gaussian_blur(d, -1.0), ArgumentError);
}
