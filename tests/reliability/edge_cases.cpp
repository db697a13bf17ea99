// Numerical edge cases at the public API (docs/reliability.md, "NaN policy"):
//  - an empty batch (N = 0) is a ShapeError from every attribution method and from the model's
//    forward, before any work;
//  - NaN / infinity in the input: the attribution methods reject it by default (ArgumentError)
//    and compute with Options{.check_finite = false}, propagating NaN; the model's forward
//    propagates it (it does not check: that costs a pass over the input on every call);
//  - the fast softmax / log_softmax treat NaN, +-inf and huge logits exactly as the scalar
//    reference does (NaN in the same rows, -inf classes at probability 0), in the SIMD body and
//    the tail.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <string>

#include "gradattr/attribution/methods.hpp"
#include "gradattr/kernels/conv2d.hpp"
#include "gradattr/kernels/dense.hpp"
#include "gradattr/kernels/pool.hpp"
#include "gradattr/kernels/reference/conv2d.hpp"
#include "gradattr/kernels/reference/dense.hpp"
#include "gradattr/kernels/reference/pool.hpp"
#include "gradattr/kernels/reference/softmax.hpp"
#include "gradattr/kernels/softmax.hpp"
#include "gradattr/models/vgg.hpp"
#include "support/cut_helpers.hpp"
#include "support/testing.hpp"
#include "support/errors.hpp"

using namespace gradattr;
namespace ref = gradattr::kernels::reference;

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

models::Vgg<float> small_vgg() {
  return models::vgg<float>(11, models::VggOptions{.width_scale = 1.0 / 32, .hidden = {8, 8}, .num_classes = 6, .seed = 3});
}

using testing::error_of;

}  // namespace

TEST_CASE("an empty batch is a clear ShapeError from every attribution method", "[reliability][edge]") {
  const auto m = small_vgg();
  const Tensor<float> empty(Shape{0, 3, 32, 32});
  CHECK_THAT(error_of<ShapeError>([&] { (void)GradCam<Post>(m, "features.19")(empty); }), Catch::Contains("non-empty"));
  CHECK_THAT(error_of<ShapeError>([&] { (void)HiResCam<Pre>(m, "features.19")(empty); }), Catch::Contains("non-empty"));
  CHECK_THAT(error_of<ShapeError>([&] { (void)Saliency<LogSoftmax>(m)(empty); }), Catch::Contains("non-empty"));
  CHECK_THAT(error_of<ShapeError>([&] { (void)IntegratedGradients<Post>(m)(empty); }), Catch::Contains("non-empty"));
  CHECK_THAT(error_of<ShapeError>([&] { (void)ScoreCam<Post>(m, "features.19")(empty); }), Catch::Contains("non-empty"));
  CHECK_THAT(error_of<ShapeError>([&] { (void)RsiGradCam<Post>(m, "features.19")(empty); }), Catch::Contains("non-empty"));
  // The model itself: a ShapeError naming the first layer, before any work.
  CHECK_THAT(error_of<ShapeError>([&] { (void)m.forward(empty); }), Catch::Contains("features.0"));
  CHECK_THROWS_AS(gradattr::testing::activation_at(m, empty, "features.19"), ShapeError);
  CHECK_THROWS_AS(m.forward(Tensor<float>{}), ShapeError);
}

TEST_CASE("an input below the receptive field is a ShapeError from the attribution methods too", "[reliability][edge]") {
  const auto m = small_vgg();
  const auto x = testing::random_tensor<float>({1, 3, 8, 8}, 1);
  CHECK_THROWS_AS(GradCam<Post>(m, "features.19")(x), ShapeError);
  CHECK_THROWS_AS(Saliency<Post>(m)(x), ShapeError);
  CHECK_THROWS_AS(IntegratedGradients<Post>(m)(x), ShapeError);
}

TEST_CASE("NaN or infinity in the input: rejected by default, propagated when the check is off", "[reliability][nan]") {
  const auto m = small_vgg();
  for (float bad : {kNaN, kInf, -kInf}) {
    INFO("value " << bad);
    auto x = testing::random_tensor<float>({2, 3, 32, 32}, 5);
    x[3 * 32 * 32 + 17] = bad;  // image 1
    const auto msg = error_of<ArgumentError>([&] { (void)GradCam<Post>(m, "features.19")(x); });
    CHECK_THAT(msg, Catch::Contains("image 1") && Catch::Contains("check_finite"));
    CHECK_THROWS_AS(Saliency<Pre>(m)(x), ArgumentError);
    CHECK_THROWS_AS(IntegratedGradients<LogSoftmax>(m)(x), ArgumentError);
    CHECK_THROWS_AS(ScoreCam<Post>(m, "features.19")(x), ArgumentError);
    // Opt-out: the computation runs and the non-finite value shows in the result, not a crash.
    const auto r = Saliency<Pre>(m, Saliency<Pre>::Options{.check_finite = false})(x);
    CHECK(r.raw.shape() == x.shape());
    // The model's forward does not check: NaN reaches the logits of image 1 only.
    const auto z = m.forward(x);
    bool finite0 = true;
    for (std::int64_t k = 0; k < z.dim(1); ++k) finite0 = finite0 && std::isfinite(z(0, k));
    CHECK(finite0);
    if (std::isnan(bad)) {
      bool nan1 = false;
      for (std::int64_t k = 0; k < z.dim(1); ++k) nan1 = nan1 || std::isnan(z(1, k));
      CHECK(nan1);
    }
  }
}

