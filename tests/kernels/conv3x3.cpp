// The Winograd F(4x4,3x3) fast path (kernels/fast/conv3x3.hpp) against the scalar reference
// computed in double, on shapes that exercise edge tiles (H, W not multiples of 4 or of the
// vector width), odd channel counts and batches; plus NaN propagation, prepared vs on-the-fly
// filters, the thread-count independence, and the conv2d dispatch.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <vector>

#include "gradattr/kernels/conv2d.hpp"
#include "gradattr/kernels/fast/conv3x3.hpp"
#include "gradattr/kernels/reference/activation.hpp"
#include "gradattr/kernels/reference/conv2d.hpp"
#include "support/testing.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

using namespace gradattr;
namespace ref = gradattr::kernels::reference;
namespace fast = gradattr::kernels::fast;
using gradattr::testing::bitwise_equal;
using gradattr::testing::random_tensor;

namespace {

const kernels::Conv2dParams kSame{1, 1, 1, 1};

// The error bound the fast path relies on (see conv3x3.hpp): with reduction length C,
//   |y_hat - y| <= u * kWinogradGrowth * (9 C) * max|x| * max|w|  +  u * max|b|
// kWinogradGrowth = 2 * 2304 / 9: 2304 = max_ij (sum_a |A_ia| (|G|1)_a (|B^T|1)_a)^2 is the
// Winograd amplification of a tap's magnitude (9 for direct convolution: each tap once); the
// factor 2 covers the rounding of the transforms. The linear-in-C growth (instead of the
// worst-case C^2 of a fully adversarial sum) is what float summation gives on data whose
// products do not all share a sign; the bound is checked here, with the observed ratio printed.
constexpr double kUnit = 1.0 / (1 << 24);
constexpr double kWinogradGrowth = 2.0 * 2304.0 / 9.0;

double max_abs(const Tensor<float>& t) {
  double m = 0;
  for (float v : t) m = std::max(m, std::abs(static_cast<double>(v)));
  return m;
}

double winograd_bound(std::int64_t reduction, double max_x, double max_w, double max_b) {
  return kUnit * kWinogradGrowth * 9.0 * static_cast<double>(reduction) * max_x * max_w + kUnit * max_b;
}

// |a - b| <= tol everywhere, NaN where b is NaN; returns the worst |a - b| / tol.
double check_close(const Tensor<float>& a, const Tensor<double>& b, double tol) {
  REQUIRE(a.shape() == b.shape());
  double worst = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    if (std::isnan(b[i])) {
      REQUIRE(std::isnan(a[i]));
      continue;
    }
    const double e = std::abs(static_cast<double>(a[i]) - b[i]);
    INFO("element " << i << " of " << a.shape().str() << ": " << a[i] << " vs " << b[i] << ", tol " << tol);
    REQUIRE(e <= tol);
    worst = std::max(worst, e / tol);
  }
  return worst;
}

struct Case {
  std::int64_t n, c, k, h, w;
};

const std::vector<Case> kCases = {
    {1, 1, 1, 1, 1},   {1, 1, 3, 5, 7},    {3, 3, 17, 13, 11}, {1, 17, 3, 17, 17},  {1, 64, 64, 17, 17},
    {3, 3, 64, 5, 7},  {1, 17, 17, 1, 9},  {2, 64, 17, 9, 8},  {1, 16, 80, 12, 12}, {1, 3, 1, 2, 3},
    {1, 33, 129, 7, 6}, {2, 1, 64, 23, 4},
};

// Both algorithms on every shape, whatever the dispatch rule picks: the public entry points
// (dispatch), and each path forced through its detail interface.
enum class Path { dispatch, winograd, direct };
constexpr Path kPaths[] = {Path::dispatch, Path::winograd, Path::direct};

void forward_path(Path path, Tensor<float>& y, const Tensor<float>& x, const Tensor<float>& w, const Tensor<float>& b,
                  bool relu) {
  namespace d = fast::detail;
  const float* bias = b.empty() ? nullptr : b.data();
  if (path == Path::dispatch) {
    fast::conv3x3_forward(y, x, w, b, relu);
  } else if (path == Path::winograd) {
    const auto f = fast::conv3x3_forward_filters(w);
    d::winograd_conv3x3<xsimd::default_arch>({y.data(), x.data(), bias, x.dim(0), x.dim(1), w.dim(0), x.dim(2), x.dim(3), relu}, f);
  } else {
    std::int64_t O = 0, I = 0;
    const auto p = d::conv3x3_direct_pack(w.data(), w.dim(0), w.dim(1), false, O, I);
    d::conv3x3_direct<xsimd::default_arch>({y.data(), x.data(), p.get(), bias, x.dim(0), I, O, x.dim(2), x.dim(3), relu});
  }
}

