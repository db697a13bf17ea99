// The graph ops (ops.hpp "graph ops"): gradients against finite differences in double for every
// op and broadcasting pattern, values against definitions written here, and errors.
#include <cmath>
#include <limits>

#include "autodiff/helpers.hpp"
#include "support/errors.hpp"

using namespace gradattr;
using namespace gradattr::ad;
using namespace gradattr::ad::testing;
using gradattr::testing::error_of;

namespace {
// Element of x (shape s) at y-index i, repeating x's unit dimensions (a broadcast by definition).
double at_broadcast(const Tensor<double>& x, const Shape& y, std::int64_t i) {
  std::vector<std::int64_t> idx(static_cast<std::size_t>(y.rank()));
  for (int d = y.rank() - 1; d >= 0; --d) {
    idx[static_cast<std::size_t>(d)] = i % y[d];
    i /= y[d];
  }
  std::int64_t off = 0;
  const int shift = y.rank() - x.rank();
  for (int d = 0; d < x.rank(); ++d) off = off * x.dim(d) + (x.dim(d) == 1 ? 0 : idx[static_cast<std::size_t>(d + shift)]);
  return x[off];
}
}  // namespace

TEST_CASE("broadcasting add, sub, mul, div: gradients for every pattern", "[autodiff][ops][broadcast]") {
  struct Case { Shape a, b; };
  for (const auto& c : {Case{{2, 3, 4, 5}, {2, 3, 1, 1}},  // squeeze-excitation
                        Case{{2, 3, 4, 5}, {3, 1, 1}},     // bias, rank mismatch
                        Case{{2, 3, 4, 5}, {1, 3, 1, 1}},  // bias, same rank
                        Case{{3, 1, 5}, {1, 4, 1}},        // both sides broadcast
                        Case{{5, 1, 3}, {4, 1}},           // both sides, rank mismatch
                        Case{{4}, {3, 4}},                 // the smaller one on the left
                        Case{{2, 3}, {}},                  // scalar []
                        Case{{}, {2, 3}},
                        Case{{3, 2, 3}, {1}},              // scalar [1]
                        Case{{3, 7}, {3, 7}}}) {           // equal shapes (div)
    INFO("a " << c.a.str() << " b " << c.b.str());
    const auto a = kink_free_random(c.a, 1), b = kink_free_random(c.b, 2);
    const auto pos = kink_free_random(c.b, 3, 0.5, 2.0);  // a divisor away from 0
    check_gradients([](const Vars& v) { return weighted_sum(add(v[0], v[1])); }, {a, b});
    check_gradients([](const Vars& v) { return weighted_sum(sub(v[0], v[1])); }, {a, b});
    check_gradients([](const Vars& v) { return weighted_sum(mul(v[0], v[1])); }, {a, b});
    check_gradients([](const Vars& v) { return weighted_sum(div(v[0], v[1])); }, {a, pos});
    check_gradients([](const Vars& v) { return weighted_sum(div(v[1], v[0])); }, {pos, a});
    // one constant side
    check_gradients([&](const Vars& v) { return weighted_sum(mul(v[0], V(b))); }, {a});
    check_gradients([&](const Vars& v) { return weighted_sum(div(V(a), v[0])); }, {pos});
    // values, by the definition of broadcasting
    const Shape ys = kernels::broadcast_shape(c.a, c.b, "test");
    const auto yadd = add(V(a), V(b)).value(), ydiv = div(V(a), V(pos)).value(), ysub = sub(V(b), V(a)).value();
    REQUIRE(yadd.shape() == ys);
    for (std::int64_t i = 0; i < yadd.numel(); ++i) {
      REQUIRE(yadd[i] == at_broadcast(a, ys, i) + at_broadcast(b, ys, i));
      REQUIRE(ysub[i] == at_broadcast(b, ys, i) - at_broadcast(a, ys, i));
      REQUIRE(ydiv[i] == at_broadcast(a, ys, i) / at_broadcast(pos, ys, i));
    }
  }
}

TEST_CASE("broadcast backward sums dy over the broadcast dimensions", "[autodiff][ops][broadcast]") {
  Tape<double> tape;
  auto a = tape.variable(Tensor<double>(Shape{2, 3}, {1, 2, 3, 4, 5, 6}));
  auto b = tape.variable(Tensor<double>(Shape{3}, {10, 20, 30}));
  auto s = tape.variable(Tensor<double>::scalar(2));
  const auto g = grad(tape, sum(mul(add(a, b), s)), {a, b, s});
  REQUIRE(g[1][0] == 4.0);  // two rows, times s
  REQUIRE(g[2][0] == 1 + 2 + 3 + 4 + 5 + 6 + 2 * (10 + 20 + 30));
  for (std::int64_t i = 0; i < 6; ++i) REQUIRE(g[0][i] == 2.0);
}

