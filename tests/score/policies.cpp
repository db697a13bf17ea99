// Score policies (METHODS.md §1): hand-computed values, Post = y_c · LogSoftmax at the seed,
// shift invariance, stability at ±1e30 and with equal logits, batch independence.
#include "gradattr/score/evaluate.hpp"
#include "gradattr/score/policies.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "support/testing.hpp"

using namespace gradattr;
using gradattr::testing::random_tensor;

namespace {
std::vector<std::int64_t> cls(std::initializer_list<std::int64_t> c) { return c; }

// A user-defined policy with state: S = β z_c (a temperature-like scale).
struct Scaled {
  static constexpr std::string_view name = "scaled";
  static constexpr bool shift_invariant = false;
  double beta = 2;
  template <class T>
  Tensor<T> score(const Tensor<T>& z, score::Classes c) const {
    auto s = Pre::score(z, c);
    for (auto& v : s) v = static_cast<T>(beta * v);
    return s;
  }
  template <class T>
  Tensor<T> seed(const Tensor<T>& z, score::Classes c) const {
    auto d = Pre::seed(z, c);
    for (auto& v : d) v = static_cast<T>(beta * v);
    return d;
  }
};
struct NoSeed {
  static constexpr std::string_view name = "noseed";
  static constexpr bool shift_invariant = false;
  template <class T>
  Tensor<T> score(const Tensor<T>& z, score::Classes c) const { return Pre::score(z, c); }
};
}  // namespace

TEST_CASE("the concept accepts stateful user policies and rejects incomplete ones", "[score]") {
  STATIC_REQUIRE(ScoreSpace<Pre>);
  STATIC_REQUIRE(ScoreSpace<Post>);
  STATIC_REQUIRE(ScoreSpace<LogSoftmax>);
  STATIC_REQUIRE(ScoreSpace<Contrast>);
  STATIC_REQUIRE(ScoreSpace<Centered>);
  STATIC_REQUIRE(ScoreSpace<Scaled>);
  STATIC_REQUIRE_FALSE(ScoreSpace<NoSeed>);
  STATIC_REQUIRE_FALSE(ScoreSpace<int>);
  STATIC_REQUIRE(Pre::name == "pre");
  STATIC_REQUIRE(Post::name == "post");
  STATIC_REQUIRE(LogSoftmax::name == "log");
  STATIC_REQUIRE(Contrast::name == "contrast");
  STATIC_REQUIRE(Centered::name == "centered");
  STATIC_REQUIRE(!Pre::shift_invariant);
  STATIC_REQUIRE(Post::shift_invariant && LogSoftmax::shift_invariant && Contrast::shift_invariant &&
                 Centered::shift_invariant);
  // Reachable as gradattr::Pre and gradattr::score::Pre alike.
  STATIC_REQUIRE(std::is_same_v<gradattr::Pre, gradattr::score::Pre>);
}

TEST_CASE("hand-computed scores and seeds for z = (1, 2, 3), c = 2", "[score]") {
  const Tensor<double> z({1, 3}, {1, 2, 3});
  const auto c = cls({2});
  const double e1 = std::exp(1.0), e2 = std::exp(2.0), e3 = std::exp(3.0), sum = e1 + e2 + e3;
  const double y[3] = {e1 / sum, e2 / sum, e3 / sum};

  REQUIRE(Pre::score(z, c)[0] == 3.0);
  REQUIRE_CLOSE(Pre::seed(z, c), Tensor<double>({1, 3}, {0, 0, 1}), 0, 0);

  REQUIRE(LogSoftmax::score(z, c)[0] == Approx(std::log(y[2])).epsilon(1e-14));
  REQUIRE_CLOSE(LogSoftmax::seed(z, c), Tensor<double>({1, 3}, {-y[0], -y[1], 1 - y[2]}), 1e-15, 1e-14);

  REQUIRE(Post::score(z, c)[0] == Approx(y[2]).epsilon(1e-14));
  REQUIRE_CLOSE(Post::seed(z, c), Tensor<double>({1, 3}, {-y[2] * y[0], -y[2] * y[1], y[2] * (1 - y[2])}), 1e-15,
                1e-14);

  const Contrast con(0);
  REQUIRE(con.score(z, c)[0] == 2.0);
  REQUIRE_CLOSE(con.seed(z, c), Tensor<double>({1, 3}, {-1, 0, 1}), 0, 0);
  REQUIRE(Contrast(2).score(z, c)[0] == 0.0);
  REQUIRE_CLOSE(Contrast(2).seed(z, c), Tensor<double>({1, 3}, {0, 0, 0}), 0, 0);
}

TEMPLATE_TEST_CASE("Post's seed is y_c times LogSoftmax's seed, exactly", "[score]", float, double) {
  const auto z = random_tensor<TestType>({5, 10}, 11, -6, 6);
  const auto c = cls({0, 3, 9, 9, 4});
  const auto post = Post::seed(z, c), log = LogSoftmax::seed(z, c);
  const auto yc = Post::score(z, c);
  for (std::int64_t n = 0; n < 5; ++n)
    for (std::int64_t j = 0; j < 10; ++j) REQUIRE(post(n, j) == yc[n] * log(n, j));
}