TEST_CASE("fast softmax / log_softmax treat NaN and infinite logits as the scalar reference does", "[reliability][softmax]") {
  for (std::int64_t C : {1, 5, 16, 17, 40}) {  // tail only, one SIMD block, body + tail
    INFO("C " << C);
    // Rows: NaN first / last / middle; +inf at one class; -inf at one class; all -inf;
    // one huge and the rest tiny.
    const std::int64_t R = 7;
    Tensor<float> x(Shape{R, C});
    for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>((i * 37) % 11) - 5.0f;
    x(0, 0) = kNaN;
    x(1, C - 1) = kNaN;
    x(2, C / 2) = kNaN;
    x(3, C / 2) = kInf;
    x(4, C - 1) = -kInf;
    for (std::int64_t c = 0; c < C; ++c) x(5, c) = -kInf;
    for (std::int64_t c = 0; c < C; ++c) x(6, c) = c == 0 ? 3e38f : -3e38f;
    Tensor<float> y(x.shape()), ly(x.shape()), yr(x.shape()), lyr(x.shape());
    kernels::softmax(y, x);
    kernels::log_softmax(ly, x);
    ref::softmax(yr, x);
    ref::log_softmax(lyr, x);
    for (std::int64_t n = 0; n < R; ++n)
      for (std::int64_t c = 0; c < C; ++c) {
        INFO("row " << n << " class " << c << ": fast " << y(n, c) << " / " << ly(n, c) << ", reference " << yr(n, c) << " / "
                    << lyr(n, c));
        CHECK(std::isnan(y(n, c)) == std::isnan(yr(n, c)));
        CHECK(std::isnan(ly(n, c)) == std::isnan(lyr(n, c)));
        if (!std::isnan(yr(n, c))) CHECK(std::abs(y(n, c) - yr(n, c)) <= 1e-6f);
        if (std::isinf(lyr(n, c))) CHECK(ly(n, c) == lyr(n, c));
      }
    // NaN rows are NaN throughout (no silently "valid" probabilities).
    for (std::int64_t n = 0; n < 3; ++n)
      for (std::int64_t c = 0; c < C; ++c) CHECK(std::isnan(y(n, c)));
    // A -inf logit has probability exactly 0 and the row still sums to 1.
    if (C > 1) {
      CHECK(y(4, C - 1) == 0.0f);
      double sum = 0;
      for (std::int64_t c = 0; c < C; ++c) sum += y(4, c);
      CHECK(sum == Approx(1.0).epsilon(1e-6));
    }
    // One logit of 3e38 against -3e38: all the mass on it, finite everywhere.
    CHECK(y(6, 0) == 1.0f);
    for (std::int64_t c = 0; c < C; ++c) CHECK(std::isfinite(y(6, c)));
  }
}

TEST_CASE("fast conv2d (im2col path), linear and adaptive pooling put NaN exactly where the reference does",
          "[reliability][nan]") {
  // Conv 5x5 stride 2 (not the Winograd 3x3 path, which spreads a NaN over its tile: see
  // tests/kernels/conv3x3.cpp), one NaN in image 1 and one +inf in image 0.
  auto x = testing::random_tensor<float>({2, 3, 13, 11}, 21);
  x[1 * 3 * 13 * 11 + 40] = kNaN;
  x[77] = kInf;
  const auto w = testing::random_tensor<float>({4, 3, 5, 5}, 22), b = testing::random_tensor<float>({4}, 23);
  kernels::Conv2dParams p;
  p.stride_h = p.stride_w = 2;
  p.pad_h = p.pad_w = 1;
  const Shape ys = kernels::conv2d_output_shape(x.shape(), w.shape(), p);
  Tensor<float> y(ys), yr(ys);
  kernels::conv2d_forward(y, x, w, b, p);
  ref::conv2d_forward(yr, x, w, b, p);
  std::int64_t nans = 0;
  for (std::int64_t i = 0; i < y.numel(); ++i) {
    INFO("conv output " << i << ": fast " << y[i] << ", reference " << yr[i]);
    CHECK(std::isnan(y[i]) == std::isnan(yr[i]));
    nans += std::isnan(yr[i]);
  }
  CHECK(nans > 0);
  // Linear: NaN in one feature of sample 2 makes that sample's outputs NaN, no other's.
  auto xl = testing::random_tensor<float>({3, 37}, 24);
  xl(2, 5) = kNaN;
  const auto wl = testing::random_tensor<float>({19, 37}, 25), bl = testing::random_tensor<float>({19}, 26);
  Tensor<float> yl(Shape{3, 19}), ylr(Shape{3, 19});
  kernels::linear_forward(yl, xl, wl, bl);
  ref::linear_forward(ylr, xl, wl, bl);
  for (std::int64_t i = 0; i < yl.numel(); ++i) CHECK(std::isnan(yl[i]) == std::isnan(ylr[i]));
  for (std::int64_t o = 0; o < 19; ++o) CHECK((std::isnan(yl(2, o)) && !std::isnan(yl(0, o)) && !std::isnan(yl(1, o))));
  // Adaptive average pooling (overlapping windows when upsampling 5 -> 7).
  auto xa = testing::random_tensor<float>({1, 2, 5, 5}, 27);
  xa[12] = kNaN;
  const Shape as = kernels::adaptive_pool2d_output_shape(xa.shape(), 7, 7);
  Tensor<float> ya(as), yar(as);
  kernels::adaptive_avg_pool2d_forward(ya, xa);
  ref::adaptive_avg_pool2d_forward(yar, xa);
  for (std::int64_t i = 0; i < ya.numel(); ++i) CHECK(std::isnan(ya[i]) == std::isnan(yar[i]));
}