TEST_CASE("channel_affine: gradients for x, scale and shift", "[autodiff][ops][channel_affine]") {
  for (const Shape& s : {Shape{2, 3, 4, 5}, Shape{3, 5}, Shape{2, 3, 7}, Shape{1, 1, 3, 3}}) {
    INFO("x " << s.str());
    const Shape c{s[1]};
    const auto x = kink_free_random(s, 4), sc = kink_free_random(c, 5, 0.5, 1.5), sh = kink_free_random(c, 6);
    check_gradients([](const Vars& v) { return weighted_sum(channel_affine(v[0], v[1], v[2])); }, {x, sc, sh});
    check_gradients([&](const Vars& v) { return weighted_sum(channel_affine(v[0], V(sc), V(sh))); }, {x});
    check_gradients([&](const Vars& v) { return weighted_sum(channel_affine(V(x), v[0], V(sh))); }, {sc});
    // y = x * scale[c] + shift[c], by the definition
    const auto y = channel_affine(V(x), V(sc), V(sh)).value();
    const std::int64_t inner = s.stride(1);
    for (std::int64_t i = 0; i < y.numel(); ++i) {
      const std::int64_t ch = (i / inner) % s[1];
      REQUIRE(y[i] == Approx(x[i] * sc[ch] + sh[ch]).epsilon(1e-15));
    }
  }
}

TEST_CASE("graph activations: gradients match finite differences", "[autodiff][ops][activation]") {
  // 30 elements spread over [-4.3, 4.1): no grid point within 0.04 of a kink (±3, clip bounds).
  const Shape s{2, 3, 5};
  const auto x = kink_free_random(s, 7, -4.3, 4.1);
  const double inf = std::numeric_limits<double>::infinity();
  check_gradients([](const Vars& v) { return weighted_sum(clip(v[0], -1.37, 2.61)); }, {x});
  check_gradients([](const Vars& v) { return weighted_sum(clip(v[0], 0.0, 6.0)); }, {x});  // relu6
  check_gradients([&](const Vars& v) { return weighted_sum(clip(v[0], -inf, 1.13)); }, {x});
  check_gradients([&](const Vars& v) { return weighted_sum(clip(v[0], -2.21, inf)); }, {x});
  check_gradients([](const Vars& v) { return weighted_sum(sigmoid(v[0])); }, {x});
  check_gradients([](const Vars& v) { return weighted_sum(hard_sigmoid(v[0], 0.37, 0.41)); }, {x});
  check_gradients([](const Vars& v) { return weighted_sum(hard_sigmoid(v[0], 1.0 / 6, 0.5)); }, {x});
  check_gradients([](const Vars& v) { return weighted_sum(hard_swish(v[0])); }, {x});
  check_gradients([](const Vars& v) { return weighted_sum(tanh(v[0])); }, {x});
  check_gradients([](const Vars& v) { return weighted_sum(erf(v[0])); }, {x});
  check_gradients([](const Vars& v) { return weighted_sum(gelu(v[0])); }, {x});
  check_gradients([](const Vars& v) { return weighted_sum(silu(v[0])); }, {x});
  check_gradients([](const Vars& v) { return weighted_sum(pow_scalar(v[0], 3.0)); }, {x});
  const auto pos = kink_free_random(s, 8, 0.3, 2.5);
  check_gradients([](const Vars& v) { return weighted_sum(sqrt(v[0])); }, {pos});
  check_gradients([](const Vars& v) { return weighted_sum(pow_scalar(v[0], 2.5)); }, {pos});
  check_gradients([](const Vars& v) { return weighted_sum(pow_scalar(v[0], -0.5)); }, {pos});
}