TEMPLATE_TEST_CASE("shift-invariant seeds sum to zero over classes and ignore z + t", "[score]", float, double) {
  const auto z = random_tensor<TestType>({4, 7}, 5, -3, 3);
  const auto c = cls({1, 6, 0, 2});
  auto zs = z.clone();
  for (auto& v : zs) v += TestType(9.5);
  const double tol = std::is_same_v<TestType, float> ? 5e-6 : 1e-13;

  // Pre's seed is e_c whatever the shift; the difference for Pre comes downstream, from ∂t/∂u
  // when t is built by the network, which these seeds cancel (their rows sum to zero) and Pre's
  // does not.
  REQUIRE_CLOSE(Pre::seed(zs, c), Pre::seed(z, c), 0, 0);
  REQUIRE_CLOSE(LogSoftmax::seed(zs, c), LogSoftmax::seed(z, c), tol, 0);
  REQUIRE_CLOSE(Post::seed(zs, c), Post::seed(z, c), tol, 0);
  REQUIRE_CLOSE(Post::score(zs, c), Post::score(z, c), tol, 0);
  REQUIRE_CLOSE(LogSoftmax::score(zs, c), LogSoftmax::score(z, c), tol, 0);
  REQUIRE_CLOSE(Contrast(3).seed(zs, c), Contrast(3).seed(z, c), 0, 0);
  REQUIRE_CLOSE(Centered::seed(zs, c), Centered::seed(z, c), 0, 0);
  REQUIRE_CLOSE(Centered::score(zs, c), Centered::score(z, c), tol, 0);
  for (const auto& d : {Post::seed(z, c), LogSoftmax::seed(z, c), Contrast(3).seed(z, c), Centered::seed(z, c)})
    for (std::int64_t n = 0; n < 4; ++n) {
      double s = 0;
      for (std::int64_t j = 0; j < 7; ++j) s += d(n, j);
      REQUIRE(std::abs(s) < tol);
    }
  double pre_sum = 0;
  for (auto v : Pre::seed(z, c)) pre_sum += v;
  REQUIRE(pre_sum == 4.0);
}

TEMPLATE_TEST_CASE("stable for logits of ±1e30 and for equal logits", "[score]", float, double) {
  using T = TestType;
  const Tensor<T> z({2, 3}, {T(1e30), T(-1e30), T(0), T(-1e30), T(-1e30), T(1e30)});
  const auto c = cls({0, 1});
  const auto post = Post::score(z, c), log = LogSoftmax::score(z, c);
  REQUIRE(post[0] == T(1));
  REQUIRE(post[1] == T(0));
  REQUIRE(log[0] == T(0));
  REQUIRE(log[1] == T(-2e30));
  for (const auto& d : {Post::seed(z, c), LogSoftmax::seed(z, c)})
    for (auto v : d) REQUIRE(std::isfinite(v));
  // Saturated row 0: both seeds vanish; row 1 (y_c = 0): LogSoftmax's seed is e_c − e_2.
  REQUIRE_CLOSE(LogSoftmax::seed(z, c), Tensor<T>({2, 3}, {0, 0, 0, 0, 1, -1}), 0, 0);
  REQUIRE_CLOSE(Post::seed(z, c), Tensor<T>({2, 3}, {0, 0, 0, 0, 0, 0}), 0, 0);

  const Tensor<T> eq({1, 4}, {T(5), T(5), T(5), T(5)});
  REQUIRE(Post::score(eq, cls({3}))[0] == Approx(0.25).epsilon(1e-6));
  REQUIRE(LogSoftmax::score(eq, cls({3}))[0] == Approx(-std::log(4.0)).epsilon(1e-6));
  REQUIRE_CLOSE(LogSoftmax::seed(eq, cls({3})), Tensor<T>({1, 4}, {-0.25, -0.25, -0.25, 0.75}), 1e-7, 0);
  REQUIRE_CLOSE(Post::seed(eq, cls({3})), Tensor<T>({1, 4}, {-0.0625, -0.0625, -0.0625, 0.1875}), 1e-7, 0);
}

// Centered (METHODS §1): S = z_c − (1/n) Σ_j z_j, seed e_c − 1/n, by hand for z = (1, 2, 3, 6).
TEMPLATE_TEST_CASE("hand-computed Centered score and seed", "[score]", float, double) {
  using T = TestType;
  const Tensor<T> z({2, 4}, {1, 2, 3, 6, -1, -1, -1, -1});
  const auto c = cls({1, 3});
  REQUIRE_CLOSE(Centered::score(z, c), Tensor<T>({2}, {2 - 3, 0}), 0, 0);
  REQUIRE_CLOSE(Centered::seed(z, c), Tensor<T>({2, 4}, {-0.25, 0.75, -0.25, -0.25, -0.25, -0.25, -0.25, 0.75}), 0, 0);
  // Never saturating: the seed of a row with y_c = 1 in float is the same e_c − 1/n.
  const Tensor<T> sat({1, 4}, {T(1e30), 0, 0, 0});
  REQUIRE_CLOSE(Centered::seed(sat, cls({0})), Tensor<T>({1, 4}, {0.75, -0.25, -0.25, -0.25}), 0, 0);
  REQUIRE_THROWS_AS(Centered::score(z, cls({0, 4})), ArgumentError);
  REQUIRE_THROWS_AS(Centered::seed(z, cls({0})), ShapeError);
}

