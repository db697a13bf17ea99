// The graph-op kernels (broadcast, pointwise, matmul, layout): each fast float kernel against its
// reference twin on odd shapes, at 1, 2 and 3 threads.
//
// Bitwise where the fast kernel does the reference's IEEE operations in the same order
// (binary ops, expand, sum_to with the last dimension kept, clip, hard_swish, sigmoid's and
// channel_affine's backward-data); otherwise within the classical bound of fast_general.cpp:
// |fast - ref| <= 2 (L + 2) u sum|terms| against the double reference on the same float inputs,
// L the reduction length (1 for a*x + b that the compiler may contract to an FMA). sigmoid uses
// xsimd's exp: relative 1e-6 against double. Thread counts must not change a single bit (every
// output element is computed by one task in a fixed order).
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "gradattr/kernels/broadcast.hpp"
#include "gradattr/kernels/graph_params.hpp"
#include "gradattr/kernels/layout.hpp"
#include "gradattr/kernels/matmul.hpp"
#include "gradattr/kernels/pointwise.hpp"
#include "gradattr/kernels/softmax_axis.hpp"
#include "support/testing.hpp"

using namespace gradattr;
namespace ref = gradattr::kernels::reference;
namespace fast = gradattr::kernels::fast;
using gradattr::kernels::BinaryOp;
using gradattr::testing::bitwise_equal;
using gradattr::testing::random_tensor;

namespace {

constexpr double kU = 1.0 / (1 << 24);

Tensor<double> to_double(const Tensor<float>& t) { return t.cast<double>(); }
Tensor<double> abs_of(const Tensor<float>& t) {
  Tensor<double> a = to_double(t);
  for (auto& v : a) v = std::abs(v);
  return a;
}

void require_bounded(const Tensor<float>& got, const Tensor<double>& want, const Tensor<double>& mag, double L,
                     const std::string& what) {
  INFO(what);
  REQUIRE(got.shape() == want.shape());
  std::int64_t bad = -1;
  for (std::int64_t i = 0; i < got.numel() && bad < 0; ++i)
    if (!(std::abs(static_cast<double>(got[i]) - want[i]) <= 2 * (L + 2) * kU * mag[i] + 1e-30)) bad = i;
  INFO("element " << bad << ": " << (bad >= 0 ? got[bad] : 0.0f) << " vs " << (bad >= 0 ? want[bad] : 0.0));
  REQUIRE(bad < 0);
}

// Runs f(threads) at 1, 2 and 3 OpenMP threads, restoring the default.
template <class F>
void at_1_2_3_threads(F&& f) {
#ifdef _OPENMP
  const int saved = omp_get_max_threads();
  for (int t : {1, 2, 3}) {
    omp_set_num_threads(t);
    f(t);
  }
  omp_set_num_threads(saved);
#else
  for (int t : {1, 2, 3}) f(t);
#endif
}

// Results at 2 and 3 threads equal the one at 1, bit for bit; returns that result.
template <class Make>
Tensor<float> require_thread_invariant(Make&& make) {
  Tensor<float> first;
  at_1_2_3_threads([&](int t) {
    INFO(t << " threads");
    Tensor<float> r = make();
    if (t == 1)
      first = r;
    else
      REQUIRE(bitwise_equal(r, first));
  });
  return first;
}

struct Pair { Shape a, b; };
// Odd shapes for every pattern, including rows longer than a task block (32768) and a tail.
std::vector<Pair> broadcast_cases() {
  return {{{3, 17, 13, 11}, {3, 17, 13, 11}},  // residual add
          {{1, 1, 40000, 3}, {1, 1, 40000, 3}},  // one long row: several blocks
          {{3, 17, 13, 11}, {3, 17, 1, 1}},    // squeeze-excitation
          {{2, 5, 37, 3}, {5, 1, 1}},          // bias, rank mismatch
          {{2, 5, 37, 3}, {1, 5, 1, 1}},
          {{3, 17, 13, 11}, {}},               // scalar []
          {{1}, {3, 7, 9}},                    // scalar [1] on the left
          {{3, 1, 5}, {1, 4, 1}},              // both sides
          {{7, 1, 19}, {5, 1}},
          {{33}, {9, 33}},                     // row vector on the left ([N, D] + [D])
          {{9, 1}, {9, 33}},                   // column
          {{2, 40000}, {2, 1}}};               // long rows times a scalar each
}

}  // namespace

