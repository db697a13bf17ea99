// The fast float kernels (everything but the 3x3/s1/p1 Winograd path) against their reference
// twins in kernels/reference/.
//
// Error bounds. A fast result that is a sum of L products is compared with the double-precision
// reference on the same (float) inputs, element by element:
//     |fast - ref| <= 2 (L + 2) u sum|terms|,   u = 2^-24 (float unit roundoff),
// where sum|terms| is the reference run on |inputs| (so it is per element) and L is the
// reduction length: Ci*KH*KW (+ bias) for conv forward, Co*KH*KW for backward-data,
// N*OH*OW for backward-weights, In / Out / N for the three linear kernels. This is the
// classical worst-case bound gamma_L with a factor 2 of slack; no reassociation can exceed it.
// Max-pool, ReLU and adaptive average pooling do no reassociation: they must equal the float
// reference bit for bit (NaN and argmax included). Softmax uses xsimd's exp (a few ulp):
// relative 1e-5 against double.
//
// Threads: every fast kernel cuts its work by shape only and computes each output in one
// task, with no cross-thread reduction, so 1 and 2 OpenMP threads must agree bit for bit
// (conv fwd/bwd-data/bwd-weights, linear x3, pools, relu, softmax).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "gradattr/kernels/activation.hpp"
#include "gradattr/kernels/conv2d.hpp"
#include "gradattr/kernels/dense.hpp"
#include "gradattr/kernels/fast/conv_gemm.hpp"
#include "gradattr/kernels/layer_norm.hpp"
#include "gradattr/kernels/pool.hpp"
#include "gradattr/kernels/softmax.hpp"
#include "support/testing.hpp"

using namespace gradattr;
namespace ref = gradattr::kernels::reference;
namespace fast = gradattr::kernels::fast;
using gradattr::testing::bitwise_equal;
using gradattr::testing::random_tensor;

namespace {

constexpr double kU = 1.0 / (1 << 24);

Tensor<double> to_double(const Tensor<float>& t) { return t.empty() ? Tensor<double>() : t.cast<double>(); }
Tensor<double> abs_of(const Tensor<float>& t) {
  Tensor<double> a = to_double(t);
  for (auto& v : a) v = std::abs(v);
  return a;
}

// |got - want| <= 2 (L + 2) u mag, element-wise.
void require_bounded(const Tensor<float>& got, const Tensor<double>& want, const Tensor<double>& mag, double L,
                     const std::string& what) {
  INFO(what);
  REQUIRE(got.shape() == want.shape());
  double worst = 0;
  std::int64_t worst_i = -1;
  for (std::int64_t i = 0; i < got.numel(); ++i) {
    const double err = std::abs(static_cast<double>(got[i]) - want[i]);
    const double bound = 2 * (L + 2) * kU * mag[i] + 1e-30;
    if (!(err <= bound) && (worst_i < 0 || err / bound > worst)) {
      worst = err / bound;
      worst_i = i;
    }
  }
  INFO("worst element " << worst_i << ": " << (worst_i >= 0 ? got[worst_i] : 0.0f) << " vs "
                        << (worst_i >= 0 ? want[worst_i] : 0.0) << ", " << worst << "x the bound");
  REQUIRE(worst_i < 0);
}

void set_threads(int n) {
#ifdef _OPENMP
  omp_set_num_threads(n);
#else
  (void)n;
#endif
}

// Runs f at 1 and at 2 threads, restoring the default.
template <class F>
void at_1_and_2_threads(F&& f) {
#ifdef _OPENMP
  const int saved = omp_get_max_threads();
#else
  const int saved = 1;
#endif
  set_threads(1);
  f(0);
  set_threads(2);
  f(1);
  set_threads(saved);
}

struct ConvCase {
  Shape x, w;
  kernels::Conv2dParams p;
  bool bias;
};

std::string describe(const ConvCase& c) {
  return "x " + c.x.str() + " w " + c.w.str() + " stride " + std::to_string(c.p.stride_h) + "x" +
         std::to_string(c.p.stride_w) + " pad " + std::to_string(c.p.pad_h) + "x" + std::to_string(c.p.pad_w);
}

std::vector<ConvCase> conv_cases() {
  return {
      {{1, 1, 9, 11}, {1, 1, 1, 1}, {1, 1, 0, 0}, true},     // pointwise, 1 channel
      {{3, 17, 13, 10}, {5, 17, 1, 1}, {1, 1, 0, 0}, true},  // pointwise, batch 3
      {{2, 3, 15, 13}, {4, 3, 1, 1}, {2, 2, 0, 0}, false},   // 1x1 stride 2 (im2col path)
      {{1, 3, 17, 19}, {17, 3, 2, 2}, {2, 2, 0, 0}, true},
      {{3, 17, 19, 23}, {5, 17, 3, 3}, {1, 1, 1, 1}, true},  // VGG-like 3x3/s1/p1
      {{1, 64, 11, 13}, {3, 64, 3, 3}, {2, 2, 1, 1}, true},
      {{3, 3, 21, 18}, {17, 3, 3, 3}, {1, 1, 0, 0}, false},
      {{1, 17, 17, 15}, {3, 17, 5, 5}, {1, 1, 2, 2}, true},
      {{3, 1, 23, 20}, {3, 1, 5, 5}, {2, 2, 2, 2}, true},
      {{1, 3, 29, 31}, {64, 3, 7, 7}, {2, 2, 2, 2}, true},   // ResNet-stem-like
      {{1, 3, 15, 17}, {2, 3, 7, 7}, {1, 1, 0, 0}, false},
      {{3, 3, 12, 17}, {4, 3, 3, 2}, {2, 1, 1, 0}, true},    // mixed strides and pads
      {{1, 2, 4, 5}, {3, 2, 5, 3}, {1, 2, 2, 1}, true},      // kernel taller than the input
      {{1, 64, 100, 100}, {2, 64, 3, 3}, {1, 1, 1, 1}, true},  // several row chunks per image
      {{5, 64, 48, 48}, {2, 64, 3, 3}, {1, 1, 1, 1}, false},   // chunks of several images
      {{2, 512, 5, 6}, {3, 512, 3, 3}, {1, 1, 1, 1}, true},    // K = 4608: dw without partials
      {{1, 96, 7, 9}, {200, 96, 1, 1}, {1, 1, 0, 0}, true},    // many channels, small map (ResNet layer3/4-like)
      {{2, 40, 9, 8}, {150, 40, 1, 1}, {2, 2, 0, 0}, false},   // the same through im2col, 2 images
      // 2 groups of 110 output channels (2 row blocks each) over 143 columns (panels 64, 64, 15)
      {{2, 8, 11, 13}, {220, 4, 1, 1}, {1, 1, 0, 0, -1, -1, 1, 1, 2}, true},
  };
}

}  // namespace

