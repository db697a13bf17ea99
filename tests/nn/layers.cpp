// nn layers: parameter validation, forward equal to the autodiff ops, prepared weights dropped on
// mutable access and rebuilt by refresh(), Dropout as identity, output shapes.
#include <catch2/catch.hpp>

#include "gradattr/autodiff/autodiff.hpp"
#include "gradattr/nn/layers.hpp"
#include "support/testing.hpp"

using namespace gradattr;
using gradattr::testing::random_tensor;

TEST_CASE("nn::Conv2d validates its parameters", "[nn][layers]") {
  CHECK_THROWS_AS(nn::Conv2d<float>(Tensor<float>({4, 3, 3}), Tensor<float>({4})), ShapeError);
  CHECK_THROWS_AS(nn::Conv2d<float>(Tensor<float>({4, 3, 3, 3}), Tensor<float>({3})), ShapeError);
  nn::Conv2d<float> ok(Tensor<float>({4, 3, 3, 3}), Tensor<float>(), {1, 1, 1, 1});  // no bias is fine
  CHECK(ok.in_channels() == 3);
  CHECK(ok.out_channels() == 4);
  CHECK(ok.output_shape(Shape{2, 3, 5, 6}) == Shape{2, 4, 5, 6});
  CHECK_THROWS_AS(ok.output_shape(Shape{2, 2, 5, 6}), ShapeError);
  CHECK(ok.describe() == "Conv2d(3, 4, 3x3, stride 1, pad 1)");
}

TEST_CASE("nn::Conv2d forward equals ad::conv2d; prepared weights follow the parameters", "[nn][layers]") {
  const kernels::Conv2dParams same{1, 1, 1, 1};
  const auto w = random_tensor<float>({8, 5, 3, 3}, 1), b = random_tensor<float>({8}, 2);
  const auto x = random_tensor<float>({2, 5, 9, 7}, 3);
  nn::Conv2d<float> conv(w.clone(), b.clone(), same);
  REQUIRE(conv.prepared() != nullptr);
  nn::Context<float> ctx;
  const auto ref = ad::conv2d(ad::Var<float>(x), w, b, same).value();
  REQUIRE_CLOSE(conv.forward(x, ctx).value(), ref, 1e-5, 1e-5);

  // An in-place update through mutable access drops the prepared weights: still correct.
  Tensor<float>& wm = conv.mutable_weight();
  CHECK(conv.prepared() == nullptr);
  for (auto& v : wm) v *= -2;
  const auto w2 = wm.clone();
  const auto ref2 = ad::conv2d(ad::Var<float>(x), w2, b, same).value();
  REQUIRE_CLOSE(conv.forward(x, ctx).value(), ref2, 1e-5, 1e-5);
  conv.refresh();
  CHECK(conv.prepared() != nullptr);
  REQUIRE_CLOSE(conv.forward(x, ctx).value(), ref2, 1e-5, 1e-5);
  conv.for_each_parameter([](const char*, Tensor<float>&) {});
  CHECK(conv.prepared() == nullptr);
  std::as_const(conv).for_each_parameter([](const char*, const Tensor<float>&) {});
}

TEST_CASE("nn::Conv2d: a training forward uses the prepared weights, and its gradients are those of the plain op",
          "[nn][layers]") {
  // 16 -> 12 channels: above the direct kernel's limit, so the prepared pack holds Winograd
  // filters that forward and backward-data read.
  const kernels::Conv2dParams same{1, 1, 1, 1};
  const auto w = random_tensor<float>({12, 16, 3, 3}, 4), b = random_tensor<float>({12}, 5);
  const auto x = random_tensor<float>({2, 16, 9, 11}, 6), dy = random_tensor<float>({2, 12, 9, 11}, 7);
  nn::Conv2d<float> conv(w.clone(), b.clone(), same);
  // After an in-place update and refresh(), the pack is that of the new weights.
  for (auto& v : conv.mutable_weight()) v *= -0.5F;
  conv.refresh();
  REQUIRE(conv.prepared() != nullptr);
  const auto w2 = conv.weight().clone();

  const auto grads = [&](bool layer) {
    ad::Tape<float> tape;
    const auto xv = tape.variable(x);
    std::vector<ad::Var<float>> targets{xv};
    ad::Var<float> y;
    if (layer) {
      nn::Context<float> ctx(tape);
      y = conv.forward(xv, ctx);
      for (const auto& p : ctx.parameter_vars()) targets.push_back(p.var);
    } else {
      const auto wv = tape.variable(w2), bv = tape.variable(b);
      targets.push_back(wv);
      targets.push_back(bv);
      y = ad::conv2d(xv, wv, bv, same, static_cast<const kernels::Conv2dPrepared<float>*>(nullptr));
    }
    auto g = ad::grad_once(tape, y, targets, dy);
    g.push_back(y.value());
    return g;
  };
  kernels::reset_call_counts();
  const auto got = grads(true);
  // Forward and backward-data read the pack: no filter bank is transformed inside the call
  // (before, a training forward passed no pack and both transformed the filters again).
  CHECK(kernels::call_count(kernels::KernelId::conv3x3_filter_transform) == 0);
  const auto want = grads(false);
  CHECK(kernels::call_count(kernels::KernelId::conv3x3_filter_transform) == 2);
  REQUIRE(got.size() == 4);
  REQUIRE(want.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) REQUIRE_CLOSE(got[i], want[i], 1e-4, 1e-4);  // dx, dw, db, y
}