TEST_CASE("fast broadcast binary ops equal the reference bit for bit at 1, 2, 3 threads", "[kernels][fast][broadcast]") {
  for (const auto& c : broadcast_cases()) {
    INFO("a " << c.a.str() << " b " << c.b.str());
    const Shape ys = kernels::broadcast_shape(c.a, c.b, "test");
    const auto a = random_tensor<float>(c.a, 1), b = random_tensor<float>(c.b, 2, 0.5, 2.0);
    for (BinaryOp op : {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div}) {
      INFO("op " << static_cast<int>(op));
      auto want = Tensor<float>::uninitialized(ys);
      ref::binary(want, a, b, op);
      require_thread_invariant([&] {
        auto y = Tensor<float>::full(ys, 1e30f);
        kernels::binary(y, a, b, op);
        REQUIRE(bitwise_equal(y, want));
        return y;
      });
    }
    // NaN and infinities go through as in the reference
    auto an = a.clone();
    an[0] = std::numeric_limits<float>::quiet_NaN();
    an[an.numel() - 1] = std::numeric_limits<float>::infinity();
    auto y = Tensor<float>::uninitialized(ys), yr = Tensor<float>::uninitialized(ys);
    kernels::binary(y, an, b, BinaryOp::mul);
    ref::binary(yr, an, b, BinaryOp::mul);
    REQUIRE(bitwise_equal(y, yr));
  }
}

TEST_CASE("fast sum_to and expand match the reference at 1, 2, 3 threads", "[kernels][fast][broadcast]") {
  for (const auto& c : broadcast_cases())
    for (const Shape& small : {c.a, c.b}) {
      const Shape big = kernels::broadcast_shape(c.a, c.b, "test");
      INFO("sum " << big.str() << " to " << small.str());
      const auto dy = random_tensor<float>(big, 3);
      Tensor<double> want(small), mag(small);
      ref::sum_to(want, to_double(dy));
      ref::sum_to(mag, abs_of(dy));
      auto r = Tensor<float>::uninitialized(small);
      ref::sum_to(r, dy);
      const kernels::StridedPlan p = kernels::plan_broadcast(big, small, small);
      const bool last_kept = p.strides[0][static_cast<std::size_t>(p.rank - 1)] != 0;
      require_thread_invariant([&] {
        auto dx = Tensor<float>::full(small, 1e30f);
        kernels::sum_to(dx, dy);
        if (last_kept)
          REQUIRE(bitwise_equal(dx, r));  // the reference's order
        else
          require_bounded(dx, want, mag, static_cast<double>(big.numel() / std::max<std::int64_t>(small.numel(), 1)),
                          "sum_to");
        return dx;
      });
      const auto x = random_tensor<float>(small, 4);
      auto er = Tensor<float>::uninitialized(big);
      ref::expand(er, x);
      require_thread_invariant([&] {
        auto e = Tensor<float>::full(big, 1e30f);
        kernels::expand(e, x);
        REQUIRE(bitwise_equal(e, er));
        return e;
      });
    }
}