TEST_CASE("fast conv2d (im2col + GEMM) matches the reference within the reduction bound", "[kernels][fast]") {
  for (const auto& c : conv_cases()) {
    INFO(describe(c));
    const auto x = random_tensor<float>(c.x, 11), w = random_tensor<float>(c.w, 12);
    const auto b = c.bias ? random_tensor<float>(Shape{c.w[0]}, 13) : Tensor<float>();
    const Shape ys = kernels::conv2d_output_shape(c.x, c.w, c.p);
    const auto dy = random_tensor<float>(ys, 14);
    const double KHW = static_cast<double>(c.w[2] * c.w[3]);

    // forward
    auto y = Tensor<float>::uninitialized(ys);
    fast::conv2d_gemm_forward(y, x, w, b, c.p);
    Tensor<double> yr(ys), ym(ys);
    ref::conv2d_forward(yr, to_double(x), to_double(w), to_double(b), c.p);
    ref::conv2d_forward(ym, abs_of(x), abs_of(w), abs_of(b), c.p);
    require_bounded(y, yr, ym, static_cast<double>(c.x[1]) * KHW + 1, "forward");

    // backward-data
    auto dx = Tensor<float>::full(c.x, 1e30f);  // garbage: must be assigned
    fast::conv2d_gemm_backward_data(dx, dy, w, c.p);
    Tensor<double> dxr(c.x), dxm(c.x);
    ref::conv2d_backward_data(dxr, to_double(dy), to_double(w), c.p);
    ref::conv2d_backward_data(dxm, abs_of(dy), abs_of(w), c.p);
    require_bounded(dx, dxr, dxm, static_cast<double>(c.w[0]) * KHW, "backward-data");

    // backward-weights (with and without db)
    auto dw = Tensor<float>::full(c.w, 1e30f);
    auto db = Tensor<float>::full(Shape{c.w[0]}, 1e30f);
    Tensor<float> no_db;
    fast::conv2d_gemm_backward_weights(dw, c.bias ? db : no_db, dy, x, c.p);
    Tensor<double> dwr(c.w), dwm(c.w), dbr(Shape{c.w[0]}), dbm(Shape{c.w[0]});
    ref::conv2d_backward_weights(dwr, dbr, to_double(dy), to_double(x), c.p);
    ref::conv2d_backward_weights(dwm, dbm, abs_of(dy), abs_of(x), c.p);
    const double L = static_cast<double>(ys[0] * ys[2] * ys[3]);
    require_bounded(dw, dwr, dwm, L, "backward-weights dw");
    if (c.bias) require_bounded(db, dbr, dbm, L, "backward-weights db");
  }
}

TEST_CASE("conv2d entry points run the fast path for float and the reference for double", "[kernels][fast]") {
  // A 5x5 convolution: not the 3x3 path, so dispatch reaches the im2col kernels.
  const ConvCase c{{2, 3, 11, 9}, {4, 3, 5, 5}, {1, 1, 2, 2}, true};
  const auto x = random_tensor<float>(c.x, 1), w = random_tensor<float>(c.w, 2), b = random_tensor<float>(Shape{4}, 3);
  const Shape ys = kernels::conv2d_output_shape(c.x, c.w, c.p);
  auto y = Tensor<float>::uninitialized(ys), y_fast = Tensor<float>::uninitialized(ys);
  kernels::conv2d_forward(y, x, w, b, c.p);
  fast::conv2d_gemm_forward(y_fast, x, w, b, c.p);
  REQUIRE(bitwise_equal(y, y_fast));
  Tensor<double> yd(ys), yr(ys);
  kernels::conv2d_forward(yd, to_double(x), to_double(w), to_double(b), c.p);
  ref::conv2d_forward(yr, to_double(x), to_double(w), to_double(b), c.p);
  REQUIRE(std::memcmp(yd.data(), yr.data(), sizeof(double) * static_cast<std::size_t>(yd.numel())) == 0);
}

TEST_CASE("fast conv2d gives bitwise the same result at 1 and 2 threads", "[kernels][fast][threads]") {
  for (const auto& c : {conv_cases()[4], conv_cases()[9], conv_cases()[13], conv_cases()[14], conv_cases()[1],
                        conv_cases()[15], conv_cases()[16], conv_cases()[17], conv_cases()[18]}) {
    INFO(describe(c));
    const auto x = random_tensor<float>(c.x, 21), w = random_tensor<float>(c.w, 22), b = random_tensor<float>(Shape{c.w[0]}, 23);
    const Shape ys = kernels::conv2d_output_shape(c.x, c.w, c.p);
    const auto dy = random_tensor<float>(ys, 24);
    Tensor<float> y[2], dx[2], dw[2], db[2];
    at_1_and_2_threads([&](int i) {
      y[i] = Tensor<float>::uninitialized(ys);
      dx[i] = Tensor<float>::uninitialized(c.x);
      dw[i] = Tensor<float>::uninitialized(c.w);
      db[i] = Tensor<float>::uninitialized(Shape{c.w[0]});
      fast::conv2d_gemm_forward(y[i], x, w, b, c.p);
      fast::conv2d_gemm_backward_data(dx[i], dy, w, c.p);
      fast::conv2d_gemm_backward_weights(dw[i], db[i], dy, x, c.p);
    });
    REQUIRE(bitwise_equal(y[0], y[1]));
    REQUIRE(bitwise_equal(dx[0], dx[1]));
    REQUIRE(bitwise_equal(dw[0], dw[1]));
    REQUIRE(bitwise_equal(db[0], db[1]));
  }
}

namespace {

// Max-pool inputs with many ties (values from a set of 3) and NaN / -inf / +inf at chosen
// input positions.
Tensor<float> tie_tensor(const Shape& s, std::uint64_t seed) {
  auto t = random_tensor<float>(s, seed, 0.0, 3.0);
  for (auto& v : t) v = std::floor(v);
  return t;
}

void check_pool(const Tensor<float>& x, const kernels::Pool2dParams& p) {
  const Shape ys = kernels::pool2d_output_shape(x.shape(), p);
  auto y = Tensor<float>::uninitialized(ys), yr = Tensor<float>::uninitialized(ys);
  auto a = Tensor<std::int32_t>::uninitialized(ys), ar = Tensor<std::int32_t>::uninitialized(ys);
  kernels::max_pool2d_forward(y, a, x, p);
  ref::max_pool2d_forward(yr, ar, x, p);
  REQUIRE(std::memcmp(y.data(), yr.data(), sizeof(float) * static_cast<std::size_t>(y.numel())) == 0);
  REQUIRE(bitwise_equal(a, ar));
  // The narrower instruction sets this build also supports: 8-lane body and tail (AVX2), and
  // the scalar rule alone (SSE: no float swizzle in xsimd 8).
  auto check_arch = [&](auto arch) {
    auto y2 = Tensor<float>::uninitialized(ys);
    auto a2 = Tensor<std::int32_t>::uninitialized(ys);
    fast::max_pool2d_forward<decltype(arch)>(y2, a2, x, p);
    REQUIRE(std::memcmp(y2.data(), yr.data(), sizeof(float) * static_cast<std::size_t>(y2.numel())) == 0);
    REQUIRE(bitwise_equal(a2, ar));
  };
#if XSIMD_WITH_AVX2
  check_arch(xsimd::avx2{});
#endif
#if XSIMD_WITH_SSE2
  check_arch(xsimd::sse2{});
#endif
  const auto dy = random_tensor<float>(ys, 99);
  auto dx = Tensor<float>::full(x.shape(), 1e30f), dxr = Tensor<float>::uninitialized(x.shape());
  kernels::max_pool2d_backward(dx, dy, a);
  ref::max_pool2d_backward(dxr, dy, ar);
  REQUIRE(bitwise_equal(dx, dxr));
}

}  // namespace