TEST_CASE("graph activations: values and the gradient at the kinks", "[autodiff][ops][activation]") {
  const double inf = std::numeric_limits<double>::infinity();
  Tape<double> tape;
  auto x = tape.variable(Tensor<double>(Shape{7}, {-7, -3, -1, 0, 1, 3, 7}));
  // relu6: 0 at both bounds (torch's hardtanh), 1 strictly inside
  auto y = clip(x, 0.0, 6.0);
  REQUIRE(y.value()[0] == 0.0);
  REQUIRE(y.value()[6] == 6.0);
  auto g = grad(tape, sum(y), {x})[0];
  const double want_clip[] = {0, 0, 0, 0, 1, 1, 0};
  for (int i = 0; i < 7; ++i) REQUIRE(g[i] == want_clip[i]);
  g = grad(tape, sum(clip(x, -3.0, inf)), {x})[0];
  const double want_lo[] = {0, 0, 1, 1, 1, 1, 1};
  for (int i = 0; i < 7; ++i) REQUIRE(g[i] == want_lo[i]);
  // hard_swish: torch's hardswish_backward: 0 below -3, x/3 + 1/2 on [-3, 3], 1 above
  auto hs = hard_swish(x);
  const double want_hs[] = {0, 0, -1.0 / 3, 0, 2.0 / 3, 3, 7};
  for (int i = 0; i < 7; ++i) REQUIRE(hs.value()[i] == Approx(want_hs[i]).margin(1e-15));
  g = grad(tape, sum(hs), {x})[0];
  const double want_dhs[] = {0, -0.5, 1.0 / 6, 0.5, 5.0 / 6, 1.5, 1};
  for (int i = 0; i < 7; ++i) REQUIRE(g[i] == Approx(want_dhs[i]).margin(1e-15));
  // hard_sigmoid: slope alpha strictly inside 0 < alpha x + beta < 1 (alpha = 1/4, beta = 1/2:
  // exact bounds at x = -2 and 2; with alpha = 1/6 the bound at -3 depends on rounding)
  auto x2 = tape.variable(Tensor<double>(Shape{7}, {-3, -2, -1, 0, 1, 2, 3}));
  g = grad(tape, sum(hard_sigmoid(x2, 0.25, 0.5)), {x2})[0];
  const double want_hsig[] = {0, 0, 0.25, 0.25, 0.25, 0, 0};
  for (int i = 0; i < 7; ++i) REQUIRE(g[i] == want_hsig[i]);
  REQUIRE(gelu(V(Tensor<double>::scalar(1.0))).value()[0] == Approx(0.8413447460685429).epsilon(1e-14));
  REQUIRE(sigmoid(V(Tensor<double>::scalar(0.0))).value()[0] == 0.5);
}

TEST_CASE("reduce_sum and reduce_mean over axes", "[autodiff][ops][reduce]") {
  const Shape s{2, 3, 4, 5};
  const auto x = kink_free_random(s, 9);
  struct Case { std::vector<std::int64_t> axes; bool keep; Shape want; };
  for (const auto& c : {Case{{1}, true, {2, 1, 4, 5}}, Case{{1}, false, {2, 4, 5}}, Case{{-1, 0}, true, {1, 3, 4, 1}},
                        Case{{2, 3}, false, {2, 3}}, Case{{}, true, {1, 1, 1, 1}}, Case{{}, false, {}},
                        Case{{0, 2}, false, {3, 5}}}) {
    INFO("axes " << c.axes.size() << " keepdims " << c.keep);
    REQUIRE(reduce_sum(V(x), c.axes, c.keep).shape() == c.want);
    check_gradients([&](const Vars& v) { return weighted_sum(reduce_sum(v[0], c.axes, c.keep)); }, {x});
    check_gradients([&](const Vars& v) { return weighted_sum(reduce_mean(v[0], c.axes, c.keep)); }, {x});
  }
  // values: the mean over H, W (global average pooling)
  const auto m = reduce_mean(V(x), {2, 3}, false).value();
  for (std::int64_t nc = 0; nc < 6; ++nc) {
    double acc = 0;
    for (std::int64_t k = 0; k < 20; ++k) acc += x[nc * 20 + k];
    REQUIRE(m[nc] == Approx(acc / 20).epsilon(1e-14));
  }
}