// d_c is 1 − fl(1/n), one rounding, as a one-hot minus 1/n gives it: for n = 10 in float that is
// 0.9f, while summing the nine other entries' fl(0.1) gives 0.90000004f.
TEMPLATE_TEST_CASE("Centered's seed at the class is one minus the rounded 1/n", "[score]", float, double) {
  using T = TestType;
  const auto z = random_tensor<T>({2, 10}, 5, -3, 3);
  const auto d = Centered::seed(z, cls({3, 9}));
  const T inv = static_cast<T>(1.0 / 10.0);
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t j = 0; j < 10; ++j) REQUIRE(d(n, j) == ((n == 0 && j == 3) || (n == 1 && j == 9) ? T(1) - inv : -inv));
}

// The seed is ∂S/∂z: central differences of the score in double.
TEST_CASE("Centered's seed is the gradient of its score", "[score]") {
  const auto z = random_tensor<double>({3, 5}, 21, -4, 4);
  const auto c = cls({4, 0, 2});
  const auto d = Centered::seed(z, c);
  const double h = 1e-6;
  for (std::int64_t i = 0; i < z.numel(); ++i) {
    auto zp = z.clone(), zm = z.clone();
    zp[i] += h;
    zm[i] -= h;
    const auto sp = Centered::score(zp, c), sm = Centered::score(zm, c);
    const std::int64_t n = i / 5;
    REQUIRE(d[i] == Approx((sp[n] - sm[n]) / (2 * h)).margin(1e-9));
  }
}

TEST_CASE("each row of a batch is scored as if alone", "[score]") {
  const auto z = random_tensor<float>({3, 6}, 3, -4, 4);
  const auto c = cls({5, 0, 2});
  const auto post = Post::seed(z, c), log = LogSoftmax::score(z, c);
  for (std::int64_t n = 0; n < 3; ++n) {
    const std::vector<std::int64_t> cn{c[static_cast<std::size_t>(n)]};
    REQUIRE_CLOSE(Post::seed(z.slice_batch(n), cn), post.slice_batch(n), 0, 0);
    REQUIRE(LogSoftmax::score(z.slice_batch(n), cn)[0] == log[n]);
  }
}

TEST_CASE("bad logits and classes are rejected before any work", "[score]") {
  const Tensor<float> z({2, 3});
  REQUIRE_THROWS_AS(Post::seed(z, cls({0})), ShapeError);
  REQUIRE_THROWS_AS(Pre::score(z, cls({0, 3})), ArgumentError);
  REQUIRE_THROWS_AS(LogSoftmax::seed(z, cls({-1, 0})), ArgumentError);
  REQUIRE_THROWS_AS(Contrast(3).score(z, cls({0, 0})), ArgumentError);
  REQUIRE_THROWS_AS(Post::score(Tensor<float>({6}), cls({0})), ShapeError);
}

TEST_CASE("evaluate_score reports z_c, y_c and saturation", "[score]") {
  const Tensor<double> z({2, 2}, {20, 0, 1, 0});
  const auto r = evaluate_score(Post{}, z, cls({0, 0}));
  REQUIRE(r.logit[0] == 20.0);
  REQUIRE(r.probability[1] == Approx(std::exp(1.0) / (std::exp(1.0) + 1)).epsilon(1e-14));
  REQUIRE(r.score[1] == r.probability[1]);
  REQUIRE(r.saturated[0]);
  REQUIRE_FALSE(r.saturated[1]);
  REQUIRE(r.seed.shape() == Shape{2, 2});
  const auto rc = evaluate_score(Contrast(1), z, cls({0, 0}));
  REQUIRE(rc.score[0] == 20.0);
}

TEST_CASE("a saturated LogSoftmax seed keeps 1 - y_c accurate in float", "[score]") {
  // z = (0, 12): 1 - y_c = 1/(1 + e^12) = 6.144e-6. Computed as 1 - y_c in float it would keep
  // only a few bits (ulp(1) = 1.2e-7, ~2% of the value); as the competitor's y it is exact to ~1 ulp.
  const Tensor<float> z(Shape{1, 2}, {0.0f, 12.0f});
  const std::vector<std::int64_t> c{1};
  const auto d = LogSoftmax::seed(z, c);
  const double exact = 1.0 / (1.0 + std::exp(12.0));
  REQUIRE(static_cast<double>(d(0, 1)) == Approx(exact).epsilon(1e-6));
  REQUIRE(static_cast<double>(d(0, 0)) == Approx(-exact).epsilon(1e-6));
  REQUIRE(d(0, 0) + d(0, 1) == 0.0f);  // the seed stays orthogonal to a uniform shift of the logits
}