TEST_CASE("fast max_pool2d equals the reference bit for bit: ties, NaN in SIMD body and tail", "[kernels][fast][pool]") {
  using P = kernels::Pool2dParams;
  // Output rows of 7 and 14 (shorter than an AVX-512 batch: all padded tail), 18/19 (a batch
  // and a tail), 33 (two batches and a tail) for 2x2/s2; odd and even H, W for the others.
  const std::vector<Shape> shapes = {{1, 1, 2, 2},    {1, 3, 7, 9},     {3, 17, 37, 38}, {1, 64, 35, 67},
                                     {2, 3, 64, 65},  {1, 5, 28, 28},   {1, 3, 14, 15},  {1, 3, 16, 20}};
  const std::vector<P> params = {P{2, 2, 2, 2, 0, 0}, P{3, 3, 2, 2, 1, 1}, P{2, 2, 1, 1, 0, 0}, P{3, 2, 3, 1, 1, 1},
                                 P{5, 5, 2, 2, 2, 2}, P{2, 3, 2, 2, 0, 1}};
  for (const auto& s : shapes)
    for (const auto& p : params) {
      if (s[2] + 2 * p.pad_h < p.kernel_h || s[3] + 2 * p.pad_w < p.kernel_w) continue;
      INFO("x " << s.str() << " kernel " << p.kernel_h << "x" << p.kernel_w << " stride " << p.stride_h << "x"
                << p.stride_w << " pad " << p.pad_h << "x" << p.pad_w);
      auto x = tie_tensor(s, 5);
      check_pool(x, p);
      // Specials: with W = 37 or 38 and 2x2/s2, OW = 18 or 19: windows 0..15 are one AVX-512
      // body (0..7 and 8..15 for AVX2), 16.. the scalar tail. Columns 0, 1 (window 0), 5, 31
      // (body) and 33, 35, 36 (tail), in both rows of a window; several NaNs in one window.
      const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
      const std::int64_t H = s[2], W = s[3];
      const std::vector<std::pair<std::int64_t, std::int64_t>> spots = {{0, 0}, {0, 1}, {1, 5},  {2, 31}, {3, 31},
                                                                        {0, 33}, {1, 35}, {1, 36}, {5, 3}, {4, 20}};
      for (std::int64_t nc = 0; nc < s[0] * s[1]; nc += 2) {
        int k = 0;
        for (auto [h, w] : spots) {
          if (h < H && w < W) x[(nc * H + h) * W + w] = (k % 3 == 0) ? -inf : (k % 3 == 1 ? nan : inf);
          ++k;
        }
        if (H > 1 && W > 1) x[(nc * H + 1) * W + 1] = -nan;  // two NaNs in window (0, 0): the last wins
      }
      check_pool(x, p);
      // All -inf planes: the first element of each window wins.
      auto m = Tensor<float>::full(s, -inf);
      check_pool(m, p);
    }
}

TEST_CASE("fast adaptive_avg_pool2d equals the reference bit for bit", "[kernels][fast][pool]") {
  struct Case { Shape x; std::int64_t oh, ow; };
  for (const auto& c : {Case{{2, 17, 7, 7}, 7, 7}, Case{{1, 3, 14, 21}, 7, 7}, Case{{3, 1, 10, 13}, 7, 7},
                        Case{{1, 64, 5, 3}, 7, 7}, Case{{2, 3, 9, 11}, 1, 1}, Case{{1, 2, 6, 5}, 4, 2}}) {
    INFO("x " << c.x.str() << " -> " << c.oh << "x" << c.ow);
    const auto x = random_tensor<float>(c.x, 7);
    const Shape ys = kernels::adaptive_pool2d_output_shape(c.x, c.oh, c.ow);
    auto y = Tensor<float>::uninitialized(ys), yr = Tensor<float>::uninitialized(ys);
    kernels::adaptive_avg_pool2d_forward(y, x);
    ref::adaptive_avg_pool2d_forward(yr, x);
    REQUIRE(bitwise_equal(y, yr));
    const auto dy = random_tensor<float>(ys, 8);
    auto dx = Tensor<float>::full(c.x, 1e30f), dxr = Tensor<float>::uninitialized(c.x);
    kernels::adaptive_avg_pool2d_backward(dx, dy);
    ref::adaptive_avg_pool2d_backward(dxr, dy);
    REQUIRE(bitwise_equal(dx, dxr));
  }
}

TEST_CASE("fast relu equals the reference bit for bit, NaN in SIMD body and tail", "[kernels][fast][relu]") {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  // 37: one body batch (16 or 8 lanes) plus a tail; 32768 + 45: a second block with its own tail.
  for (std::int64_t n : {1, 15, 37, 32768 + 45}) {
    INFO("numel " << n);
    auto x = random_tensor<float>(Shape{n}, 3);
    auto y = random_tensor<float>(Shape{n}, 4);  // a forward output for the backward: some zeros and NaNs too
    const std::vector<std::int64_t> spots = {0, 3, 9, 17, 33, 34, 36, 32768 + 2, 32768 + 40, n - 1};
    int k = 0;
    for (auto i : spots)
      if (i < n) {
        const float v[] = {nan, -nan, -0.0f, 0.0f, inf, -inf};
        x[i] = v[k % 6];
        y[i] = v[(k + 1) % 6];
        ++k;
      }
    for (std::int64_t i = 0; i < n; i += 7) y[i] = 0.0f;
    auto out = Tensor<float>::uninitialized(x.shape()), out_r = Tensor<float>::uninitialized(x.shape());
    kernels::relu_forward(out, x);
    ref::relu_forward(out_r, x);
    REQUIRE(bitwise_equal(out, out_r));
#if XSIMD_WITH_AVX2
    fast::relu_forward<xsimd::avx2>(out, x);  // 8-lane body and tail
    REQUIRE(bitwise_equal(out, out_r));
#endif
    const auto dy = random_tensor<float>(Shape{n}, 5);
    auto dx = Tensor<float>::uninitialized(x.shape()), dx_r = Tensor<float>::uninitialized(x.shape());
    kernels::relu_backward(dx, dy, y);
    ref::relu_backward(dx_r, dy, y);
    REQUIRE(bitwise_equal(dx, dx_r));
    // NaN gradients propagate where y > 0, as the reference
    auto dy_nan = dy.clone();
    for (auto i : spots)
      if (i < n) dy_nan[i] = nan;
    kernels::relu_backward(dx, dy_nan, y);
    ref::relu_backward(dx_r, dy_nan, y);
    REQUIRE(bitwise_equal(dx, dx_r));
  }
}