TEST_CASE("concat along any axis", "[autodiff][ops][concat]") {
  const auto a = kink_free_random(Shape{2, 3, 4, 5}, 10), b = kink_free_random(Shape{2, 1, 4, 5}, 11),
             c = kink_free_random(Shape{2, 2, 4, 5}, 12);
  check_gradients([](const Vars& v) { return weighted_sum(concat(v, 1)); }, {a, b, c});  // DenseNet channels
  check_gradients([](const Vars& v) { return weighted_sum(concat(v, -3)); }, {a, b, c});
  check_gradients([](const Vars& v) { return weighted_sum(concat(v, 0)); },
                  {kink_free_random(Shape{1, 3}, 13), kink_free_random(Shape{2, 3}, 14)});
  check_gradients([](const Vars& v) { return weighted_sum(concat(v, -1)); },
                  {kink_free_random(Shape{2, 3, 1}, 15), kink_free_random(Shape{2, 3, 4}, 16)});
  check_gradients([&](const Vars& v) { return weighted_sum(concat(Vars{V(a), v[0]}, 1)); }, {c});
  const auto y = concat(Vars{V(a), V(b), V(c)}, 1).value();
  REQUIRE(y.shape() == Shape{2, 6, 4, 5});
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t h = 0; h < 4; ++h)
      for (std::int64_t w = 0; w < 5; ++w) {
        REQUIRE(y(n, 0, h, w) == a(n, 0, h, w));
        REQUIRE(y(n, 2, h, w) == a(n, 2, h, w));
        REQUIRE(y(n, 3, h, w) == b(n, 0, h, w));
        REQUIRE(y(n, 5, h, w) == c(n, 1, h, w));
      }
}

TEST_CASE("transpose: gradients and values", "[autodiff][ops][transpose]") {
  const auto x = kink_free_random(Shape{2, 3, 4, 5}, 17);
  for (const auto& perm : std::vector<std::vector<std::int64_t>>{{0, 2, 3, 1}, {}, {3, 1, 0, 2}, {0, 1, 3, 2}, {-1, 0, 1, 2}}) {
    check_gradients([&](const Vars& v) { return weighted_sum(transpose(v[0], perm)); }, {x});
  }
  const auto y = transpose(V(x), {0, 2, 3, 1}).value();  // NCHW -> NHWC
  REQUIRE(y.shape() == Shape{2, 4, 5, 3});
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t c = 0; c < 3; ++c)
      for (std::int64_t h = 0; h < 4; ++h)
        for (std::int64_t w = 0; w < 5; ++w) REQUIRE(y(n, h, w, c) == x(n, c, h, w));
  const auto r = transpose(V(kink_free_random(Shape{3, 7}, 18)), {}).value();
  REQUIRE(r.shape() == Shape{7, 3});
  check_gradients([](const Vars& v) { return weighted_sum(transpose(v[0], {})); }, {kink_free_random(Shape{3, 1, 7}, 19)});
  // moving only extent-1 dimensions keeps the elements' order: the result is a view (a
  // reshape), with its values and gradient (torch's batch-first attention: [1, T, D] <-> [T, 1, D])
  const auto t = kink_free_random(Shape{1, 6, 1, 5}, 20);
  for (const auto& perm : std::vector<std::vector<std::int64_t>>{{1, 0, 2, 3}, {2, 1, 3, 0}, {0, 2, 1, 3}}) {
    REQUIRE(kernels::transpose_keeps_order(t.shape(), perm));
    const auto v = transpose(V(t), perm).value();
    REQUIRE(v.data() == t.data());
    REQUIRE(v.shape() == Shape{t.dim(static_cast<int>(perm[0])), t.dim(static_cast<int>(perm[1])),
                               t.dim(static_cast<int>(perm[2])), t.dim(static_cast<int>(perm[3]))});
    check_gradients([&](const Vars& vs) { return weighted_sum(transpose(vs[0], perm)); }, {t});
  }
  REQUIRE_FALSE(kernels::transpose_keeps_order(t.shape(), std::vector<std::int64_t>{3, 1, 2, 0}));
  REQUIRE_FALSE(kernels::transpose_keeps_order(Shape{2, 3}, std::vector<std::int64_t>{1, 0}));
}