TEST_CASE("fast channel_affine matches the reference at 1, 2, 3 threads", "[kernels][fast][pointwise]") {
  for (const Shape& s : {Shape{3, 17, 13, 11}, Shape{1, 5, 1, 1}, Shape{2, 3, 37}, Shape{7, 19}, Shape{1, 2, 200, 201}}) {
    INFO("x " << s.str());
    const Shape c{s[1]};
    const auto x = random_tensor<float>(s, 5), sc = random_tensor<float>(c, 6), sh = random_tensor<float>(c, 7);
    const auto dy = random_tensor<float>(s, 8);
    Tensor<double> yr(s), ym(s);
    ref::channel_affine_forward(yr, to_double(x), to_double(sc), to_double(sh));
    ref::channel_affine_forward(ym, abs_of(x), abs_of(sc), abs_of(sh));
    auto dxr = Tensor<float>::uninitialized(s);
    ref::channel_affine_backward_data(dxr, dy, sc);
    Tensor<double> dsr(c), dbr(c), dsm(c), dbm(c);
    ref::channel_affine_backward_params(dsr, dbr, to_double(dy), to_double(x));
    ref::channel_affine_backward_params(dsm, dbm, abs_of(dy), abs_of(x));
    const double L = static_cast<double>(s.numel() / s[1]);
    require_thread_invariant([&] {
      auto y = Tensor<float>::full(s, 1e30f);
      kernels::channel_affine_forward(y, x, sc, sh);
      require_bounded(y, yr, ym, 1, "forward");
      return y;
    });
    require_thread_invariant([&] {
      auto dx = Tensor<float>::full(s, 1e30f);
      kernels::channel_affine_backward_data(dx, dy, sc);
      REQUIRE(bitwise_equal(dx, dxr));
      return dx;
    });
    require_thread_invariant([&] {
      auto ds = Tensor<float>::full(c, 1e30f), db = Tensor<float>::full(c, 1e30f);
      kernels::channel_affine_backward_params(ds, db, dy, x);
      require_bounded(ds, dsr, dsm, L, "dscale");
      require_bounded(db, dbr, dbm, L, "dshift");
      Tensor<float> none;  // dshift only
      auto db2 = Tensor<float>::full(c, 1e30f);
      kernels::channel_affine_backward_params(none, db2, dy, x);
      REQUIRE(bitwise_equal(db2, db));
      return ds;
    });
  }
}

TEST_CASE("fast clip, sigmoid, hard_sigmoid, hard_swish match the reference at 1, 2, 3 threads",
          "[kernels][fast][pointwise]") {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  for (std::int64_t n : {1, 15, 37, 32768 + 45}) {
    INFO("numel " << n);
    auto x = random_tensor<float>(Shape{n}, 9, -8, 8);
    // specials in the SIMD body and the tail, and the exact kinks
    const float special[] = {nan, -inf, inf, -0.0f, 0.0f, 6.0f, -3.0f, 3.0f, -1.5f, 2.5f};
    const std::int64_t spots[] = {0, 3, 9, 17, 33, 34, 36, 32768 + 2, 32768 + 40, n - 1};
    for (int k = 0; k < 10; ++k)
      if (spots[k] < n) x[spots[k]] = special[k];
    const auto dy = random_tensor<float>(Shape{n}, 10);
    const Shape s{n};
    using Fn = std::function<void(Tensor<float>&)>;
    struct Exact { const char* what; Fn fast, refer; };
    const std::vector<Exact> exact = {
        {"clip fwd", [&](Tensor<float>& y) { kernels::clip_forward(y, x, -1.5f, 2.5f); },
         [&](Tensor<float>& y) { ref::clip_forward(y, x, -1.5f, 2.5f); }},
        {"relu6 fwd", [&](Tensor<float>& y) { kernels::clip_forward(y, x, 0.0f, 6.0f); },
         [&](Tensor<float>& y) { ref::clip_forward(y, x, 0.0f, 6.0f); }},
        {"clip(-inf, 2.5) fwd", [&](Tensor<float>& y) { kernels::clip_forward(y, x, -inf, 2.5f); },
         [&](Tensor<float>& y) { ref::clip_forward(y, x, -inf, 2.5f); }},
        {"clip bwd", [&](Tensor<float>& y) { kernels::clip_backward(y, dy, x, -1.5f, 2.5f); },
         [&](Tensor<float>& y) { ref::clip_backward(y, dy, x, -1.5f, 2.5f); }},
        {"relu6 bwd", [&](Tensor<float>& y) { kernels::clip_backward(y, dy, x, 0.0f, 6.0f); },
         [&](Tensor<float>& y) { ref::clip_backward(y, dy, x, 0.0f, 6.0f); }},
        {"hard_swish fwd", [&](Tensor<float>& y) { kernels::hard_swish_forward(y, x); },
         [&](Tensor<float>& y) { ref::hard_swish_forward(y, x); }},
        {"hard_swish bwd", [&](Tensor<float>& y) { kernels::hard_swish_backward(y, dy, x); },
         [&](Tensor<float>& y) { ref::hard_swish_backward(y, dy, x); }},
        {"sigmoid bwd", [&](Tensor<float>& y) { kernels::sigmoid_backward(y, dy, x); },
         [&](Tensor<float>& y) { ref::sigmoid_backward(y, dy, x); }},
    };
    for (const auto& e : exact) {
      INFO(e.what);
      auto want = Tensor<float>::uninitialized(s);
      e.refer(want);
      require_thread_invariant([&] {
        auto y = Tensor<float>::full(s, 1e30f);
        e.fast(y);
        REQUIRE(bitwise_equal(y, want));
        return y;
      });
    }
    // sigmoid (xsimd exp) and hard_sigmoid (a*x + b, possibly one FMA) against double
    auto xf = x.clone();
    for (auto& v : xf)
      if (!std::isfinite(v)) v = 0.25f;
    Tensor<double> sr(s), hr(s), hm(s), hbr(s);
    ref::sigmoid_forward(sr, to_double(xf));
    const float alpha = 0.2f, beta = 0.5f;
    ref::hard_sigmoid_forward(hr, to_double(xf), double{alpha}, double{beta});
    for (std::int64_t i = 0; i < n; ++i) hm[i] = std::abs(alpha * static_cast<double>(xf[i])) + beta;
    require_thread_invariant([&] {
      auto y = Tensor<float>::uninitialized(s);
      kernels::sigmoid_forward(y, xf);
      REQUIRE_CLOSE(y, sr, 1e-7, 1e-6);
      auto h = Tensor<float>::uninitialized(s);
      kernels::hard_sigmoid_forward(h, xf, alpha, beta);
      require_bounded(h, hr, hm, 1, "hard_sigmoid fwd");
      auto dh = Tensor<float>::uninitialized(s), dhr = Tensor<float>::uninitialized(s);
      kernels::hard_sigmoid_backward(dh, dy, xf, alpha, beta);
      ref::hard_sigmoid_backward(dhr, dy, xf, alpha, beta);
      REQUIRE(bitwise_equal(dh, dhr));  // random inputs: no element on a kink
      return y;
    });
  }
}