TEST_CASE("fast linear matches the reference within the reduction bound", "[kernels][fast][dense]") {
  struct Case { std::int64_t N, In, Out; bool bias; };
  for (const auto& c : {Case{1, 37, 19, true}, Case{3, 100, 300, false}, Case{1, 1500, 700, true},
                        Case{3, 2049, 517, true}, Case{17, 64, 1, true},
                        Case{197, 70, 130, true}, Case{16, 150, 65, false}}) {  // token-like rows
    INFO("N " << c.N << " In " << c.In << " Out " << c.Out);
    const auto x = random_tensor<float>(Shape{c.N, c.In}, 1), w = random_tensor<float>(Shape{c.Out, c.In}, 2);
    const auto b = c.bias ? random_tensor<float>(Shape{c.Out}, 3) : Tensor<float>();
    const auto dy = random_tensor<float>(Shape{c.N, c.Out}, 4);
    auto y = Tensor<float>::uninitialized(Shape{c.N, c.Out});
    kernels::linear_forward(y, x, w, b);
    Tensor<double> yr(y.shape()), ym(y.shape());
    ref::linear_forward(yr, to_double(x), to_double(w), to_double(b));
    ref::linear_forward(ym, abs_of(x), abs_of(w), abs_of(b));
    require_bounded(y, yr, ym, static_cast<double>(c.In) + 1, "forward");

    auto dx = Tensor<float>::full(x.shape(), 1e30f);
    kernels::linear_backward_data(dx, dy, w);
    Tensor<double> dxr(x.shape()), dxm(x.shape());
    ref::linear_backward_data(dxr, to_double(dy), to_double(w));
    ref::linear_backward_data(dxm, abs_of(dy), abs_of(w));
    require_bounded(dx, dxr, dxm, static_cast<double>(c.Out), "backward-data");

    auto dw = Tensor<float>::full(w.shape(), 1e30f), db = Tensor<float>::full(Shape{c.Out}, 1e30f);
    Tensor<float> no_db;
    kernels::linear_backward_weights(dw, c.bias ? db : no_db, dy, x);
    Tensor<double> dwr(w.shape()), dwm(w.shape()), dbr(Shape{c.Out}), dbm(Shape{c.Out});
    ref::linear_backward_weights(dwr, dbr, to_double(dy), to_double(x));
    ref::linear_backward_weights(dwm, dbm, abs_of(dy), abs_of(x));
    require_bounded(dw, dwr, dwm, static_cast<double>(c.N), "backward-weights dw");
    if (c.bias) require_bounded(db, dbr, dbm, static_cast<double>(c.N), "backward-weights db");

    Tensor<float> yt[2], dxt[2];  // one task per output element: the thread count changes no bit
    at_1_and_2_threads([&](int i) {
      yt[i] = Tensor<float>::uninitialized(y.shape());
      dxt[i] = Tensor<float>::uninitialized(x.shape());
      kernels::linear_forward(yt[i], x, w, b);
      kernels::linear_backward_data(dxt[i], dy, w);
    });
    REQUIRE(bitwise_equal(yt[0], yt[1]));
    REQUIRE(bitwise_equal(dxt[0], dxt[1]));
  }
}

TEST_CASE("fast softmax and log_softmax match the reference; extreme rows stay finite", "[kernels][fast][softmax]") {
  const float big = 1e30f;
  for (std::int64_t C : {1, 7, 33, 1000}) {
    INFO("C " << C);
    // Ordinary rows (random in [-20, 20), all equal) against the double reference.
    auto x = random_tensor<float>(Shape{3, C}, 6, -20, 20);
    for (std::int64_t c = 0; c < C; ++c) x[1 * C + c] = 3.5f;
    const auto xd = to_double(x);
    auto y = Tensor<float>::uninitialized(x.shape()), ly = Tensor<float>::uninitialized(x.shape());
    kernels::softmax(y, x);
    kernels::log_softmax(ly, x);
    Tensor<double> yr(x.shape()), lyr(x.shape());
    ref::softmax(yr, xd);
    ref::log_softmax(lyr, xd);
    REQUIRE_CLOSE(y, yr, 1e-7, 1e-5);
    REQUIRE_CLOSE(ly, lyr, 1e-6, 1e-5);
    const auto dy = random_tensor<float>(x.shape(), 7);
    auto dx = Tensor<float>::uninitialized(x.shape()), dlx = Tensor<float>::uninitialized(x.shape());
    kernels::softmax_backward(dx, dy, y);
    kernels::log_softmax_backward(dlx, dy, ly);
    Tensor<double> dxr(x.shape()), dlxr(x.shape());
    ref::softmax_backward(dxr, to_double(dy), to_double(y));
    ref::log_softmax_backward(dlxr, to_double(dy), to_double(ly));
    REQUIRE_CLOSE(dx, dxr, 1e-6, 1e-5);
    REQUIRE_CLOSE(dlx, dlxr, 1e-6, 1e-5);

    // Huge logits: +-1e30 alternating (k = C/2 tied maxima), all -1e30, all +1e30. The exact
    // answers are 1/k and -log(k) at the maxima, 0 and -2e30 elsewhere. (The reference forms
    // m + log(k) first, which rounds to m at this magnitude; these rows are checked directly.)
    auto xe = Tensor<float>::uninitialized(Shape{3, C});
    for (std::int64_t c = 0; c < C; ++c) {
      xe[c] = (c % 2 || C == 1) ? big : -big;
      xe[C + c] = -big;
      xe[2 * C + c] = big;
    }
    auto ye = Tensor<float>::uninitialized(xe.shape()), lye = Tensor<float>::uninitialized(xe.shape());
    kernels::softmax(ye, xe);
    kernels::log_softmax(lye, xe);
    for (std::int64_t n = 0; n < 3; ++n) {
      std::int64_t k = 0;
      for (std::int64_t c = 0; c < C; ++c) k += xe[n * C + c] == (n == 1 ? -big : big);
      double sum = 0;
      for (std::int64_t c = 0; c < C; ++c) {
        const bool is_max = xe[n * C + c] == (n == 1 ? -big : big);
        INFO("row " << n << " column " << c << ": " << ye[n * C + c] << ", " << lye[n * C + c]);
        REQUIRE(std::isfinite(ye[n * C + c]));
        REQUIRE(std::isfinite(lye[n * C + c]));
        REQUIRE(ye[n * C + c] == Approx(is_max ? 1.0 / static_cast<double>(k) : 0.0).epsilon(1e-6));
        REQUIRE(lye[n * C + c] == Approx(is_max ? -std::log(static_cast<double>(k)) : -2e30).epsilon(1e-6).margin(1e-6));
        sum += ye[n * C + c];
      }
      REQUIRE(sum == Approx(1.0).epsilon(1e-5));
    }
  }
  // NaN (in the SIMD body or the tail) makes its row NaN; +inf and all -inf rows as the reference.
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  auto x = random_tensor<float>(Shape{4, 37}, 8);
  x[0 * 37 + 3] = nan;
  x[1 * 37 + 35] = nan;
  x[2 * 37 + 20] = inf;
  for (std::int64_t c = 0; c < 37; ++c) x[3 * 37 + c] = -inf;
  auto y = Tensor<float>::uninitialized(x.shape()), yr = Tensor<float>::uninitialized(x.shape());
  for (int log = 0; log < 2; ++log) {
    if (log) {
      kernels::log_softmax(y, x);
      ref::log_softmax(yr, x);
    } else {
      kernels::softmax(y, x);
      ref::softmax(yr, x);
    }
    for (std::int64_t i = 0; i < x.numel(); ++i) {
      INFO("log " << log << " element " << i << ": " << y[i] << " vs " << yr[i]);
      REQUIRE(std::isnan(y[i]) == std::isnan(yr[i]));
      if (!std::isnan(yr[i])) REQUIRE(y[i] == yr[i]);
    }
  }
}

