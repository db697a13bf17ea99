// The fused activation epilogue of conv2d_forward (kernels::Activation: the GEMM's tiles, the
// depthwise rows, the Winograd output, the one-pass fallback) and add_activation, against the
// unfused computation: the same conv2d_forward without act followed by the separate ReLU / Clip
// kernel (or the add kernel then ReLU). The epilogue applies the same selects to the same
// values, so the results must be equal bit for bit, NaN and -0 included, at 1, 2 and 3 threads.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "gradattr/kernels/activation.hpp"
#include "gradattr/kernels/broadcast.hpp"
#include "gradattr/kernels/conv2d.hpp"
#include "gradattr/kernels/fast/conv_depthwise.hpp"
#include "gradattr/kernels/fast/conv_gemm.hpp"
#include "gradattr/kernels/pointwise.hpp"
#include "support/testing.hpp"

using namespace gradattr;
using gradattr::testing::bitwise_equal;
using gradattr::testing::random_tensor;
using kernels::Activation;

namespace {

void set_threads(int n) {
#ifdef _OPENMP
  omp_set_num_threads(n);
#else
  (void)n;
#endif
}

struct Case {
  const char* what;
  Shape x, w;
  kernels::Conv2dParams p;
};

kernels::Conv2dParams params(int s, int pad, int groups = 1) {
  kernels::Conv2dParams p;
  p.stride_h = p.stride_w = s;
  p.pad_h = p.pad_w = pad;
  p.groups = groups;
  return p;
}

std::vector<Case> cases() {
  kernels::Conv2dParams asym = params(2, 1);
  asym.pad_bottom = 0;
  asym.pad_right = 2;
  return {
      {"1x1 pointwise (one GEMM on NCHW)", {2, 19, 9, 11}, {21, 19, 1, 1}, params(1, 0)},
      {"1x1 stride 2 (ResNet downsample)", {1, 17, 13, 9}, {23, 17, 1, 1}, params(2, 0)},
      {"3x3 stride 2 (im2col)", {1, 7, 15, 13}, {9, 7, 3, 3}, params(2, 1)},
      {"7x7 stride 2 pad 3 (stem)", {1, 3, 23, 21}, {5, 3, 7, 7}, params(2, 3)},
      {"3x3 asymmetric pads", {1, 5, 10, 11}, {6, 5, 3, 3}, asym},
      {"grouped 3x3", {1, 12, 9, 7}, {9, 4, 3, 3}, params(1, 1, 3)},
      {"depthwise 3x3 stride 1", {2, 13, 17, 19}, {13, 1, 3, 3}, params(1, 1, 13)},
      {"depthwise 3x3 stride 2", {1, 11, 18, 21}, {11, 1, 3, 3}, params(2, 1, 11)},
      {"depthwise 5x5 stride 2", {1, 9, 15, 14}, {9, 1, 5, 5}, params(2, 2, 9)},
      {"3x3 s1 p1 direct (few channels)", {1, 3, 11, 13}, {6, 3, 3, 3}, params(1, 1)},
      {"3x3 s1 p1 Winograd", {1, 24, 13, 11}, {40, 24, 3, 3}, params(1, 1)},
  };
}

// x with a NaN and a -0 planted, so the epilogue's NaN and signed-zero handling is compared too.
Tensor<float> input(const Shape& s, std::uint64_t seed) {
  Tensor<float> x = random_tensor<float>(s, seed, -2.0, 2.0);
  x[x.numel() / 3] = std::numeric_limits<float>::quiet_NaN();
  x[x.numel() / 2] = -0.0f;
  return x;
}

}  // namespace

TEST_CASE("conv2d_forward with an activation equals the conv followed by the activation kernel", "[kernels][fusion]") {
#ifdef _OPENMP
  const int saved = omp_get_max_threads();
#else
  const int saved = 1;
#endif
  const std::vector<std::pair<std::string, Activation>> acts = {
      {"relu", Activation::relu()}, {"relu6", Activation::clip(0.0f, 6.0f)}, {"clip(-0.5, 0.25)", Activation::clip(-0.5f, 0.25f)}};
  std::uint64_t seed = 100;
  for (const Case& c : cases()) {
    const Tensor<float> x = input(c.x, seed++);
    const Tensor<float> w = random_tensor<float>(c.w, seed++, -0.5, 0.5);
    const Tensor<float> b = random_tensor<float>(Shape{c.w[0]}, seed++, -0.3, 0.3);
    const Shape ys = kernels::conv2d_output_shape(x.shape(), w.shape(), c.p);
    const auto prepared = kernels::Conv2dPrepared<float>::prepare(w, c.p);
    for (const auto& [name, act] : acts) {
      for (int threads : {1, 2, 3}) {
        INFO(c.what << ", " << name << ", " << threads << " thread(s)");
        set_threads(threads);
        Tensor<float> conv(ys), want(ys), got(ys);
        kernels::conv2d_forward(conv, x, w, b, c.p, prepared.get());
        if (act.kind == Activation::Relu)
          kernels::relu_forward(want, conv);
        else
          kernels::clip_forward(want, conv, act.lo, act.hi);
        kernels::conv2d_forward(got, x, w, b, c.p, prepared.get(), act);
        REQUIRE(bitwise_equal(got, want));
        // The activation did something: some outputs were clamped.
        std::int64_t changed = 0;
        for (std::int64_t i = 0; i < conv.numel(); ++i) changed += !(conv[i] == got[i]) && !std::isnan(conv[i]);
        CHECK(changed > 0);
      }
    }
  }
  set_threads(saved);
}

