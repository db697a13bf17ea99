// The graph ops a Vision Transformer adds (docs/models.md, "Vision Transformers"): gather along
// an axis with constant indices (the class token), expand (the class token over the batch) and
// layer normalization. Gradients against finite differences in double, values against the
// definitions written here, and errors naming the op and the shapes.
#include <cmath>

#include "autodiff/helpers.hpp"
#include "support/errors.hpp"

using namespace gradattr;
using namespace gradattr::ad;
using namespace gradattr::ad::testing;
using gradattr::testing::error_of;

TEST_CASE("gather along an axis: class token, index lists, repeats", "[autodiff][ops][gather]") {
  const auto x = kink_free_random(Shape{2, 5, 3}, 40);
  // x[:, 0] (torchvision's ViT: the class token), x[:, -1], x[..., [2, 0, 2]] (a repeated index)
  check_gradients([](const Vars& v) { return weighted_sum(gather(v[0], 1, {0}, true)); }, {x});
  check_gradients([](const Vars& v) { return weighted_sum(gather(v[0], -2, {-1}, true)); }, {x});
  check_gradients([](const Vars& v) { return weighted_sum(gather(v[0], 2, {2, 0, 2}, false)); }, {x});
  check_gradients([](const Vars& v) { return weighted_sum(gather(v[0], 0, {1}, false)); }, {x});
  const auto t = gather(V(x), 1, {0}, true).value();
  REQUIRE(t.shape() == Shape{2, 3});
  const auto l = gather(V(x), 2, {2, 0, 2}, false).value();
  REQUIRE(l.shape() == Shape{2, 5, 3});
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t i = 0; i < 5; ++i) {
      REQUIRE(l(n, i, 0) == x(n, i, 2));
      REQUIRE(l(n, i, 1) == x(n, i, 0));
      REQUIRE(l(n, i, 2) == x(n, i, 2));
      if (i < 3) REQUIRE(t(n, i) == x(n, 0, i));
    }
  // the repeated index receives both slabs' gradients
  Tape<double> tape;
  auto xv = tape.variable(x);
  auto y = gather(xv, 2, {2, 0, 2}, false);
  auto g = grad(tape, sum(y), {xv})[0];
  for (std::int64_t k = 0; k < g.numel(); ++k) REQUIRE(g[k] == (k % 3 == 2 ? 2.0 : k % 3 == 0 ? 1.0 : 0.0));
}

TEST_CASE("expand: broadcast to a shape, gradient summed back", "[autodiff][ops][expand]") {
  const auto tok = kink_free_random(Shape{1, 1, 4}, 41);
  check_gradients([](const Vars& v) { return weighted_sum(expand(v[0], Shape{3, 1, 1})); }, {tok});  // over the batch
  check_gradients([](const Vars& v) { return weighted_sum(expand(v[0], Shape{2, 3, 4})); }, {tok});
  check_gradients([](const Vars& v) { return weighted_sum(expand(v[0], Shape{2, 1, 1, 1})); }, {tok});  // rank grows
  const auto y = expand(V(tok), Shape{3, 1, 1}).value();
  REQUIRE(y.shape() == Shape{3, 1, 4});
  for (std::int64_t n = 0; n < 3; ++n)
    for (std::int64_t d = 0; d < 4; ++d) REQUIRE(y(n, 0, d) == tok(0, 0, d));
}

TEST_CASE("layer_norm: values by the definition, gradients for x, scale and bias", "[autodiff][ops][layer_norm]") {
  const auto x = kink_free_random(Shape{2, 5, 6}, 42, -2.0, 3.0);
  const auto w = kink_free_random(Shape{6}, 43, 0.5, 1.5), b = kink_free_random(Shape{6}, 44);
  check_gradients([](const Vars& v) { return weighted_sum(layer_norm(v[0], v[1], v[2], -1, 1e-5)); }, {x, w, b});
  check_gradients([&](const Vars& v) { return weighted_sum(layer_norm(v[0], V(w), V(b), 2, 1e-6)); }, {x});
  check_gradients([&](const Vars& v) { return weighted_sum(layer_norm(V(x), v[0], V(), -1, 1e-5)); }, {w});
  // over the last two dimensions
  const auto w2 = kink_free_random(Shape{5, 6}, 45, 0.5, 1.5), b2 = kink_free_random(Shape{5, 6}, 46);
  check_gradients([](const Vars& v) { return weighted_sum(layer_norm(v[0], v[1], v[2], 1, 1e-5)); }, {x, w2, b2});
  const auto y = layer_norm(V(x), V(w), V(b), -1, 1e-5).value();
  for (std::int64_t r = 0; r < 10; ++r) {
    double m = 0, v = 0;
    for (std::int64_t j = 0; j < 6; ++j) m += x[r * 6 + j] / 6;
    for (std::int64_t j = 0; j < 6; ++j) v += (x[r * 6 + j] - m) * (x[r * 6 + j] - m) / 6;  // biased, as torch
    for (std::int64_t j = 0; j < 6; ++j)
      REQUIRE(y[r * 6 + j] == Approx((x[r * 6 + j] - m) / std::sqrt(v + 1e-5) * w[j] + b[j]).epsilon(1e-12));
  }
}

TEST_CASE("gather, expand, layer_norm report bad arguments naming the op and the shapes", "[autodiff][ops][errors]") {
  Tape<double> tape;
  auto a = tape.variable(Tensor<double>(Shape{2, 3, 4}));
  using Catch::Contains;
  REQUIRE_THAT(error_of<ArgumentError>([&] { gather(a, 1, {3}, true); }), Contains("gather") && Contains("[2, 3, 4]") && Contains("index 3"));
  REQUIRE_THAT(error_of<ArgumentError>([&] { gather(a, 3, {0}, true); }), Contains("gather") && Contains("axis 3"));
  REQUIRE_THAT(error_of<ArgumentError>([&] { gather(a, 1, {0, 1}, true); }), Contains("gather") && Contains("scalar"));
  REQUIRE_THAT(error_of<ShapeError>([&] { expand(a, Shape{2, 5, 4}); }), Contains("expand") && Contains("[2, 3, 4]") && Contains("[2, 5, 4]"));
  REQUIRE_THAT(error_of<ShapeError>([&] { layer_norm(a, Tensor<double>(Shape{3}), Tensor<double>(Shape{4}), -1, 1e-5); }),
               Contains("layer_norm") && Contains("scale [3]") && Contains("[2, 3, 4]"));
  REQUIRE_THAT(error_of<ShapeError>([&] { layer_norm(a, Tensor<double>(Shape{4}), Tensor<double>(Shape{5}), -1, 1e-5); }),
               Contains("layer_norm") && Contains("bias [5]"));
  REQUIRE_THAT(error_of<ArgumentError>([&] { layer_norm(a, Tensor<double>(Shape{4}), Tensor<double>(Shape{4}), 3, 1e-5); }),
               Contains("layer_norm") && Contains("axis 3"));
  REQUIRE(tape.size() == 1);  // nothing was recorded
}