TEST_CASE("fast pool, relu, linear and softmax give bitwise the same result at 1 and 2 threads",
          "[kernels][fast][threads]") {
  const auto x = random_tensor<float>(Shape{3, 17, 37, 38}, 1);
  const kernels::Pool2dParams p{2, 2, 2, 2, 0, 0};
  const Shape ys = kernels::pool2d_output_shape(x.shape(), p);
  const auto dy = random_tensor<float>(ys, 2);
  const auto xl = random_tensor<float>(Shape{3, 2049}, 3), w = random_tensor<float>(Shape{517, 2049}, 4);
  const auto bl = random_tensor<float>(Shape{517}, 5), dyl = random_tensor<float>(Shape{3, 517}, 6);
  Tensor<float> py[2], pdx[2], ry[2], ly[2], ldx[2], ldw[2], ldb[2], sy[2];
  Tensor<std::int32_t> pa[2];
  at_1_and_2_threads([&](int i) {
    py[i] = Tensor<float>::uninitialized(ys);
    pa[i] = Tensor<std::int32_t>::uninitialized(ys);
    pdx[i] = Tensor<float>::uninitialized(x.shape());
    kernels::max_pool2d_forward(py[i], pa[i], x, p);
    kernels::max_pool2d_backward(pdx[i], dy, pa[i]);
    ry[i] = Tensor<float>::uninitialized(x.shape());
    kernels::relu_forward(ry[i], x);
    ly[i] = Tensor<float>::uninitialized(Shape{3, 517});
    ldx[i] = Tensor<float>::uninitialized(xl.shape());
    ldw[i] = Tensor<float>::uninitialized(w.shape());
    ldb[i] = Tensor<float>::uninitialized(Shape{517});
    kernels::linear_forward(ly[i], xl, w, bl);
    kernels::linear_backward_data(ldx[i], dyl, w);
    kernels::linear_backward_weights(ldw[i], ldb[i], dyl, xl);
    sy[i] = Tensor<float>::uninitialized(ly[i].shape());
    kernels::log_softmax(sy[i], ly[i]);
  });
  REQUIRE(bitwise_equal(py[0], py[1]));
  REQUIRE(bitwise_equal(pa[0], pa[1]));
  REQUIRE(bitwise_equal(pdx[0], pdx[1]));
  REQUIRE(bitwise_equal(ry[0], ry[1]));
  REQUIRE(bitwise_equal(ly[0], ly[1]));
  REQUIRE(bitwise_equal(ldx[0], ldx[1]));
  REQUIRE(bitwise_equal(ldw[0], ldw[1]));
  REQUIRE(bitwise_equal(ldb[0], ldb[1]));
  REQUIRE(bitwise_equal(sy[0], sy[1]));
}

// ---- ONNX CNN shapes: groups, depthwise, dilation, asymmetric pads, ceil_mode ----