void backward_data_path(Path path, Tensor<float>& dx, const Tensor<float>& dy, const Tensor<float>& w) {
  namespace d = fast::detail;
  if (path == Path::dispatch) {
    fast::conv3x3_backward_data(dx, dy, w);
  } else if (path == Path::winograd) {  // the adjoint of the forward, on the forward filters
    const auto f = fast::conv3x3_forward_filters(w);
    d::winograd_conv3x3_adjoint<xsimd::default_arch>({dx.data(), dy.data(), dy.dim(0), w.dim(0), w.dim(1), dy.dim(2), dy.dim(3)}, f);
  } else {
    std::int64_t O = 0, I = 0;
    const auto p = d::conv3x3_direct_pack(w.data(), w.dim(0), w.dim(1), true, O, I);
    d::conv3x3_direct<xsimd::default_arch>({dx.data(), dy.data(), p.get(), nullptr, dy.dim(0), I, O, dy.dim(2), dy.dim(3), false});
  }
}

struct Ref {
  Tensor<double> y;
  double bound;
};

Ref reference_forward(const Tensor<float>& x, const Tensor<float>& w, const Tensor<float>& b, bool relu) {
  auto xd = x.cast<double>(), wd = w.cast<double>(), bd = b.cast<double>();
  Tensor<double> y(kernels::conv2d_output_shape(x.shape(), w.shape(), kSame));
  ref::conv2d_forward(y, xd, wd, bd, kSame);
  if (relu) ref::relu_forward(y, y);
  return {y, winograd_bound(x.dim(1), max_abs(x), max_abs(w), b.empty() ? 0.0 : max_abs(b))};
}

}  // namespace