TEST_CASE("fast erf and gelu match the double reference to a few ulp at 1, 2, 3 threads", "[kernels][fast][pointwise]") {
  // xsimd's erf and exp: relative 1e-6 (plus 1e-7 absolute near the zeros) against the double
  // reference on the same float inputs; NaN and the infinities as std::erf does
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  for (std::int64_t n : {1, 15, 37, 32768 + 45}) {
    INFO("numel " << n);
    auto x = random_tensor<float>(Shape{n}, 14, -6, 6);
    const auto dy = random_tensor<float>(Shape{n}, 15);
    const Shape s{n};
    Tensor<double> er(s), ebr(s), gr(s), gbr(s);
    ref::erf_forward(er, to_double(x));
    ref::erf_backward(ebr, to_double(dy), to_double(x));
    ref::gelu_forward(gr, to_double(x));
    ref::gelu_backward(gbr, to_double(dy), to_double(x));
    require_thread_invariant([&] {
      auto e = Tensor<float>::full(s, 1e30f), eb = e.clone(), g = e.clone(), gb = e.clone();
      kernels::erf_forward(e, x);
      kernels::erf_backward(eb, dy, x);
      kernels::gelu_forward(g, x);
      kernels::gelu_backward(gb, dy, x);
      REQUIRE_CLOSE(e, er, 1e-7, 1e-6);
      REQUIRE_CLOSE(eb, ebr, 1e-7, 1e-6);
      REQUIRE_CLOSE(g, gr, 1e-7, 1e-6);
      REQUIRE_CLOSE(gb, gbr, 1e-7, 1e-6);
      return g;
    });
    // specials in the SIMD body and the tail
    const float special[] = {nan, -inf, inf, -0.0f, 0.0f, 12.0f, -12.0f};
    const std::int64_t spots[] = {0, 3, 9, 17, 32768 + 2, 32768 + 40, n - 1};
    for (int k = 0; k < 7; ++k)
      if (spots[k] < n) x[spots[k]] = special[k];
    auto e = Tensor<float>::uninitialized(s), g = e.clone();
    kernels::erf_forward(e, x);
    kernels::gelu_forward(g, x);
    for (int k = 0; k < 7; ++k) {
      if (spots[k] >= n) continue;
      const std::int64_t i = spots[k];
      INFO("x = " << x[i]);
      const float want_e = std::erf(x[i]);
      REQUIRE((std::isnan(want_e) ? std::isnan(e[i]) : e[i] == want_e));
      if (std::isnan(x[i])) REQUIRE(std::isnan(g[i]));
      if (x[i] == inf) REQUIRE(g[i] == inf);
      if (x[i] == 12.0f) REQUIRE(g[i] == 12.0f);
      if (x[i] == -12.0f || x[i] == 0.0f) REQUIRE(g[i] == 0.0f);
    }
  }
}