namespace {

// Runs f(i) at 1, 2 and 3 OpenMP threads (i = 0, 1, 2), restoring the default.
template <class F>
void at_1_2_3_threads(F&& f) {
#ifdef _OPENMP
  const int saved = omp_get_max_threads();
#else
  const int saved = 1;
#endif
  for (int i = 0; i < 3; ++i) {
    set_threads(i + 1);
    f(i);
  }
  set_threads(saved);
}

std::string describe_full(const ConvCase& c) {
  const auto& p = c.p;
  return describe(c) + " pad_b " + std::to_string(p.pad_b()) + " pad_r " + std::to_string(p.pad_r()) + " dilation " +
         std::to_string(p.dilation_h) + "x" + std::to_string(p.dilation_w) + " groups " + std::to_string(p.groups);
}

// Conv2dParams{stride_h, stride_w, pad_h, pad_w, pad_bottom, pad_right, dilation_h, dilation_w, groups}
enum class Path { gemm, depthwise };
struct OnnxConvCase {
  ConvCase c;
  Path path;
};
std::vector<OnnxConvCase> onnx_conv_cases() {
  using P = Path;
  return {
      {{{3, 17, 9, 11}, {5, 17, 1, 1}, {1, 1, 0, 0}, true}, P::gemm},                          // 1x1: GEMM on NCHW
      {{{1, 9, 7, 5}, {15, 3, 1, 1}, {1, 1, 0, 0, -1, -1, 1, 1, 3}, true}, P::gemm},          // grouped 1x1
      {{{1, 5, 7, 9}, {3, 5, 1, 1}, {1, 1, 0, 0, 1, 1}, false}, P::gemm},                     // 1x1, bottom/right pad
      {{{3, 7, 9, 11}, {5, 7, 1, 1}, {2, 2, 0, 0}, true}, P::gemm},                           // 1x1 stride 2
      {{{3, 6, 9, 11}, {9, 2, 3, 3}, {1, 1, 1, 1, -1, -1, 1, 1, 3}, true}, P::gemm},          // grouped 3x3
      {{{1, 5, 11, 9}, {7, 5, 3, 3}, {1, 1, 2, 2, -1, -1, 2, 2, 1}, true}, P::gemm},          // dilated 3x3
      {{{3, 5, 9, 7}, {3, 5, 3, 3}, {1, 1, 1, 1, 0, 2}, true}, P::gemm},                      // 3x3 s1, asymmetric
      {{{1, 3, 23, 21}, {5, 3, 7, 7}, {2, 2, 3, 3}, true}, P::gemm},                          // ResNet stem
      {{{3, 6, 13, 11}, {4, 3, 3, 5}, {2, 1, 1, 2, 0, 3, 1, 2, 2}, true}, P::gemm},           // all at once
      {{{3, 7, 9, 11}, {7, 1, 3, 3}, {1, 1, 1, 1, -1, -1, 1, 1, 7}, true}, P::depthwise},     // MobileNet 3x3 s1
      {{{1, 9, 11, 13}, {9, 1, 3, 3}, {2, 2, 1, 1, -1, -1, 1, 1, 9}, false}, P::depthwise},   // 3x3 s2
      {{{3, 5, 10, 9}, {5, 1, 3, 3}, {2, 2, 0, 0, 1, 1, 1, 1, 5}, true}, P::depthwise},       // 3x3 s2, TF "same"
      {{{1, 7, 13, 11}, {7, 1, 5, 5}, {1, 1, 2, 2, -1, -1, 1, 1, 7}, true}, P::depthwise},    // EfficientNet 5x5 s1
      {{{3, 5, 15, 17}, {5, 1, 5, 5}, {2, 2, 2, 2, -1, -1, 1, 1, 5}, true}, P::depthwise},    // 5x5 s2
      {{{1, 3, 13, 15}, {3, 1, 5, 5}, {2, 2, 1, 2, 2, 1, 1, 1, 3}, false}, P::depthwise},     // 5x5 s2, asymmetric
      {{{1, 3, 5, 37}, {3, 1, 3, 3}, {1, 1, 1, 1, -1, -1, 1, 1, 3}, true}, P::depthwise},     // SIMD body + tail
      {{{3, 3, 7, 75}, {3, 1, 5, 5}, {2, 2, 2, 2, -1, -1, 1, 1, 3}, true}, P::depthwise},     // OW 38
      {{{1, 5, 11, 13}, {5, 1, 3, 3}, {1, 2, 2, 2, -1, -1, 2, 2, 5}, true}, P::depthwise},    // dilated, mixed stride
      {{{1, 3, 1, 1}, {3, 1, 3, 3}, {1, 1, 1, 1, -1, -1, 1, 1, 3}, true}, P::depthwise},      // 1x1 image
  };
}

// The entry points (dispatch) against the double reference, plus dw/dx/y bitwise equal at 1, 2
// and 3 threads.
void check_conv_entry_points(const ConvCase& c) {
  const auto x = random_tensor<float>(c.x, 31), w = random_tensor<float>(c.w, 32);
  const auto b = c.bias ? random_tensor<float>(Shape{c.w[0]}, 33) : Tensor<float>();
  const Shape ys = kernels::conv2d_output_shape(c.x, c.w, c.p);
  const auto dy = random_tensor<float>(ys, 34);
  const double KHW = static_cast<double>(c.w[2] * c.w[3]);
  Tensor<float> y[3], dx[3], dw[3], db[3];
  Tensor<float> no_db;
  at_1_2_3_threads([&](int i) {
    y[i] = Tensor<float>::full(ys, 1e30f);
    dx[i] = Tensor<float>::full(c.x, 1e30f);
    dw[i] = Tensor<float>::full(c.w, 1e30f);
    db[i] = Tensor<float>::full(Shape{c.w[0]}, 1e30f);
    kernels::conv2d_forward(y[i], x, w, b, c.p);
    kernels::conv2d_backward_data(dx[i], dy, w, c.p);
    kernels::conv2d_backward_weights(dw[i], c.bias ? db[i] : no_db, dy, x, c.p);
  });
  for (int i = 1; i < 3; ++i) {
    INFO("threads " << i + 1 << " vs 1");
    REQUIRE(bitwise_equal(y[0], y[i]));
    REQUIRE(bitwise_equal(dx[0], dx[i]));
    REQUIRE(bitwise_equal(dw[0], dw[i]));
    if (c.bias) REQUIRE(bitwise_equal(db[0], db[i]));
  }
  Tensor<double> yr(ys), ym(ys);
  ref::conv2d_forward(yr, to_double(x), to_double(w), to_double(b), c.p);
  ref::conv2d_forward(ym, abs_of(x), abs_of(w), abs_of(b), c.p);
  require_bounded(y[0], yr, ym, static_cast<double>(c.w[1]) * KHW + 1, "forward");
  Tensor<double> dxr(c.x), dxm(c.x);
  ref::conv2d_backward_data(dxr, to_double(dy), to_double(w), c.p);
  ref::conv2d_backward_data(dxm, abs_of(dy), abs_of(w), c.p);
  require_bounded(dx[0], dxr, dxm, static_cast<double>(c.w[0] / c.p.groups) * KHW, "backward-data");
  Tensor<double> dwr(c.w), dwm(c.w), dbr(Shape{c.w[0]}), dbm(Shape{c.w[0]});
  ref::conv2d_backward_weights(dwr, dbr, to_double(dy), to_double(x), c.p);
  ref::conv2d_backward_weights(dwm, dbm, abs_of(dy), abs_of(x), c.p);
  const double L = static_cast<double>(ys[0] * ys[2] * ys[3]);
  require_bounded(dw[0], dwr, dwm, L, "backward-weights dw");
  if (c.bias) require_bounded(db[0], dbr, dbm, L, "backward-weights db");
}

}  // namespace

TEST_CASE("fast conv2d with groups, dilation, asymmetric pads and depthwise matches the reference; 1, 2, 3 threads agree",
          "[kernels][fast][conv_onnx][threads]") {
  for (const auto& oc : onnx_conv_cases()) {
    const auto& c = oc.c;
    INFO(describe_full(c));
    // the intended fast path, and never Winograd
    REQUIRE_FALSE(fast::conv3x3_applies(c.w, c.p));
    REQUIRE(fast::conv_depthwise_applies(c.x, c.w, c.p) == (oc.path == Path::depthwise));
    check_conv_entry_points(c);
  }
}

TEST_CASE("the depthwise kernels give the same values on narrower SIMD widths", "[kernels][fast][conv_onnx]") {
  // The entry points use the widest instruction set; the SSE and AVX2 kernels have other body /
  // tail splits. Each is checked against the double reference.
  auto check_arch = [](auto arch) {
    using A = decltype(arch);
    for (const auto& oc : onnx_conv_cases()) {
      if (oc.path != Path::depthwise) continue;
      const auto& c = oc.c;
      INFO(describe_full(c) << " arch " << A::name());
      const auto x = random_tensor<float>(c.x, 41), w = random_tensor<float>(c.w, 42);
      const auto b = random_tensor<float>(Shape{c.w[0]}, 43);
      const Shape ys = kernels::conv2d_output_shape(c.x, c.w, c.p);
      const auto dy = random_tensor<float>(ys, 44);
      auto y = Tensor<float>::full(ys, 1e30f);
      auto dx = Tensor<float>::full(c.x, 1e30f);
      auto dw = Tensor<float>::full(c.w, 1e30f), db = Tensor<float>::full(Shape{c.w[0]}, 1e30f);
      fast::conv2d_depthwise_forward<A>(y, x, w, b, c.p);
      fast::conv2d_depthwise_backward_data<A>(dx, dy, w, c.p);
      fast::conv2d_depthwise_backward_weights<A>(dw, db, dy, x, c.p);
      const double KHW = static_cast<double>(c.w[2] * c.w[3]);
      Tensor<double> yr(ys), ym(ys), dxr(c.x), dxm(c.x), dwr(c.w), dwm(c.w), dbr(Shape{c.w[0]}), dbm(Shape{c.w[0]});
      ref::conv2d_forward(yr, to_double(x), to_double(w), to_double(b), c.p);
      ref::conv2d_forward(ym, abs_of(x), abs_of(w), abs_of(b), c.p);
      require_bounded(y, yr, ym, KHW + 1, "forward");
      ref::conv2d_backward_data(dxr, to_double(dy), to_double(w), c.p);
      ref::conv2d_backward_data(dxm, abs_of(dy), abs_of(w), c.p);
      require_bounded(dx, dxr, dxm, KHW, "backward-data");
      ref::conv2d_backward_weights(dwr, dbr, to_double(dy), to_double(x), c.p);
      ref::conv2d_backward_weights(dwm, dbm, abs_of(dy), abs_of(x), c.p);
      const double L = static_cast<double>(ys[0] * ys[2] * ys[3]);
      require_bounded(dw, dwr, dwm, L, "backward-weights dw");
      require_bounded(db, dbr, dbm, L, "backward-weights db");
    }
  };
#if XSIMD_WITH_AVX2
  check_arch(xsimd::avx2{});
#endif
#if XSIMD_WITH_SSE2
  check_arch(xsimd::sse2{});
#endif
}