TEST_CASE("matmul: numpy semantics, gradients for both operands", "[autodiff][ops][matmul]") {
  struct Case { Shape a, b, y; };
  for (const auto& c : {Case{{3, 4}, {4, 5}, {3, 5}}, Case{{2, 3, 4}, {4, 5}, {2, 3, 5}},
                        Case{{3, 4}, {2, 4, 5}, {2, 3, 5}}, Case{{2, 1, 3, 4}, {1, 3, 4, 2}, {2, 3, 3, 2}},
                        Case{{4}, {4, 5}, {5}}, Case{{3, 4}, {4}, {3}}, Case{{4}, {4}, {}},
                        Case{{2, 3, 4}, {4}, {2, 3}}, Case{{4}, {2, 4, 3}, {2, 3}}, Case{{1, 7}, {7, 1}, {1, 1}},
                        Case{{5, 1, 4}, {4, 3}, {5, 1, 3}}}) {  // one b for all batches: its gradient by one GEMM
    INFO("a " << c.a.str() << " b " << c.b.str());
    const auto a = kink_free_random(c.a, 20), b = kink_free_random(c.b, 21);
    const auto y = matmul(V(a), V(b)).value();
    REQUIRE(y.shape() == c.y);
    check_gradients([](const Vars& v) { return weighted_sum(matmul(v[0], v[1])); }, {a, b});
    check_gradients([&](const Vars& v) { return weighted_sum(matmul(v[0], V(b))); }, {a});
  }
  // a bias [N] added to every row (graph::fuse_matmul_bias): the product, then the sum; the
  // bias's gradient is dy summed over the rows
  for (const auto& c : {Case{{3, 4}, {4, 5}, {3, 5}}, Case{{2, 3, 4}, {4, 5}, {2, 3, 5}}, Case{{5, 1, 4}, {4, 3}, {5, 1, 3}},
                        Case{{4}, {4, 5}, {5}}, Case{{2, 1, 3, 4}, {1, 3, 4, 2}, {2, 3, 3, 2}}}) {
    INFO("a " << c.a.str() << " b " << c.b.str() << " with a bias");
    const std::int64_t n = c.y[c.y.rank() - 1];
    const auto a = kink_free_random(c.a, 27), b = kink_free_random(c.b, 28), bias = kink_free_random(Shape{n}, 29);
    const auto y = matmul(V(a), V(b), V(bias)).value(), product = matmul(V(a), V(b)).value();
    REQUIRE(y.shape() == c.y);
    for (std::int64_t i = 0; i < y.numel(); ++i) REQUIRE(y[i] == product[i] + bias[i % n]);
    check_gradients([](const Vars& v) { return weighted_sum(matmul(v[0], v[1], v[2])); }, {a, b, bias});
    check_gradients([&](const Vars& v) { return weighted_sum(matmul(v[0], V(b), V(bias))); }, {a});
  }
  // values: [2, 3, 4] x [4, 5] row by row
  const auto a = kink_free_random(Shape{2, 3, 4}, 22), b = kink_free_random(Shape{4, 5}, 23);
  const auto y = matmul(V(a), V(b)).value();
  for (std::int64_t t = 0; t < 2; ++t)
    for (std::int64_t m = 0; m < 3; ++m)
      for (std::int64_t n = 0; n < 5; ++n) {
        double acc = 0;
        for (std::int64_t k = 0; k < 4; ++k) acc += a(t, m, k) * b(k, n);
        REQUIRE(y(t, m, n) == Approx(acc).epsilon(1e-14));
      }
}

