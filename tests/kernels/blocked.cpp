// The NHWC16 blocked inference kernels (kernels/blocked.hpp, kernels/fast/nhwc16.hpp):
//  - the layout conversions are exact inverses and zero the padding channels;
//  - the Winograd conv reading / writing NHWC16 gives the bits of the NCHW kernel (same float
//    operations), on odd shapes, with and without ReLU, with NaN inputs, at 1 and 2 threads,
//    and for the SSE2 instantiation;
//  - max pooling on NHWC16 gives the reference's values (ties, signed zeros, NaN) for VGG's
//    2x2/2 window and for padded / overlapping windows;
//  - conv2d_relu_forward equals conv2d_forward then relu on every conv path.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "gradattr/kernels/blocked.hpp"
#include "gradattr/kernels/reference/activation.hpp"
#include "gradattr/kernels/reference/pool.hpp"
#include "support/testing.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

using namespace gradattr;
namespace fast = gradattr::kernels::fast;
namespace ref = gradattr::kernels::reference;
using gradattr::testing::bitwise_equal;
using gradattr::testing::random_tensor;

namespace {

const kernels::Conv2dParams kSame{1, 1, 1, 1};

struct ConvCase {
  std::int64_t n, c, k, h, w;
};
// Edge tiles (H, W not multiples of 4 or 16), channel counts not multiples of 16 (padding
// channels in both layouts), batches 1-3.
const std::vector<ConvCase> kConvCases = {{1, 17, 33, 13, 11}, {3, 64, 17, 5, 7},  {2, 16, 64, 1, 1},
                                          {1, 9, 9, 4, 4},     {2, 33, 80, 9, 23}, {1, 128, 64, 14, 14}};

Tensor<float> nchw_conv(const Tensor<float>& x, const Tensor<float>& w, const Tensor<float>& b, bool relu) {
  auto y = Tensor<float>::uninitialized({x.dim(0), w.dim(0), x.dim(2), x.dim(3)});
  fast::conv3x3_forward(y, x, w, b, relu);
  return y;
}

void set_threads(int t) {
#ifdef _OPENMP
  omp_set_num_threads(t);
#else
  (void)t;
#endif
}

}  // namespace

TEST_CASE("NHWC16 conversions are exact inverses with zero padding channels", "[kernels][blocked]") {
  for (const auto& s : {Shape{1, 1, 1, 1}, Shape{2, 3, 5, 7}, Shape{1, 17, 4, 9}, Shape{3, 32, 3, 2}}) {
    const auto x = random_tensor<float>(s, 1);
    const kernels::Nhwc16 b = kernels::to_nhwc16(x);
    REQUIRE(b.stride() % 16 == 0);
    REQUIRE(b.stride() >= s[1]);
    REQUIRE(b.nchw_shape() == s);
    for (std::int64_t n = 0; n < s[0]; ++n)
      for (std::int64_t h = 0; h < s[2]; ++h)
        for (std::int64_t w = 0; w < s[3]; ++w)
          for (std::int64_t c = 0; c < b.stride(); ++c) {
            const float v = b.data[((n * s[2] + h) * s[3] + w) * b.stride() + c];
            if (c < s[1])
              REQUIRE(v == x[((n * s[1] + c) * s[2] + h) * s[3] + w]);
            else
              REQUIRE(v == 0.0f);
          }
    REQUIRE(bitwise_equal(kernels::to_nchw(b), x));
  }
}

TEST_CASE("Winograd conv on NHWC16 gives the bits of the NCHW kernel", "[kernels][blocked]") {
  for (const auto& c : kConvCases) {
    CAPTURE(c.n, c.c, c.k, c.h, c.w);
    auto x = random_tensor<float>({c.n, c.c, c.h, c.w}, 3);
    const auto w = random_tensor<float>({c.k, c.c, 3, 3}, 4);
    const auto b = random_tensor<float>({c.k}, 5);
    x[x.numel() / 2] = std::numeric_limits<float>::quiet_NaN();  // NaN spreads the same way
    const auto prepared = kernels::Conv2dPrepared<float>::prepare(w, kSame);
    REQUIRE(kernels::conv2d_blocked_applies(w, kSame));
    for (bool relu : {false, true}) {
      const auto want = nchw_conv(x, w, b, relu);
      const kernels::Nhwc16 xb = kernels::to_nhwc16(x);
      const auto from_nchw = kernels::conv2d_forward_nhwc16(&x, nullptr, w, b, relu, prepared.get());
      const auto from_blocked = kernels::conv2d_forward_nhwc16(nullptr, &xb, w, b, relu, nullptr);
      REQUIRE(from_nchw.nchw_shape() == want.shape());
      REQUIRE(bitwise_equal(kernels::to_nchw(from_nchw), want));
      REQUIRE(bitwise_equal(kernels::to_nchw(from_blocked), want));
      // the SSE2 instantiation (4 lanes, no AVX-512 transposes) too
      const auto sse = fast::conv3x3_forward_nhwc16<xsimd::sse2>(nullptr, &xb, w, b, relu);
      REQUIRE(bitwise_equal(kernels::to_nchw(sse), want));
    }
  }
}