TEST_CASE("nn::Linear validates and computes x wᵀ + b", "[nn][layers]") {
  CHECK_THROWS_AS(nn::Linear<double>(Tensor<double>({3}), Tensor<double>({3})), ShapeError);
  CHECK_THROWS_AS(nn::Linear<double>(Tensor<double>({3, 2}), Tensor<double>({2})), ShapeError);
  nn::Linear<double> fc(Tensor<double>({2, 3}, {1, 2, 3, 4, 5, 6}), Tensor<double>({2}, {10, 20}));
  nn::Context<double> ctx;
  const auto y = fc.forward(Tensor<double>({1, 3}, {1, 1, 2}), ctx).value();
  REQUIRE_CLOSE(y, Tensor<double>({1, 2}, {10 + 9, 20 + 21}), 0, 0);
  CHECK(fc.output_shape(Shape{5, 3}) == Shape{5, 2});
  CHECK_THROWS_AS(fc.output_shape(Shape{5, 4}), ShapeError);
}

TEST_CASE("nn: parameter-free layers", "[nn][layers]") {
  nn::Context<float> ctx;
  const auto x = random_tensor<float>({2, 3, 5, 4}, 4);
  ad::Tape<float> tape;
  auto vx = tape.variable(x);
  SECTION("Dropout is the identity and records nothing") {
    nn::Dropout<float> d;
    const auto y = d.forward(vx, ctx);
    CHECK(y.index() == vx.index());
    CHECK(tape.size() == 1);
    CHECK(d.output_shape(x.shape()) == x.shape());
  }
  SECTION("ReLU") {
    nn::ReLU<float> r;
    const auto y = r.forward(x, ctx).value();
    for (std::int64_t i = 0; i < x.numel(); ++i) CHECK(y[i] == std::max(x[i], 0.0f));
  }
  SECTION("Flatten") {
    nn::Flatten<float> f;
    CHECK(f.output_shape(x.shape()) == Shape{2, 60});
    CHECK(f.forward(vx, ctx).shape() == Shape{2, 60});
  }
  SECTION("MaxPool2d") {
    nn::MaxPool2d<float> p;
    CHECK(p.output_shape(x.shape()) == Shape{2, 3, 2, 2});
    CHECK_THROWS_AS(p.output_shape(Shape{1, 1, 1, 4}), ShapeError);
  }
  SECTION("AdaptiveAvgPool2d upsamples a smaller map by replication") {
    nn::AdaptiveAvgPool2d<float> a;
    const auto small = random_tensor<float>({1, 1, 2, 2}, 5);
    const auto y = a.forward(small, ctx).value();
    REQUIRE(y.shape() == Shape{1, 1, 7, 7});
    // PyTorch's windows for 2 -> 7: rows 0-3 read input row 0, row 3 averages both rows.
    CHECK(y(0, 0, 0, 0) == small(0, 0, 0, 0));
    CHECK(y(0, 0, 6, 6) == small(0, 0, 1, 1));
    CHECK(y(0, 0, 3, 0) == Approx((small(0, 0, 0, 0) + small(0, 0, 1, 0)) / 2));
  }
}

TEST_CASE("nn::Conv2d::set_exact: 3x3 convolutions without Winograd, closer to the double reference", "[nn][layers]") {
  const kernels::Conv2dParams same{1, 1, 1, 1};
  const auto w = random_tensor<float>({24, 32, 3, 3}, 8), b = random_tensor<float>({24}, 9);
  const auto x = random_tensor<float>({1, 32, 13, 10}, 10);
  const auto ref = ad::conv2d(ad::Var<double>(x.cast<double>()), w.cast<double>(), b.cast<double>(), same).value();
  nn::Conv2d<float> conv(w.clone(), b.clone(), same);
  nn::Context<float> ctx;
  const auto max_err = [&](const Tensor<float>& y) {
    double e = 0;
    for (std::int64_t i = 0; i < y.numel(); ++i) e = std::max(e, std::abs(static_cast<double>(y[i]) - ref[i]));
    return e;
  };
  const double winograd = max_err(conv.forward(x, ctx).value());
  conv.set_exact(true);
  CHECK(conv.params().exact);
  REQUIRE(conv.prepared() != nullptr);
  CHECK(conv.prepared()->filters().forward.empty());  // nothing transformed for the exact path
  kernels::reset_call_counts();
  const double exact = max_err(conv.forward(x, ctx).value());
  CHECK(kernels::call_count(kernels::KernelId::conv3x3_filter_transform) == 0);
  INFO("max |error| vs double: winograd " << winograd << ", exact " << exact);
  CHECK(exact < 0.5 * winograd);
  CHECK(exact < 3e-5);  // outputs of magnitude ~20: a few float ulps
  conv.set_exact(false);
  CHECK(max_err(conv.forward(x, ctx).value()) == winograd);
}