TEST_CASE("pad (constant) and slice (positive steps)", "[autodiff][ops][pad][slice]") {
  const auto x = kink_free_random(Shape{1, 2, 3, 4}, 24);
  check_gradients([](const Vars& v) { return weighted_sum(pad(v[0], {0, 0, 1, 2, 0, 1, 2, 1}, 0.5)); }, {x});
  check_gradients([](const Vars& v) { return weighted_sum(pad(v[0], {1, 0, 2, 3}, -1.0)); }, {kink_free_random(Shape{3, 5}, 25)});
  const auto p = pad(V(x), {0, 0, 1, 2, 0, 1, 2, 1}, 0.5).value();
  REQUIRE(p.shape() == Shape{1, 3, 6, 7});
  REQUIRE(p(0, 0, 0, 0) == 0.5);
  REQUIRE(p(0, 0, 1, 2) == x(0, 0, 0, 0));
  REQUIRE(p(0, 1, 3, 5) == x(0, 1, 2, 3));
  REQUIRE(p(0, 2, 1, 2) == 0.5);
  REQUIRE(p(0, 1, 4, 2) == 0.5);

  const std::int64_t big = std::numeric_limits<std::int64_t>::max();
  const auto s = kink_free_random(Shape{2, 5, 7}, 26);
  struct Case { std::vector<std::int64_t> starts, ends, axes, steps; Shape want; };
  for (const auto& c : {Case{{1}, {4}, {1}, {}, {2, 3, 7}}, Case{{0, 1}, {big, -1}, {2, 1}, {2, 1}, {2, 3, 4}},
                        Case{{-3}, {big}, {-1}, {3}, {2, 5, 1}}, Case{{1, 0, 2}, {2, 5, 7}, {}, {1, 2, 2}, {1, 3, 3}},
                        Case{{-100}, {100}, {0}, {1}, {2, 5, 7}}, Case{{6}, {3}, {2}, {1}, {2, 5, 0}}}) {
    const auto y = slice(V(s), c.starts, c.ends, c.axes, c.steps);
    REQUIRE(y.shape() == c.want);
    if (y.value().numel() > 0)
      check_gradients([&](const Vars& v) { return weighted_sum(slice(v[0], c.starts, c.ends, c.axes, c.steps)); }, {s});
  }
  // one value read by three slices (ViT's q, k, v) and by itself: the slices add into one
  // gradient buffer (BackwardContext::accumulator), after and before a whole-value gradient
  // (backward runs in reverse: `scaled` hands over the first gradient, a buffer the sweep did
  // not make, so the next slice copies it before adding; `squared` then adds in place)
  check_gradients(
      [](const Vars& v) {
        const auto first = weighted_sum(slice(v[0], {0}, {3}, {1}, {}));
        const auto squared = weighted_sum(mul(v[0], v[0]));
        const auto second = weighted_sum(slice(v[0], {2}, {5}, {1}, {}));
        const auto third = weighted_sum(slice(v[0], {1, 0}, {2, 7}, {0, 2}, {1, 3}));
        const auto scaled = weighted_sum(v[0] * 3.0);
        return first + squared + second + third + scaled;
      },
      {s});
  const auto y = slice(V(s), {0, 1}, {big, -1}, {2, 1}, {2, 1}).value();  // [:, 1:4, 0::2]
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t i = 0; i < 3; ++i)
      for (std::int64_t j = 0; j < 4; ++j) REQUIRE(y(n, i, j) == s(n, 1 + i, 2 * j));
}

TEST_CASE("softmax and log_softmax along any axis", "[autodiff][ops][softmax]") {
  const auto x = kink_free_random(Shape{2, 3, 4}, 27, -3, 3);
  for (std::int64_t axis : {0, 1, 2, -1, -2}) {
    INFO("axis " << axis);
    check_gradients([&](const Vars& v) { return weighted_sum(softmax(v[0], axis)); }, {x});
    check_gradients([&](const Vars& v) { return weighted_sum(log_softmax(v[0], axis)); }, {x});
  }
  const auto x4 = kink_free_random(Shape{2, 3, 2, 2}, 28, -3, 3);
  check_gradients([](const Vars& v) { return weighted_sum(softmax(v[0], 1)); }, {x4});
  // axis 1 of [2, 3, 4]: each (n, k) column sums to one; the last axis equals the 2-D op
  const auto y = softmax(V(x), 1).value();
  for (std::int64_t n = 0; n < 2; ++n)
    for (std::int64_t k = 0; k < 4; ++k) REQUIRE(y(n, 0, k) + y(n, 1, k) + y(n, 2, k) == Approx(1.0).epsilon(1e-15));
  const auto last = log_softmax(V(x), -1).value(), rows = log_softmax(V(x.reshape(Shape{6, 4}))).value();
  REQUIRE(gradattr::testing::bitwise_equal(last.reshape(Shape{6, 4}), rows));
}