TEST_CASE("fast silu matches the double reference at 1, 2, 3 threads; its forward is sigmoid then multiply, bit for bit",
          "[kernels][fast][pointwise]") {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  for (std::int64_t n : {1, 15, 37, 32768 + 45}) {
    INFO("numel " << n);
    auto x = random_tensor<float>(Shape{n}, 16, -12, 12);
    const auto dy = random_tensor<float>(Shape{n}, 17);
    const Shape s{n};
    Tensor<double> yr(s), dr(s);
    ref::silu_forward(yr, to_double(x));
    ref::silu_backward(dr, to_double(dy), to_double(x));
    require_thread_invariant([&] {
      auto y = Tensor<float>::full(s, 1e30f), d = y.clone();
      kernels::silu_forward(y, x);
      kernels::silu_backward(d, dy, x);
      REQUIRE_CLOSE(y, yr, 1e-7, 1e-6);
      REQUIRE_CLOSE(d, dr, 1e-7, 2e-6);
      return d;
    });
    // specials in the SIMD body and the tail
    const float special[] = {nan, -inf, inf, -0.0f, 0.0f, 100.0f, -100.0f};
    const std::int64_t spots[] = {0, 3, 9, 17, 32768 + 2, 32768 + 40, n - 1};
    for (int k = 0; k < 7; ++k)
      if (spots[k] < n) x[spots[k]] = special[k];
    auto y = Tensor<float>::uninitialized(s), sig = y.clone(), prod = y.clone();
    kernels::silu_forward(y, x);
    kernels::sigmoid_forward(sig, x);
    for (std::int64_t i = 0; i < n; ++i) prod[i] = x[i] * sig[i];
    REQUIRE(bitwise_equal(y, prod));  // NaN included: x * NaN-or-not the same bits
    for (int k = 0; k < 7; ++k) {
      if (spots[k] >= n) continue;
      const std::int64_t i = spots[k];
      INFO("x = " << x[i]);
      if (std::isnan(x[i])) REQUIRE(std::isnan(y[i]));
      if (x[i] == inf) REQUIRE(y[i] == inf);
      if (x[i] == 100.0f) REQUIRE(y[i] == 100.0f);
      if (x[i] == -100.0f || x[i] == 0.0f) REQUIRE(y[i] == 0.0f);
    }
  }
}