TEST_CASE("The direct kernels' epilogue: gemm and depthwise entry points with an activation", "[kernels][fusion]") {
  // The same comparisons through the fast entry points (no dispatch), for the paths the
  // dispatcher would not pick for these shapes.
  const Tensor<float> x = input(Shape{1, 6, 9, 10}, 7);
  const Tensor<float> w = random_tensor<float>(Shape{6, 1, 3, 3}, 8);
  const Tensor<float> b = random_tensor<float>(Shape{6}, 9);
  const auto p = params(1, 1, 6);
  const Shape ys = kernels::conv2d_output_shape(x.shape(), w.shape(), p);
  Tensor<float> conv(ys), want(ys), got(ys);
  kernels::fast::conv2d_gemm_forward(conv, x, w, b, p);
  kernels::relu_forward(want, conv);
  kernels::fast::conv2d_gemm_forward(got, x, w, b, p, Activation::relu());
  REQUIRE(bitwise_equal(got, want));
  kernels::fast::conv2d_depthwise_forward(conv, x, w, b, p);
  kernels::clip_forward(want, conv, 0.0f, 6.0f);
  kernels::fast::conv2d_depthwise_forward(got, x, w, b, p, Activation::clip(0.0f, 6.0f));
  REQUIRE(bitwise_equal(got, want));
}

TEST_CASE("add_activation equals add followed by relu / clip", "[kernels][fusion]") {
#ifdef _OPENMP
  const int saved = omp_get_max_threads();
#else
  const int saved = 1;
#endif
  for (const Shape& s : {Shape{1, 3, 5, 7}, Shape{2, 64, 56, 56}, Shape{1, 1, 1, 33}}) {
    const Tensor<float> a = input(s, 11), b = random_tensor<float>(s, 12, -2.0, 2.0);
    for (int threads : {1, 2, 3}) {
      INFO(s.str() << ", " << threads << " thread(s)");
      set_threads(threads);
      Tensor<float> sum(s), want(s), got(s);
      kernels::binary(sum, a, b, kernels::BinaryOp::add);
      kernels::relu_forward(want, sum);
      kernels::fast::add_activation(got, a, b, Activation::relu());
      REQUIRE(bitwise_equal(got, want));
      kernels::clip_forward(want, sum, 0.0f, 6.0f);
      kernels::fast::add_activation(got, a, b, Activation::clip(0.0f, 6.0f));
      REQUIRE(bitwise_equal(got, want));
    }
  }
  set_threads(saved);
}

TEST_CASE("conv2d_forward with a residual equals conv, add, then the activation", "[kernels][fusion]") {
#ifdef _OPENMP
  const int saved = omp_get_max_threads();
#else
  const int saved = 1;
#endif
  std::uint64_t seed = 300;
  for (const Case& c : cases()) {
    const Tensor<float> x = input(c.x, seed++);
    const Tensor<float> w = random_tensor<float>(c.w, seed++, -0.5, 0.5);
    const Tensor<float> b = random_tensor<float>(Shape{c.w[0]}, seed++, -0.3, 0.3);
    const Shape ys = kernels::conv2d_output_shape(x.shape(), w.shape(), c.p);
    const Tensor<float> r = random_tensor<float>(ys, seed++, -1.0, 1.0);
    const auto prepared = kernels::Conv2dPrepared<float>::prepare(w, c.p);
    for (const Activation& act : {Activation{}, Activation::relu(), Activation::clip(0.0f, 6.0f)}) {
      for (int threads : {1, 2, 3}) {
        INFO(c.what << ", activation kind " << int(act.kind) << ", " << threads << " thread(s)");
        set_threads(threads);
        Tensor<float> conv(ys), sum(ys), want(ys), got(ys);
        kernels::conv2d_forward(conv, x, w, b, c.p, prepared.get());
        kernels::binary(sum, conv, r, kernels::BinaryOp::add);
        if (act.kind == Activation::Relu)
          kernels::relu_forward(want, sum);
        else if (act.kind == Activation::Clip)
          kernels::clip_forward(want, sum, act.lo, act.hi);
        else
          want = sum;
        kernels::conv2d_forward(got, x, w, b, c.p, prepared.get(), act, &r);
        REQUIRE(bitwise_equal(got, want));
      }
    }
  }
  set_threads(saved);
}