TEST_CASE("graph ops report bad shapes and arguments naming the op and the shapes", "[autodiff][ops][errors]") {
  Tape<double> tape;
  auto a = tape.variable(Tensor<double>(Shape{2, 3, 4}));
  auto b = tape.variable(Tensor<double>(Shape{5, 4}));
  auto c = tape.variable(Tensor<double>(Shape{2, 3, 5}));
  using Catch::Contains;
  // incompatible broadcasts
  for (auto* name : {"add", "sub", "mul", "div"}) {
    const std::string m = error_of<ShapeError>([&] {
      const std::string n = name;
      if (n == "add") add(a, b);
      else if (n == "sub") sub(a, b);
      else if (n == "mul") mul(a, b);
      else div(a, b);
    });
    REQUIRE_THAT(m, Contains(name) && Contains("[2, 3, 4]") && Contains("[5, 4]"));
  }
  REQUIRE_THAT(error_of<ShapeError>([&] { channel_affine(a, Tensor<double>(Shape{4}), Tensor<double>(Shape{3})); }),
               Contains("channel_affine") && Contains("[4]") && Contains("[2, 3, 4]"));
  REQUIRE_THAT(error_of<ShapeError>([&] { channel_affine(V(Tensor<double>(Shape{3})), Tensor<double>(Shape{3}), Tensor<double>(Shape{3})); }),
               Contains("channel_affine") && Contains("rank"));
  REQUIRE_THAT(error_of<ArgumentError>([&] { clip(a, 1.0, -1.0); }), Contains("clip"));
  // axes
  REQUIRE_THAT(error_of<ArgumentError>([&] { reduce_sum(a, {3}, true); }), Contains("reduce_sum") && Contains("[2, 3, 4]"));
  REQUIRE_THAT(error_of<ArgumentError>([&] { reduce_mean(a, {-4}, true); }), Contains("reduce_mean") && Contains("-4"));
  REQUIRE_THAT(error_of<ArgumentError>([&] { reduce_sum(a, {1, -2}, true); }), Contains("reduce_sum") && Contains("repeated"));
  REQUIRE_THAT(error_of<ArgumentError>([&] { softmax(a, 3); }), Contains("softmax") && Contains("[2, 3, 4]"));
  REQUIRE_THAT(error_of<ArgumentError>([&] { log_softmax(a, -4); }), Contains("log_softmax") && Contains("[2, 3, 4]"));
  // perm
  REQUIRE_THAT(error_of<ArgumentError>([&] { transpose(a, {0, 1}); }), Contains("transpose") && Contains("[2, 3, 4]"));
  REQUIRE_THAT(error_of<ArgumentError>([&] { transpose(a, {0, 1, 1}); }), Contains("transpose") && Contains("[0, 1, 1]"));
  REQUIRE_THAT(error_of<ArgumentError>([&] { transpose(a, {0, 1, 3}); }), Contains("transpose") && Contains("[2, 3, 4]"));
  // concat
  REQUIRE_THAT(error_of<ShapeError>([&] { concat(Vars{a, c}, 1); }),
               Contains("concat") && Contains("[2, 3, 5]") && Contains("[2, 3, 4]"));
  REQUIRE_THAT(error_of<ShapeError>([&] { concat(Vars{a, b}, 0); }), Contains("concat") && Contains("[5, 4]"));
  REQUIRE_THAT(error_of<ArgumentError>([&] { concat(Vars{a, a}, 3); }), Contains("concat") && Contains("axis 3"));
  REQUIRE_THAT(error_of<ArgumentError>([&] { concat(Vars{}, 0); }), Contains("concat"));
  // matmul
  REQUIRE_THAT(error_of<ShapeError>([&] { matmul(a, Tensor<double>(Shape{3, 2})); }),
               Contains("matmul") && Contains("[2, 3, 4]") && Contains("[3, 2]"));
  REQUIRE_THAT(error_of<ShapeError>([&] { matmul(a, Tensor<double>(Shape{3, 4, 2})); }),
               Contains("matmul") && Contains("batch") && Contains("[3, 4, 2]"));
  REQUIRE_THAT(error_of<ShapeError>([&] { matmul(a, Tensor<double>::scalar(1)); }), Contains("matmul"));
  REQUIRE_THAT(error_of<ShapeError>([&] { matmul(a, Tensor<double>(Shape{4, 5}), Tensor<double>(Shape{4})); }),
               Contains("matmul") && Contains("bias [4]") && Contains("[5]"));
  // pad and slice
  REQUIRE_THAT(error_of<ArgumentError>([&] { pad(a, {1, 1}, 0.0); }), Contains("pad") && Contains("[2, 3, 4]"));
  REQUIRE_THAT(error_of<ArgumentError>([&] { pad(a, {0, 0, -1, 0, 0, 0}, 0.0); }), Contains("pad") && Contains("negative"));
  REQUIRE_THAT(error_of<ArgumentError>([&] { slice(a, {3}, {0}, {1}, {-1}); }), Contains("slice") && Contains("step -1"));
  REQUIRE_THAT(error_of<ArgumentError>([&] { slice(a, {0}, {1}, {5}, {}); }), Contains("slice") && Contains("[2, 3, 4]"));
  REQUIRE_THAT(error_of<ArgumentError>([&] { slice(a, {0, 0}, {1}, {}, {}); }), Contains("slice"));
  REQUIRE(tape.size() == 3);  // nothing was recorded
}