TEST_CASE("fast matmul matches the reference within the reduction bound at 1, 2, 3 threads", "[kernels][fast][matmul]") {
  struct Case { Shape a, b; };
  for (const auto& c : {Case{{1, 1}, {1, 1}}, Case{{7, 13}, {13, 5}}, Case{{3, 17, 9}, {1, 9, 11}},  // aligned ranks: the kernels' precondition
                        Case{{2, 1, 5, 7}, {1, 3, 7, 4}}, Case{{1, 300, 37}, {2, 37, 19}},  // several row tiles
                        Case{{2, 3, 33, 65}, {2, 3, 65, 31}},
                        Case{{197, 1, 24}, {1, 24, 40}}, Case{{3, 2, 70, 5}, {1, 1, 5, 6}},  // one b: batches fold
                        Case{{2, 130, 21}, {1, 21, 150}}, Case{{3, 97, 80}, {3, 80, 70}}}) {  // panels with tails
    INFO("a " << c.a.str() << " b " << c.b.str());
    const Shape ys = kernels::matmul_output_shape(c.a, c.b, c.a, c.b);
    const auto a = random_tensor<float>(c.a, 11), b = random_tensor<float>(c.b, 12), dy = random_tensor<float>(ys, 13);
    const int r = ys.rank();
    const std::int64_t M = ys[r - 2], N = ys[r - 1], K = c.a[r - 1];
    Shape das, dbs;
    for (int i = 0; i < r - 2; ++i) {
      das.push(ys[i]);
      dbs.push(ys[i]);
    }
    das.push(M), das.push(K), dbs.push(K), dbs.push(N);
    Tensor<double> yr(ys), ym(ys), dar(das), dam(das), dbr(dbs), dbm(dbs);
    ref::matmul_forward(yr, to_double(a), to_double(b));
    ref::matmul_forward(ym, abs_of(a), abs_of(b));
    ref::matmul_backward_a(dar, to_double(dy), to_double(b));
    ref::matmul_backward_a(dam, abs_of(dy), abs_of(b));
    ref::matmul_backward_b(dbr, to_double(dy), to_double(a));
    ref::matmul_backward_b(dbm, abs_of(dy), abs_of(a));
    const auto y_plain = require_thread_invariant([&] {
      auto y = Tensor<float>::full(ys, 1e30f);
      kernels::matmul_forward(y, a, b);
      require_bounded(y, yr, ym, static_cast<double>(K), "forward");
      return y;
    });
    // with a bias fused into the store: the product, rounded, plus the bias, rounded
    const auto bias = random_tensor<float>(Shape{N}, 14);
    require_thread_invariant([&] {
      auto y = Tensor<float>::full(ys, 1e30f);
      kernels::matmul_forward(y, a, b, bias.data());
      for (std::int64_t i = 0; i < y.numel(); ++i) REQUIRE(y[i] == y_plain[i] + bias[i % N]);
      return y;
    });
    require_thread_invariant([&] {
      auto da = Tensor<float>::full(das, 1e30f);
      kernels::matmul_backward_a(da, dy, b);
      require_bounded(da, dar, dam, static_cast<double>(N), "backward a");
      return da;
    });
    require_thread_invariant([&] {
      auto db = Tensor<float>::full(dbs, 1e30f);
      kernels::matmul_backward_b(db, dy, a);
      require_bounded(db, dbr, dbm, static_cast<double>(M), "backward b");
      return db;
    });
    // one b for every batch and a not broadcast: b's gradient summed over the batches by one GEMM
    const std::int64_t batches = dbs.numel() / (K * N);
    if (batches == 1 || c.b.numel() != K * N || c.a.numel() != batches * M * K) continue;
    Tensor<double> dbr1(Shape{K, N}), dbm1(Shape{K, N});
    for (std::int64_t t = 0; t < batches; ++t)
      for (std::int64_t i = 0; i < K * N; ++i) {
        dbr1.data()[i] += dbr.data()[t * K * N + i];
        dbm1.data()[i] += dbm.data()[t * K * N + i];
      }
    require_thread_invariant([&] {
      auto db = Tensor<float>::full(Shape{K, N}, 1e30f);
      kernels::matmul_backward_b_shared(db, dy, a);
      require_bounded(db, dbr1, dbm1, static_cast<double>(M * batches), "backward b, shared");
      return db;
    });
  }
}