TEST_CASE("depthwise backward ignores input columns no window reads, even when infinite", "[kernels][fast][conv_onnx]") {
  // 3x3 / stride 2 / no padding on W = 10: OW = 4, the windows read columns 0..8 and column 9
  // is dropped. An infinite value there must not reach dw (0 * inf would be NaN) nor dx.
  const ConvCase c{{1, 3, 7, 10}, {3, 1, 3, 3}, {2, 2, 0, 0, -1, -1, 1, 1, 3}, true};
  auto x = random_tensor<float>(c.x, 51);
  for (std::int64_t i = 0; i < 3 * 7; ++i) x[i * 10 + 9] = std::numeric_limits<float>::infinity();
  const auto w = random_tensor<float>(c.w, 52);
  const Shape ys = kernels::conv2d_output_shape(c.x, c.w, c.p);
  const auto dy = random_tensor<float>(ys, 53);
  auto dw = Tensor<float>::uninitialized(c.w), db = Tensor<float>::uninitialized(Shape{3});
  kernels::conv2d_backward_weights(dw, db, dy, x, c.p);
  for (float v : dw) REQUIRE(std::isfinite(v));
  auto y = Tensor<float>::uninitialized(ys);
  kernels::conv2d_forward(y, x, w, Tensor<float>(), c.p);
  for (float v : y) REQUIRE(std::isfinite(v));
}

TEST_CASE("a 3x3 convolution with fewer output tiles than winograd_min_tiles runs as im2col + GEMM, bit for bit",
          "[kernels][fast][conv_onnx]") {
  kernels::Conv2dParams p{1, 1, 1, 1};
  p.winograd_min_tiles = 16;
  kernels::Conv2dParams exact = p;
  exact.exact = true;
  const auto w = random_tensor<float>(Shape{24, 20, 3, 3}, 31), b = random_tensor<float>(Shape{24}, 32);
  // 7x7 has 2 x 2 tiles, 13x13 4 x 4; per image: 7x7 at batch 4 stays on the GEMM
  struct Case { std::int64_t n, side; bool winograd; };
  for (const Case c : {Case{1, 7, false}, Case{1, 13, true}, Case{4, 7, false}, Case{3, 14, true}}) {
    INFO("N " << c.n << " side " << c.side);
    REQUIRE(fast::conv3x3_enough_tiles(Shape{c.n, 20, c.side, c.side}, p) == c.winograd);
    const auto x = random_tensor<float>(Shape{c.n, 20, c.side, c.side}, 33);
    const auto dy = random_tensor<float>(Shape{c.n, 24, c.side, c.side}, 34);
    auto y = Tensor<float>::uninitialized(dy.shape()), y_gemm = Tensor<float>::uninitialized(dy.shape()),
         y_wino = Tensor<float>::uninitialized(dy.shape());
    auto dx = Tensor<float>::uninitialized(x.shape()), dx_gemm = Tensor<float>::uninitialized(x.shape()),
         dx_wino = Tensor<float>::uninitialized(x.shape());
    kernels::conv2d_forward(y, x, w, b, p);
    kernels::conv2d_backward_data(dx, dy, w, p);
    fast::conv2d_gemm_forward(y_gemm, x, w, b, exact);
    fast::conv2d_gemm_backward_data(dx_gemm, dy, w, exact);
    fast::conv3x3_forward(y_wino, x, w, b);
    fast::conv3x3_backward_data(dx_wino, dy, w);
    REQUIRE_FALSE(bitwise_equal(y_gemm, y_wino));  // the two paths are distinguishable
    REQUIRE(bitwise_equal(y, c.winograd ? y_wino : y_gemm));
    REQUIRE(bitwise_equal(dx, c.winograd ? dx_wino : dx_gemm));
  }
  // 0 (the default, the VGG path): Winograd at any size
  REQUIRE(fast::conv3x3_enough_tiles(Shape{1, 20, 3, 3}, kernels::Conv2dParams{1, 1, 1, 1}));
}

TEST_CASE("the Winograd path applies to 3x3 / stride 1 / pad 1 / groups 1 / dilation 1 only", "[kernels][fast][conv_onnx]") {
  using P = kernels::Conv2dParams;
  const Shape w{8, 8, 3, 3};
  REQUIRE(fast::conv3x3_applies(w, P{1, 1, 1, 1}));
  REQUIRE(fast::conv3x3_applies(w, P{1, 1, 1, 1, 1, 1, 1, 1, 1}));  // explicit, same convolution
  REQUIRE_FALSE(fast::conv3x3_applies(w, P{1, 1, 1, 1, 0, 1}));     // asymmetric
  REQUIRE_FALSE(fast::conv3x3_applies(w, P{1, 1, 1, 1, 1, 2}));
  REQUIRE_FALSE(fast::conv3x3_applies(w, P{1, 1, 1, 1, -1, -1, 2, 1}));  // dilated
  REQUIRE_FALSE(fast::conv3x3_applies(w, P{1, 1, 1, 1, -1, -1, 1, 2}));
  REQUIRE_FALSE(fast::conv3x3_applies(Shape{8, 4, 3, 3}, P{1, 1, 1, 1, -1, -1, 1, 1, 2}));  // grouped
  REQUIRE_FALSE(fast::conv3x3_applies(Shape{8, 1, 3, 3}, P{1, 1, 1, 1, -1, -1, 1, 1, 8}));  // depthwise
  REQUIRE_FALSE(fast::conv3x3_applies(w, P{2, 2, 1, 1}));
  REQUIRE_FALSE(fast::conv3x3_applies(w, P{1, 1, 0, 0}));
  REQUIRE_FALSE(fast::conv3x3_applies(Shape{8, 8, 5, 5}, P{1, 1, 1, 1}));
}

TEST_CASE("fast max_pool2d with asymmetric pads and ceil_mode equals the reference bit for bit", "[kernels][fast][pool]") {
  using P = kernels::Pool2dParams;
  // {kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, pad_bottom, pad_right, ceil_mode}
  const std::vector<P> params = {P{2, 2, 2, 2, 0, 0, -1, -1, true},  P{2, 2, 2, 2, 0, 0, 1, 1, false},
                                 P{3, 3, 2, 2, 0, 1, 1, 1, true},    P{3, 3, 2, 2, 1, 1, -1, -1, true},
                                 P{3, 2, 3, 1, 2, 0, 0, 1, true},    P{5, 3, 2, 2, 4, 0, 0, 2, false}};
  for (const auto& s : std::vector<Shape>{{1, 3, 7, 9}, {3, 5, 37, 38}, {1, 1, 1, 1}, {2, 3, 6, 5}})
    for (const auto& p : params) {
      if (s[2] + p.pad_h + p.pad_b() < p.kernel_h || s[3] + p.pad_w + p.pad_r() < p.kernel_w) continue;
      INFO("x " << s.str() << " kernel " << p.kernel_h << "x" << p.kernel_w << " stride " << p.stride_h << "x"
                << p.stride_w << " pads " << p.pad_h << "," << p.pad_w << "," << p.pad_b() << "," << p.pad_r()
                << " ceil " << p.ceil_mode);
      check_pool(tie_tensor(s, 6), p);
      check_pool(Tensor<float>::full(s, -std::numeric_limits<float>::infinity()), p);
    }
}