TEST_CASE("Winograd conv on NHWC16 without bias, and chained: padding channels are never read",
          "[kernels][blocked]") {
  // Garbage (NaN) in an input's padding channels must not reach the data channels.
  const auto x = random_tensor<float>({2, 20, 9, 10}, 6);
  const auto w1 = random_tensor<float>({24, 20, 3, 3}, 7), w2 = random_tensor<float>({40, 24, 3, 3}, 8);
  kernels::Nhwc16 xb = kernels::to_nhwc16(x);
  for (std::int64_t p = 0; p < xb.data.numel() / xb.stride(); ++p)
    for (std::int64_t c = 20; c < xb.stride(); ++c) xb.data[p * xb.stride() + c] = std::numeric_limits<float>::quiet_NaN();
  const auto y1 = kernels::conv2d_forward_nhwc16(nullptr, &xb, w1, Tensor<float>(), true, nullptr);
  const auto y2 = kernels::conv2d_forward_nhwc16(nullptr, &y1, w2, Tensor<float>(), false, nullptr);
  const auto want = nchw_conv(nchw_conv(x, w1, Tensor<float>(), true), w2, Tensor<float>(), false);
  REQUIRE(bitwise_equal(kernels::to_nchw(y2), want));
}

TEST_CASE("Winograd conv on NHWC16 does not depend on the thread count", "[kernels][blocked]") {
  const int saved = max_threads();
  const auto x = kernels::to_nhwc16(random_tensor<float>({3, 17, 13, 11}, 9));
  const auto w = random_tensor<float>({33, 17, 3, 3}, 10);
  const auto b = random_tensor<float>({33}, 11);
  std::vector<Tensor<float>> ys;
  for (int t : {1, 2, 3}) {
    set_threads(t);
    ys.push_back(kernels::to_nchw(kernels::conv2d_forward_nhwc16(nullptr, &x, w, b, true, nullptr)));
    ys.push_back(kernels::to_nchw(kernels::max_pool2d_forward_nhwc16(x, {})));
  }
  set_threads(saved);
  for (std::size_t i = 2; i < ys.size(); ++i) REQUIRE(bitwise_equal(ys[i % 2], ys[i]));
}

TEST_CASE("max pooling on NHWC16 gives the reference's values", "[kernels][blocked]") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // the last three: asymmetric pads and ceil_mode (windows clipped at the bottom/right)
  const std::vector<kernels::Pool2dParams> params = {{}, {3, 3, 2, 2, 1, 1}, {3, 3, 1, 1, 1, 1}, {1, 1, 1, 1, 0, 0},
                                                     {2, 3, 1, 2, 1, 0}, {2, 2, 2, 2, 0, 0, -1, -1, true},
                                                     {3, 3, 2, 2, 0, 1, 1, 2, true}, {3, 2, 2, 1, 2, 0, 0, 1, false}};
  for (const auto& s : {Shape{1, 3, 7, 9}, Shape{2, 17, 13, 11}, Shape{1, 64, 4, 4}}) {
    auto x = random_tensor<float>(s, 12);
    // ties, signed zeros and NaNs in a few windows
    for (std::int64_t i = 0; i < x.numel(); i += 7) x[i] = 0.5f;
    for (std::int64_t i = 3; i < x.numel(); i += 11) x[i] = (i % 2) ? -0.0f : 0.0f;
    for (std::int64_t i = 5; i < x.numel(); i += 37) x[i] = nan;
    for (const auto& p : params) {
      CAPTURE(s.str(), p.kernel_h, p.kernel_w, p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.pad_b(), p.pad_r(), p.ceil_mode);
      const Shape os = kernels::pool2d_output_shape(s, p);
      auto want = Tensor<float>::uninitialized(os);
      auto argmax = Tensor<std::int32_t>::uninitialized(os);
      ref::max_pool2d_forward(want, argmax, x, p);
      const auto got = kernels::to_nchw(kernels::max_pool2d_forward_nhwc16(kernels::to_nhwc16(x), p));
      REQUIRE(got.shape() == os);
      for (std::int64_t i = 0; i < got.numel(); ++i) {
        if (std::isnan(want[i])) {
          REQUIRE(std::isnan(got[i]));
        } else {
          REQUIRE(got[i] == want[i]);
          REQUIRE(std::signbit(got[i]) == std::signbit(want[i]));
        }
      }
      const auto sse = kernels::to_nchw(fast::max_pool2d_nhwc16<xsimd::sse2>(kernels::to_nhwc16(x), p));
      for (std::int64_t i = 0; i < got.numel(); ++i)
        REQUIRE((std::isnan(got[i]) ? std::isnan(sse[i]) : sse[i] == got[i]));
    }
  }
}

TEST_CASE("conv2d_relu_forward equals conv2d_forward then relu on every conv path", "[kernels][blocked]") {
  struct Conv {
    Shape x, w;
    kernels::Conv2dParams p;
  };
  // Winograd 3x3, direct 3x3 (3 input channels), general im2col (5x5 stride 2)
  for (const auto& c : {Conv{{2, 17, 9, 13}, {33, 17, 3, 3}, kSame}, Conv{{1, 3, 11, 7}, {16, 3, 3, 3}, kSame},
                        Conv{{1, 4, 12, 10}, {6, 4, 5, 5}, {2, 2, 1, 1}}}) {
    auto x = random_tensor<float>(c.x, 13);
    x[1] = std::numeric_limits<float>::quiet_NaN();
    const auto w = random_tensor<float>(c.w, 14);
    const auto b = random_tensor<float>({c.w[0]}, 15);
    const Shape os = kernels::conv2d_output_shape(c.x, c.w, c.p);
    auto want = Tensor<float>::uninitialized(os), got = Tensor<float>::uninitialized(os);
    kernels::conv2d_forward(want, x, w, b, c.p);
    ref::relu_forward(want, want);
    kernels::conv2d_relu_forward(got, x, w, b, c.p);
    REQUIRE(bitwise_equal(got, want));
  }
}