TEST_CASE("layout kernels move elements where their definitions say, at 1, 2, 3 threads", "[kernels][layout]") {
  // concat along each axis of an odd rank-4 shape, then its parts back
  const Shape base{3, 5, 7, 2};
  for (int axis = 0; axis < 4; ++axis) {
    INFO("axis " << axis);
    std::vector<Tensor<float>> xs;
    std::vector<std::int64_t> ext = {2, 1, 3};
    for (std::size_t i = 0; i < ext.size(); ++i) {
      Shape s;
      for (int d = 0; d < 4; ++d) s.push(d == axis ? ext[i] : base[d]);
      xs.push_back(random_tensor<float>(s, 20 + i));
    }
    std::vector<const Tensor<float>*> ptrs = {&xs[0], &xs[1], &xs[2]};
    Shape ys;
    for (int d = 0; d < 4; ++d) ys.push(d == axis ? 6 : base[d]);
    require_thread_invariant([&] {
      auto y = Tensor<float>::full(ys, 1e30f);
      kernels::concat<float>(y, ptrs, axis);
      for (std::int64_t i = 0; i < y.numel(); ++i) {  // by index arithmetic
        std::int64_t idx[4], rem = i;
        for (int d = 3; d >= 0; --d) idx[d] = rem % ys[d], rem /= ys[d];
        std::size_t k = 0;
        while (idx[axis] >= ext[k]) idx[axis] -= ext[k++];
        REQUIRE(y[i] == xs[k](idx[0], idx[1], idx[2], idx[3]));
      }
      std::int64_t off = 0;
      for (std::size_t k = 0; k < xs.size(); ++k) {
        auto part = Tensor<float>::full(xs[k].shape(), 1e30f);
        kernels::concat_part(part, y, axis, off);
        REQUIRE(bitwise_equal(part, xs[k]));
        off += ext[k];
      }
      return y;
    });
  }
  // transpose: y(i_perm) = x(i); the second shape's strided rows are longer than one strip of
  // the kernel (16) and not a multiple of it
  const auto x = random_tensor<float>(Shape{3, 5, 7, 9}, 30);
  for (const auto& xt : {x, random_tensor<float>(Shape{2, 37, 3, 19}, 31)}) {
    for (const std::vector<std::int64_t>& perm : {std::vector<std::int64_t>{0, 2, 3, 1}, {3, 2, 1, 0}, {1, 0, 3, 2}, {0, 1, 2, 3}, {2, 3, 1, 0}}) {
      Shape ys;
      for (auto p : perm) ys.push(xt.dim(static_cast<int>(p)));
      require_thread_invariant([&] {
        auto y = Tensor<float>::full(ys, 1e30f);
        kernels::transpose<float>(y, xt, perm);
        for (std::int64_t i = 0; i < xt.numel(); ++i) {
          std::int64_t idx[4], rem = i;
          for (int d = 3; d >= 0; --d) idx[d] = rem % xt.dim(d), rem /= xt.dim(d);
          REQUIRE(y(idx[perm[0]], idx[perm[1]], idx[perm[2]], idx[perm[3]]) == xt[i]);
        }
        return y;
      });
    }
  }
  // strided gather / scatter: y(i) = x(start + i * step)
  const std::array<std::int64_t, 4> start{1, 0, 2, 1}, step{1, 2, 2, 3};
  const Shape gs{2, 3, 3, 3};
  require_thread_invariant([&] {
    auto y = Tensor<float>::full(gs, 1e30f);
    kernels::strided_gather(y, x, start, step);
    auto back = Tensor<float>::full(x.shape(), -1.0f);
    kernels::strided_scatter(back, y, start, step);
    for (std::int64_t a = 0; a < 2; ++a)
      for (std::int64_t b = 0; b < 3; ++b)
        for (std::int64_t c = 0; c < 3; ++c)
          for (std::int64_t d = 0; d < 3; ++d) {
            const float v = x(1 + a, 2 * b, 2 + 2 * c, 1 + 3 * d);
            REQUIRE(y(a, b, c, d) == v);
            REQUIRE(back(1 + a, 2 * b, 2 + 2 * c, 1 + 3 * d) == v);
          }
    std::int64_t untouched = 0;
    for (auto v : back) untouched += v == -1.0f;
    REQUIRE(untouched == x.numel() - gs.numel());
    // scatter-add: the strided elements gain y, the others keep their value
    auto sum = Tensor<float>::full(x.shape(), 0.5f);
    kernels::strided_scatter_add(sum, y, start, step);
    kernels::strided_scatter_add(sum, y, start, step);
    std::int64_t kept = 0;
    for (auto v : sum) kept += v == 0.5f;
    REQUIRE(kept == x.numel() - gs.numel());
    for (std::int64_t a = 0; a < 2; ++a)
      for (std::int64_t b = 0; b < 3; ++b)
        for (std::int64_t c = 0; c < 3; ++c)
          for (std::int64_t d = 0; d < 3; ++d)
            REQUIRE(sum(1 + a, 2 * b, 2 + 2 * c, 1 + 3 * d) == (0.5f + y(a, b, c, d)) + y(a, b, c, d));
    return sum;
  });
}

TEST_CASE("softmax along a middle axis: float against double", "[kernels][softmax]") {
  const auto x = random_tensor<float>(Shape{3, 7, 5, 2}, 40, -10, 10);
  for (int axis : {0, 1, 2, 3}) {
    INFO("axis " << axis);
    auto y = Tensor<float>::uninitialized(x.shape()), ly = Tensor<float>::uninitialized(x.shape());
    Tensor<double> yr(x.shape()), lyr(x.shape());
    kernels::softmax_axis(y, x, axis);
    kernels::log_softmax_axis(ly, x, axis);
    kernels::softmax_axis(yr, to_double(x), axis);
    kernels::log_softmax_axis(lyr, to_double(x), axis);
    REQUIRE_CLOSE(y, yr, 1e-7, 1e-5);
    REQUIRE_CLOSE(ly, lyr, 1e-6, 1e-5);
  }
}