TEST_CASE("fast avg_pool2d equals the reference bit for bit; 1, 2, 3 threads agree", "[kernels][fast][pool][threads]") {
  using P = kernels::Pool2dParams;
  const std::vector<P> params = {P{2, 2, 2, 2, 0, 0, -1, -1, true}, P{3, 3, 2, 2, 1, 1, -1, -1, true},
                                 P{3, 3, 2, 2, 0, 1, 2, 0, false},  P{3, 2, 1, 2, 2, 1, 0, 1, true},
                                 P{3, 3, 1, 1, 1, 1}};
  for (const auto& s : std::vector<Shape>{{1, 3, 7, 9}, {3, 17, 13, 11}, {1, 1, 1, 1}})
    for (const auto& p : params)
      for (bool include : {false, true}) {
        if (s[2] + p.pad_h + p.pad_b() < p.kernel_h || s[3] + p.pad_w + p.pad_r() < p.kernel_w) continue;
        INFO("x " << s.str() << " kernel " << p.kernel_h << "x" << p.kernel_w << " pads " << p.pad_h << ","
                  << p.pad_w << "," << p.pad_b() << "," << p.pad_r() << " ceil " << p.ceil_mode << " include_pad "
                  << include);
        const auto x = random_tensor<float>(s, 61);
        const Shape ys = kernels::pool2d_output_shape(s, p, "avg_pool2d");
        const auto dy = random_tensor<float>(ys, 62);
        auto yr = Tensor<float>::uninitialized(ys), dxr = Tensor<float>::uninitialized(s);
        ref::avg_pool2d_forward(yr, x, p, include);
        ref::avg_pool2d_backward(dxr, dy, p, include);
        Tensor<float> y[3], dx[3];
        at_1_2_3_threads([&](int i) {
          y[i] = Tensor<float>::full(ys, 1e30f);
          dx[i] = Tensor<float>::full(s, 1e30f);
          kernels::avg_pool2d_forward(y[i], x, p, include);
          kernels::avg_pool2d_backward(dx[i], dy, p, include);
        });
        for (int i = 0; i < 3; ++i) {
          REQUIRE(bitwise_equal(y[i], yr));
          REQUIRE(bitwise_equal(dx[i], dxr));
        }
      }
}

TEST_CASE("fast max_pool2d (general windows) and global average pooling agree at 1, 2, 3 threads",
          "[kernels][fast][pool][threads]") {
  const auto x = random_tensor<float>(Shape{3, 17, 13, 11}, 71);
  const kernels::Pool2dParams p{3, 3, 2, 2, 1, 0, 0, 1, true};
  const Shape ys = kernels::pool2d_output_shape(x.shape(), p);
  const auto dy = random_tensor<float>(ys, 72);
  const auto xg = random_tensor<float>(Shape{1, 2048, 7, 7}, 73);  // ResNet-50's global pool
  auto gr = Tensor<float>::uninitialized(Shape{1, 2048, 1, 1});
  ref::adaptive_avg_pool2d_forward(gr, xg);
  Tensor<float> y[3], dx[3], g[3];
  Tensor<std::int32_t> a[3];
  at_1_2_3_threads([&](int i) {
    y[i] = Tensor<float>::uninitialized(ys);
    a[i] = Tensor<std::int32_t>::uninitialized(ys);
    dx[i] = Tensor<float>::uninitialized(x.shape());
    g[i] = Tensor<float>::uninitialized(Shape{1, 2048, 1, 1});
    kernels::max_pool2d_forward(y[i], a[i], x, p);
    kernels::max_pool2d_backward(dx[i], dy, a[i]);
    kernels::adaptive_avg_pool2d_forward(g[i], xg);
  });
  for (int i = 1; i < 3; ++i) {
    REQUIRE(bitwise_equal(y[0], y[i]));
    REQUIRE(bitwise_equal(a[0], a[i]));
    REQUIRE(bitwise_equal(dx[0], dx[i]));
  }
  for (int i = 0; i < 3; ++i) REQUIRE(bitwise_equal(g[i], gr));
}

TEST_CASE("fast layer_norm matches the double reference on odd shapes, bias or not", "[kernels][fast][layer_norm]") {
  // rows x row: one element per row, odd widths, more rows than threads and blocks (17 blocks of 1..)
  struct Case { std::int64_t rows, row; };
  for (const auto& c : {Case{1, 1}, Case{3, 7}, Case{17, 33}, Case{40, 5}, Case{2, 768}, Case{5, 771}}) {  // 771: 8-lane sums and a tail
    for (bool with_bias : {true, false}) {
      INFO("rows " << c.rows << " row " << c.row << " bias " << with_bias);
      auto x = random_tensor<float>(Shape{c.rows, c.row}, 11, -3, 5);
      for (std::int64_t j = 0; j < c.row; ++j) x[j] += 1000.0f;  // a row far from 0: the mean is not lost
      const auto w = random_tensor<float>(Shape{c.row}, 12, 0.5, 1.5), b = random_tensor<float>(Shape{c.row}, 13);
      const auto dy = random_tensor<float>(x.shape(), 14);
      auto y = Tensor<float>::uninitialized(x.shape()), h = Tensor<float>::uninitialized(x.shape());
      auto inv = Tensor<float>::uninitialized(Shape{c.rows});
      kernels::layer_norm(y, h, inv, x, w.data(), with_bias ? b.data() : nullptr, c.row, 1e-5f);
      const auto xd = to_double(x), wd = to_double(w), bd = to_double(b), dyd = to_double(dy);
      Tensor<double> yr(x.shape()), hr(x.shape()), invr(Shape{c.rows});
      ref::layer_norm(yr, hr, invr, xd, wd.data(), with_bias ? bd.data() : nullptr, c.row, 1e-5);
      REQUIRE_CLOSE(y, yr, 1e-5, 1e-5);
      REQUIRE_CLOSE(inv, invr, 1e-6, 1e-5);
      auto dx = Tensor<float>::uninitialized(x.shape());
      Tensor<float> ds(Shape{c.row}, 0.0f), db(Shape{c.row}, 0.0f);
      kernels::layer_norm_backward(dx.data(), ds.data(), db.data(), dy, h, inv, w.data(), c.row);
      Tensor<double> dxr(x.shape()), dsr(Shape{c.row}, 0.0), dbr(Shape{c.row}, 0.0);
      ref::layer_norm_backward(dxr.data(), dsr.data(), dbr.data(), dyd, hr, invr, wd.data(), c.row);
      REQUIRE_CLOSE(dx, dxr, 1e-5, 1e-4);
      REQUIRE_CLOSE(ds, dsr, 1e-5, 1e-5);
      REQUIRE_CLOSE(db, dbr, 1e-5, 1e-5);
    }
  }
}