TEST_CASE("conv3x3 Winograd growth constant is what the bound states", "[kernels][conv3x3]") {
  const double A[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
  const double G[6][3] = {{0.25, 0, 0}, {-1. / 6, -1. / 6, -1. / 6}, {-1. / 6, 1. / 6, -1. / 6},
                          {1. / 24, 1. / 12, 1. / 6}, {1. / 24, -1. / 12, 1. / 6}, {0, 0, 1}};
  const double BT[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                           {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
  double worst = 0;
  for (int i = 0; i < 4; ++i) {
    double s = 0;
    for (int a = 0; a < 6; ++a) {
      double g = 0, bt = 0;
      for (int r = 0; r < 3; ++r) g += std::abs(G[a][r]);
      for (int r = 0; r < 6; ++r) bt += std::abs(BT[a][r]);
      s += std::abs(A[i][a]) * g * bt;
    }
    worst = std::max(worst, s * s);
  }
  REQUIRE(worst == Approx(2304.0));

  // Backward-data is the adjoint: dd = B [U .* (A dY A^T)] B^T, windows overlapping by two
  // pixels summed. Per dimension, window position i amplifies by sum_a |B^T_ai| (|G|1)_a (|A|1)_a
  // ((|A|1)_a: column sums of A^T); a pixel at positions 4/5 of one window is at 0/1 of the
  // next, so the growth of a pixel is the largest of f2, f3 and f4 + f0, f5 + f1 -- squared at
  // most 1482.25 < 2304: the adjoint stays within the forward's bound.
  double f[6] = {};
  for (int i = 0; i < 6; ++i)
    for (int a = 0; a < 6; ++a) {
      double g = 0, acol = 0;
      for (int r = 0; r < 3; ++r) g += std::abs(G[a][r]);
      for (int r = 0; r < 4; ++r) acol += std::abs(A[r][a]);
      f[i] += std::abs(BT[a][i]) * g * acol;
    }
  const double adjoint = std::max({f[2], f[3], f[4] + f[0], f[5] + f[1]});
  REQUIRE(adjoint * adjoint == Approx(1482.25));
  REQUIRE(adjoint * adjoint < 2304.0);
}

TEST_CASE("conv3x3 backward-data sums overlapping windows in an order no plan changes", "[kernels][conv3x3]") {
  // Every whole-row plan (blocks of 1..th tile rows, channel groups of 64 or all) gives the same
  // bits: exercises the in-block row combination and the side buffer of the block boundaries.
  namespace d = fast::detail;
  for (const auto& c : {Case{2, 80, 33, 19, 13}, Case{1, 17, 130, 9, 22}, Case{1, 129, 17, 16, 16}}) {
    CAPTURE(c.n, c.c, c.k, c.h, c.w);
    auto w = random_tensor<float>({c.k, c.c, 3, 3}, 31);
    auto dy = random_tensor<float>({c.n, c.k, c.h, c.w}, 32);
    const auto f = fast::conv3x3_forward_filters(w);
    const d::WinogradAdjointArgs args{nullptr, dy.data(), c.n, c.k, c.c, c.h, c.w};
    Tensor<double> dxr(Shape{c.n, c.c, c.h, c.w});
    ref::conv2d_backward_data(dxr, dy.cast<double>(), w.cast<double>(), kSame);
    std::vector<Tensor<float>> results;
    const std::int64_t th = (c.h + 3) / 4, tw = (c.w + 3) / 4, cp = (c.c + 15) / 16 * 16;
    for (std::int64_t rb : {std::int64_t{1}, std::int64_t{2}, std::int64_t{3}, th})
      for (std::int64_t kg : {std::int64_t{64}, cp}) {
        if (kg > cp) continue;
        d::WinogradPlan p;
        p.th = th;
        p.tw = tw;
        p.rb = rb;
        p.cb = tw;
        p.kg = kg;
        p.nby = (th + rb - 1) / rb;
        p.nbx = 1;
        p.nkg = (cp + kg - 1) / kg;
        auto dx = Tensor<float>::uninitialized(dxr.shape());
        dx.fill(std::numeric_limits<float>::quiet_NaN());
        auto a = args;
        a.dx = dx.data();
        d::winograd_conv3x3_adjoint<xsimd::default_arch>(a, f, &p);
        check_close(dx, dxr, winograd_bound(c.k, max_abs(dy), max_abs(w), 0.0));
        results.push_back(dx);
      }
    for (std::size_t i = 1; i < results.size(); ++i) REQUIRE(bitwise_equal(results[0], results[i]));
  }
}

TEST_CASE("conv3x3 backward-data reads and writes the blocked layout", "[kernels][conv3x3]") {
  // dy NHWC16 in and / or dx NHWC16 out give the NCHW result bit for bit.
  namespace d = fast::detail;
  for (const auto& c : {Case{2, 17, 33, 13, 11}, Case{1, 64, 40, 7, 21}}) {
    CAPTURE(c.n, c.c, c.k, c.h, c.w);
    auto w = random_tensor<float>({c.k, c.c, 3, 3}, 41);
    auto dy = random_tensor<float>({c.n, c.k, c.h, c.w}, 42);
    const auto f = fast::conv3x3_forward_filters(w);
    auto dx = Tensor<float>::uninitialized({c.n, c.c, c.h, c.w});
    d::winograd_conv3x3_adjoint<xsimd::default_arch>({dx.data(), dy.data(), c.n, c.k, c.c, c.h, c.w}, f);
    const auto dyb = fast::to_nhwc16(dy);
    for (int in_blocked = 0; in_blocked < 2; ++in_blocked)
      for (int out_blocked = 0; out_blocked < 2; ++out_blocked) {
        CAPTURE(in_blocked, out_blocked);
        auto dx_nchw = Tensor<float>::uninitialized(dx.shape());
        auto dxb = fast::Nhwc16::uninitialized(c.n, c.c, c.h, c.w);
        d::WinogradAdjointArgs a{out_blocked ? dxb.data.data() : dx_nchw.data(),
                                 in_blocked ? dyb.data.data() : dy.data(), c.n, c.k, c.c, c.h, c.w};
        a.dy_nhwc16 = in_blocked != 0;
        a.dx_nhwc16 = out_blocked != 0;
        d::winograd_conv3x3_adjoint<xsimd::default_arch>(a, f);
        REQUIRE(bitwise_equal(out_blocked ? fast::to_nchw(dxb) : dx_nchw, dx));
      }
  }
}

TEST_CASE("conv3x3 forward matches the reference on odd shapes", "[kernels][conv3x3]") {
  std::uint64_t seed = 10;
  double worst = 0;
  for (const auto& c : kCases)
    for (int with_bias = 0; with_bias < 2; ++with_bias)
      for (int relu = 0; relu < 2; ++relu) {
        CAPTURE(c.n, c.c, c.k, c.h, c.w, with_bias, relu);
        auto x = random_tensor<float>({c.n, c.c, c.h, c.w}, ++seed);
        auto w = random_tensor<float>({c.k, c.c, 3, 3}, ++seed);
        Tensor<float> b = with_bias ? random_tensor<float>({c.k}, ++seed) : Tensor<float>();
        auto r = reference_forward(x, w, b, relu != 0);
        for (Path path : kPaths) {
          CAPTURE(static_cast<int>(path));
          auto y = Tensor<float>::uninitialized(r.y.shape());
          y.fill(std::numeric_limits<float>::quiet_NaN());  // every output must be assigned
          forward_path(path, y, x, w, b, relu != 0);
          worst = std::max(worst, check_close(y, r.y, r.bound));
        }
        if (relu) {  // the fused-ReLU entry point
          auto y = Tensor<float>::uninitialized(r.y.shape());
          fast::conv3x3_relu_forward(y, x, w, b);
          check_close(y, r.y, r.bound);
        }
      }
  WARN("conv3x3 forward: worst error / bound = " << worst);
}

TEST_CASE("conv3x3 error stays within the bound at VGG depth", "[kernels][conv3x3]") {
  // C = 256 and 512: the reduction lengths of VGG's deep layers, at a small spatial size.
  for (std::int64_t ch : {256, 512}) {
    auto x = random_tensor<float>({1, ch, 7, 9}, 100 + static_cast<std::uint64_t>(ch), 0.0, 2.0);
    auto w = random_tensor<float>({32, ch, 3, 3}, 200 + static_cast<std::uint64_t>(ch), -0.05, 0.05);
    auto b = random_tensor<float>({32}, 300);
    auto r = reference_forward(x, w, b, false);
    auto y = Tensor<float>::uninitialized(r.y.shape());
    fast::conv3x3_forward(y, x, w, b);
    const double ratio = check_close(y, r.y, r.bound);
    WARN("C = " << ch << ": worst error / bound = " << ratio);
    // backward-data with the same reduction length (dy has ch channels)
    auto dy = random_tensor<float>({1, ch, 9, 7}, 400 + static_cast<std::uint64_t>(ch), -1.0, 1.0);
    auto wt = random_tensor<float>({ch, 24, 3, 3}, 500 + static_cast<std::uint64_t>(ch), -0.05, 0.05);
    Tensor<double> dxr(Shape{1, 24, 9, 7});
    ref::conv2d_backward_data(dxr, dy.cast<double>(), wt.cast<double>(), kSame);
    auto dx = Tensor<float>::uninitialized(dxr.shape());
    fast::conv3x3_backward_data(dx, dy, wt);
    const double bratio = check_close(dx, dxr, winograd_bound(ch, max_abs(dy), max_abs(wt), 0.0));
    WARN("C = " << ch << ": backward-data worst error / bound = " << bratio);
  }
}

// The a-priori bound above is a guarantee, 25-500x above the observed error: it would not notice
// a Winograd precision regression of 10x. This case compares the Winograd path's error with the
// direct float convolution's own error on the same data (both against the double reference),
// per shape: the RMS over all outputs and the worst element. Caps: the ratios observed on an
// AVX-512 build (GRADATTR_VERBOSE=1 prints them) times 2.5 (RMS) or 3 (worst element), so a
// precision loss of 3x or more in a transform, the filter pack or the accumulation fails.
// Observed (forward rms/max, backward-data rms/max): C=64: 2.0/2.6, 3.9/2.7; C=256: 1.5/2.6,
// 4.0/4.0; C=512: 1.8/2.7, 3.7/3.1; C=33 signed: 3.9/8.5, 3.4/4.2; C=3: 6.8/10.7, 3.5/3.1;
// C=128: 3.6/5.2, 3.7/4.8. (C=3: the direct sum has three terms, so the Winograd transforms'
// own rounding dominates.)
namespace {
struct Errors {
  double rms = 0, max = 0;
};
Errors errors(const Tensor<float>& a, const Tensor<double>& ref) {
  REQUIRE(a.shape() == ref.shape());
  Errors e;
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    const double d = std::abs(static_cast<double>(a[i]) - ref[i]);
    e.rms += d * d;
    e.max = std::max(e.max, d);
  }
  e.rms = std::sqrt(e.rms / static_cast<double>(a.numel()));
  return e;
}
}  // namespace

TEST_CASE("conv3x3 Winograd error is within a small factor of the direct float convolution's", "[kernels][conv3x3]") {
  const bool verbose = std::getenv("GRADATTR_VERBOSE") != nullptr;
  struct Shape5 {
    std::int64_t n, c, k, h, w;
    double xlo, xhi, wscale;
    double fwd_rms, fwd_max, bwd_rms, bwd_max;  // caps on Winograd error / direct error
  };
  // VGG-like data (non-negative activations after a ReLU, small weights) and signed data;
  // reduction lengths from 3 to 512; edge tiles.
  const Shape5 shapes[] = {{1, 64, 64, 17, 17, 0.0, 2.0, 0.05, 5.5, 8, 10, 8.5},
                           {1, 256, 32, 7, 9, 0.0, 2.0, 0.05, 4, 8, 10, 12},
                           {1, 512, 32, 7, 9, 0.0, 2.0, 0.05, 4.5, 8, 9.5, 9.5},
                           {2, 33, 129, 13, 11, -1.0, 1.0, 1.0, 10, 26, 8.5, 12.5},
                           {1, 3, 64, 23, 19, -1.0, 1.0, 1.0, 17.5, 32, 9, 9.5},
                           {1, 128, 128, 14, 14, -1.0, 1.0, 0.1, 9.5, 16, 9.5, 14.5}};
  std::uint64_t seed = 7000;
  for (const auto& s : shapes) {
    CAPTURE(s.n, s.c, s.k, s.h, s.w);
    auto x = random_tensor<float>({s.n, s.c, s.h, s.w}, ++seed, s.xlo, s.xhi);
    auto w = random_tensor<float>({s.k, s.c, 3, 3}, ++seed, -s.wscale, s.wscale);
    auto b = random_tensor<float>({s.k}, ++seed);
    const auto r = reference_forward(x, w, b, false);
    auto yw = Tensor<float>::uninitialized(r.y.shape()), yd = yw.clone();
    forward_path(Path::winograd, yw, x, w, b, false);
    forward_path(Path::direct, yd, x, w, b, false);
    const Errors ew = errors(yw, r.y), ed = errors(yd, r.y);
    if (verbose) WARN("forward C=" << s.c << ": rms ratio " << ew.rms / ed.rms << ", max ratio " << ew.max / ed.max);
    INFO("forward: Winograd rms " << ew.rms << " max " << ew.max << "; direct rms " << ed.rms << " max " << ed.max);
    REQUIRE(ed.rms > 0);  // the comparison means something only if the direct path rounds too
    CHECK(ew.rms <= s.fwd_rms * ed.rms);
    CHECK(ew.max <= s.fwd_max * ed.max);

    auto dy = random_tensor<float>({s.n, s.k, s.h, s.w}, ++seed);
    Tensor<double> dxr(Shape{s.n, s.c, s.h, s.w});
    ref::conv2d_backward_data(dxr, dy.cast<double>(), w.cast<double>(), kSame);
    auto dxw = Tensor<float>::uninitialized(dxr.shape()), dxd = dxw.clone();
    backward_data_path(Path::winograd, dxw, dy, w);
    backward_data_path(Path::direct, dxd, dy, w);
    const Errors bw = errors(dxw, dxr), bd = errors(dxd, dxr);
    if (verbose) WARN("backward-data K=" << s.k << ": rms ratio " << bw.rms / bd.rms << ", max ratio " << bw.max / bd.max);
    INFO("backward-data: Winograd rms " << bw.rms << " max " << bw.max << "; direct rms " << bd.rms << " max " << bd.max);
    REQUIRE(bd.rms > 0);
    CHECK(bw.rms <= s.bwd_rms * bd.rms);
    CHECK(bw.max <= s.bwd_max * bd.max);
  }
}

TEST_CASE("conv3x3 backward-data matches the reference on odd shapes", "[kernels][conv3x3]") {
  std::uint64_t seed = 1000;
  double worst = 0;
  for (const auto& c : kCases) {
    CAPTURE(c.n, c.c, c.k, c.h, c.w);
    auto w = random_tensor<float>({c.k, c.c, 3, 3}, ++seed);
    auto dy = random_tensor<float>({c.n, c.k, c.h, c.w}, ++seed);
    Tensor<double> dxr(Shape{c.n, c.c, c.h, c.w});
    ref::conv2d_backward_data(dxr, dy.cast<double>(), w.cast<double>(), kSame);
    for (Path path : kPaths) {
      CAPTURE(static_cast<int>(path));
      auto dx = Tensor<float>::uninitialized(dxr.shape());
      dx.fill(std::numeric_limits<float>::quiet_NaN());
      backward_data_path(path, dx, dy, w);
      worst = std::max(worst, check_close(dx, dxr, winograd_bound(c.k, max_abs(dy), max_abs(w), 0.0)));
    }
  }
  WARN("conv3x3 backward-data: worst error / bound = " << worst);
}

TEST_CASE("conv3x3 NaN inputs make NaN every output the reference makes NaN", "[kernels][conv3x3]") {
  // Guarantee: ref NaN => fast NaN. Extra NaN outputs are allowed only inside the 4x4 output
  // tiles whose 6x6 input window holds the NaN pixel (documented in conv3x3.hpp).
  for (auto [h, w, ph, pw] : {std::array<std::int64_t, 4>{13, 11, 6, 5}, {13, 11, 0, 0}, {17, 17, 16, 3},
                              {5, 7, 4, 3}, {1, 1, 0, 0}, {9, 9, 3, 4}}) {
    CAPTURE(h, w, ph, pw);
    auto x = random_tensor<float>({2, 5, h, w}, 7);
    auto wt = random_tensor<float>({6, 5, 3, 3}, 8);
    auto b = random_tensor<float>({6}, 9);
    x(1, 2, ph, pw) = std::numeric_limits<float>::quiet_NaN();
    for (int relu = 0; relu < 2; ++relu)
    for (Path path : kPaths) {
      CAPTURE(relu, static_cast<int>(path));
      auto r = reference_forward(x, wt, b, relu != 0);
      auto y = Tensor<float>::uninitialized(r.y.shape());
      forward_path(path, y, x, wt, b, relu != 0);
      std::int64_t extra = 0;
      for (std::int64_t n = 0; n < 2; ++n)
        for (std::int64_t k = 0; k < 6; ++k)
          for (std::int64_t i = 0; i < h; ++i)
            for (std::int64_t j = 0; j < w; ++j) {
              const bool rn = std::isnan(r.y(n, k, i, j)), fn = std::isnan(y(n, k, i, j));
              if (rn) REQUIRE(fn);
              if (fn && !rn) {
                ++extra;
                // extra NaN only in the same image, in a tile whose input window has the pixel
                REQUIRE(n == 1);
                const std::int64_t ty = i / 4, tx = j / 4;
                REQUIRE((4 * ty - 1 <= ph && ph <= 4 * ty + 4 && 4 * tx - 1 <= pw && pw <= 4 * tx + 4));
              }
              if (!rn && !fn) REQUIRE(std::abs(y(n, k, i, j) - r.y(n, k, i, j)) <= r.bound);
            }
      (void)extra;
    }
    // backward-data: the same guarantee
    auto dy = random_tensor<float>({2, 6, h, w}, 10);
    dy(1, 3, ph, pw) = std::numeric_limits<float>::quiet_NaN();
    Tensor<double> dxr(Shape{2, 5, h, w});
    ref::conv2d_backward_data(dxr, dy.cast<double>(), wt.cast<double>(), kSame);
    for (Path path : kPaths) {
      auto dx = Tensor<float>::uninitialized(dxr.shape());
      backward_data_path(path, dx, dy, wt);
      for (std::int64_t i = 0; i < dx.numel(); ++i)
        if (std::isnan(dxr[i])) REQUIRE(std::isnan(dx[i]));
    }
  }
}

TEST_CASE("conv3x3 prepared filters give the same bits as on-the-fly ones", "[kernels][conv3x3]") {
  for (const auto& c : {Case{2, 17, 33, 13, 11}, Case{1, 64, 64, 17, 17}, Case{1, 3, 64, 9, 9}}) {
    auto x = random_tensor<float>({c.n, c.c, c.h, c.w}, 1);
    auto w = random_tensor<float>({c.k, c.c, 3, 3}, 2);
    auto b = random_tensor<float>({c.k}, 3);
    auto dy = random_tensor<float>({c.n, c.k, c.h, c.w}, 4);
    const auto f = fast::conv3x3_prepare(w);
    auto y1 = Tensor<float>::uninitialized({c.n, c.k, c.h, c.w}), y2 = y1.clone();
    fast::conv3x3_forward(y1, x, w, b, true);
    fast::conv3x3_forward(y2, x, w, b, true, &f);
    REQUIRE(bitwise_equal(y1, y2));
    auto dx1 = Tensor<float>::uninitialized(x.shape()), dx2 = dx1.clone();
    fast::conv3x3_backward_data(dx1, dy, w);
    fast::conv3x3_backward_data(dx2, dy, w, &f);
    REQUIRE(bitwise_equal(dx1, dx2));
    // through the dispatch with a Conv2dPrepared
    const auto prep = kernels::Conv2dPrepared<float>::prepare(w, kSame);
    auto y3 = y1.clone(), dx3 = dx1.clone();
    fast::conv3x3_forward(y1, x, w, b, false);
    kernels::conv2d_forward(y3, x, w, b, kSame, prep.get());
    REQUIRE(bitwise_equal(y1, y3));
    kernels::conv2d_forward(y3, x, w, b, kSame);
    REQUIRE(bitwise_equal(y1, y3));
    kernels::conv2d_backward_data(dx3, dy, w, kSame, prep.get());
    REQUIRE(bitwise_equal(dx1, dx3));
    kernels::conv2d_backward_data(dx3, dy, w, kSame);
    REQUIRE(bitwise_equal(dx1, dx3));
  }
}

TEST_CASE("conv3x3 results do not depend on the thread count", "[kernels][conv3x3]") {
#ifdef _OPENMP
  const int saved = omp_get_max_threads();
  for (const auto& c : {Case{3, 17, 33, 13, 11}, Case{1, 64, 128, 28, 28}, Case{1, 256, 64, 14, 14},
                        Case{2, 3, 64, 19, 37}}) {
    auto x = random_tensor<float>({c.n, c.c, c.h, c.w}, 5);
    auto w = random_tensor<float>({c.k, c.c, 3, 3}, 6);
    auto b = random_tensor<float>({c.k}, 7);
    auto dy = random_tensor<float>({c.n, c.k, c.h, c.w}, 8);
    std::vector<Tensor<float>> ys, dxs;
    for (int t : {1, 2, 3}) {
      omp_set_num_threads(t);
      auto y = Tensor<float>::uninitialized({c.n, c.k, c.h, c.w});
      fast::conv3x3_forward(y, x, w, b, true);
      auto dx = Tensor<float>::uninitialized(x.shape());
      fast::conv3x3_backward_data(dx, dy, w);
      ys.push_back(y);
      dxs.push_back(dx);
    }
    omp_set_num_threads(saved);
    for (std::size_t i = 1; i < ys.size(); ++i) {
      REQUIRE(bitwise_equal(ys[0], ys[i]));
      REQUIRE(bitwise_equal(dxs[0], dxs[i]));
    }
  }
#else
  SUCCEED("built without OpenMP");
#endif
}

TEST_CASE("conv3x3 arch variants agree with the reference", "[kernels][conv3x3]") {
  // The SSE2 instantiation (4 lanes) exercises the generic paths (no AVX-512 transposes).
  auto x = random_tensor<float>({2, 17, 13, 11}, 21);
  auto w = random_tensor<float>({33, 17, 3, 3}, 22);
  auto b = random_tensor<float>({33}, 23);
  auto r = reference_forward(x, w, b, true);
  auto y = Tensor<float>::uninitialized(r.y.shape());
  fast::conv3x3_forward<xsimd::sse2>(y, x, w, b, true);
  check_close(y, r.y, r.bound);
  auto dy = random_tensor<float>({2, 33, 13, 11}, 24);
  Tensor<double> dxr(x.shape());
  ref::conv2d_backward_data(dxr, dy.cast<double>(), w.cast<double>(), kSame);
  auto dx = Tensor<float>::uninitialized(x.shape());
  fast::conv3x3_backward_data<xsimd::sse2>(dx, dy, w);
  check_close(dx, dxr, winograd_bound(33, max_abs(dy), 1.0, 0.0));
}
