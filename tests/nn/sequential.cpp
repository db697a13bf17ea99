// nn::Sequential: names and aliases, cut points, the training forward (parameter gradients
// against central differences through in-place parameter updates), parameters() and update_parameters().
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <utility>

#include "gradattr/autodiff/grad.hpp"
#include "gradattr/autodiff/gradcheck.hpp"
#include "gradattr/models/vgg.hpp"
#include "gradattr/nn/sequential.hpp"
#include "support/cut_helpers.hpp"
#include "support/testing.hpp"

using namespace gradattr;
using gradattr::testing::random_tensor;

namespace {

// conv(1->3, 3x3 pad 1) relu pool conv(3->2, 3x3 pad 1) relu avgpool(2x2) flatten linear(8->4)
template <class T>
nn::Sequential<T> small_net(std::uint64_t seed) {
  const kernels::Conv2dParams same{1, 1, 1, 1};
  nn::Sequential<T> s;
  s.add("c1", nn::Conv2d<T>(random_tensor<T>({3, 1, 3, 3}, seed), random_tensor<T>({3}, seed + 1, -0.1, 0.1), same));
  s.add("r1", nn::ReLU<T>{});
  s.add("p1", nn::MaxPool2d<T>{});
  s.add("c2", nn::Conv2d<T>(random_tensor<T>({2, 3, 3, 3}, seed + 2), random_tensor<T>({2}, seed + 3, -0.1, 0.1), same));
  s.add("r2", nn::ReLU<T>{});
  s.add("gap", nn::AdaptiveAvgPool2d<T>{{}, 2, 2});
  s.add("flat", nn::Flatten<T>{});
  s.add("fc", nn::Linear<T>(random_tensor<T>({4, 8}, seed + 4), random_tensor<T>({4}, seed + 5)));
  s.add("drop", nn::Dropout<T>{});
  s.add_alias("last_conv", "r2");
  return s;
}

}  // namespace

TEST_CASE("nn::Sequential: names, aliases and their errors", "[nn][sequential]") {
  auto s = small_net<float>(1);
  CHECK(s.layer_names() == std::vector<std::string>{"c1", "r1", "p1", "c2", "r2", "gap", "flat", "fc", "drop"});
  CHECK(s.resolve_layer("last_conv") == "r2");
  CHECK(s.resolve_layer("input") == "input");
  CHECK(s.num_classes() == 4);
  CHECK_THROWS_AS(s.add("c1", nn::ReLU<float>{}), ArgumentError);
  CHECK_THROWS_AS(s.add("input", nn::ReLU<float>{}), ArgumentError);
  CHECK_THROWS_AS(s.add("last_conv", nn::ReLU<float>{}), ArgumentError);
  CHECK_THROWS_AS(s.add_alias("x", "nothing"), ArgumentError);
  CHECK_THROWS_AS(s.add_alias("c2", "c1"), ArgumentError);
  try {
    (void)s.resolve_layer("c3");
    FAIL("no error");
  } catch (const ArgumentError& e) {
    CHECK_THAT(e.what(), Catch::Contains("unknown layer 'c3'") && Catch::Contains("input, c1, r1, p1, c2") &&
                             Catch::Contains("last_conv (r2)"));
  }
  CHECK(std::holds_alternative<nn::Linear<float>>(s.layer("fc")));
}

TEST_CASE("nn::Sequential: cut points and tapes", "[nn][sequential]") {
  const auto s = small_net<double>(2);
  const auto x = random_tensor<double>({2, 1, 8, 8}, 3);
  const auto z = s.forward(x);
  REQUIRE(z.shape() == Shape{2, 4});
  for (const auto& L : {"input", "c1", "r1", "p1", "c2", "r2", "gap", "flat", "fc", "drop"}) {
    ad::Tape<double> tape;
    REQUIRE_CLOSE(gradattr::testing::from_layer(s, tape.variable(gradattr::testing::activation_at(s, x, L)), L, tape).value(), z, 0, 0);
  }
  ad::Tape<double> t1, t2;
  auto a = t1.variable(x);
  CHECK_THROWS_AS(gradattr::testing::from_layer(s, a, "input", t2), ArgumentError);
  CHECK_THROWS_AS(s.forward_train(a, t2), ArgumentError);
  // A ShapeError names the layer.
  try {
    (void)s.forward(random_tensor<double>({1, 2, 8, 8}, 1));
    FAIL("no error");
  } catch (const ShapeError& e) {
    CHECK_THAT(e.what(), Catch::Contains("layer 'c1'"));
  }
}

TEST_CASE("nn::Sequential: training forward gives parameter gradients that match finite differences",
          "[nn][sequential][train]") {
  auto s = small_net<double>(4);
  const auto x = ad::kink_free_random(Shape{2, 1, 6, 6}, 5);
  const std::vector<std::int64_t> cls{1, 3};
  auto loss = [&](const ad::Var<double>& logits) { return ad::sum(ad::gather(ad::log_softmax(logits), cls)); };

  ad::Tape<double> tape;
  const auto out = s.forward_train(x, tape);
  const auto grads = ad::grad(tape, loss(out.logits), out.vars());
  double worst = 0;
  s.update_parameters([&](std::vector<nn::Parameter<double>>& params) {
  REQUIRE(out.parameters.size() == params.size());
  REQUIRE(params.size() == 6);
  for (std::size_t k = 0; k < params.size(); ++k) {
    INFO(params[k].name);
    CHECK(out.parameters[k].name == params[k].name);
    REQUIRE(grads[k].shape() == params[k].tensor.shape());
    Tensor<double>& p = params[k].tensor;  // updated in place, as an optimiser would
    for (std::int64_t i = 0; i < p.numel(); ++i) {
      const double p0 = p[i], eps = 1e-6;
      p[i] = p0 + eps;
      const double fp = loss(s.forward(x)).value()[0];
      p[i] = p0 - eps;
      const double fm = loss(s.forward(x)).value()[0];
      p[i] = p0;
      const double numeric = (fp - fm) / (2 * eps);
      worst = std::max(worst, std::abs(grads[k][i] - numeric) / (1e-5 + 1e-3 * std::abs(numeric)));
    }
  }
  });
  INFO("worst error / tolerance " << worst);
  CHECK(worst < 1);
  CHECK(out.parameters[0].name == "c1.weight");
  CHECK(out.parameters[5].name == "fc.bias");
}

TEST_CASE("nn::Sequential: update_parameters changes the weights and keeps the prepared (fast) weights valid",
          "[nn][sequential][train]") {
  auto s = small_net<float>(6);
  const auto x = random_tensor<float>({1, 1, 8, 8}, 7);
  const auto before = s.forward(x);
  s.update_parameters([](std::vector<nn::Parameter<float>>& ps) {
    for (auto& p : ps)
      for (auto& v : p.tensor) v *= 0.5f;
  });
  // Every convolution is on the fast path again: its prepared weights exist and are those of
  // the halved weights (the same network built fresh from the halved tensors agrees bit for bit).
  for (const auto& e : s.layers())
    if (const auto* c = std::get_if<nn::Conv2d<float>>(&e.layer)) {
      INFO(e.name);
      CHECK(c->prepared() != nullptr);
    }
  nn::Sequential<float> fresh;
  for (const auto& e : s.layers()) {
    if (const auto* c = std::get_if<nn::Conv2d<float>>(&e.layer))
      fresh.add(e.name, nn::Conv2d<float>(c->weight().clone(), c->bias().clone(), c->params()));
    else
      fresh.add(e.name, e.layer);
  }
  const auto after = s.forward(x);
  REQUIRE(gradattr::testing::bitwise_equal(after, fresh.forward(x)));
  bool changed = false;
  for (std::int64_t i = 0; i < before.numel(); ++i) changed |= before[i] != after[i];
  CHECK(changed);
  CHECK(s.parameter_count() == 3 * 9 + 3 + 2 * 27 + 2 + 32 + 4);
  // An exception from the update still leaves valid prepared weights.
  REQUIRE_THROWS_AS(s.update_parameters([](std::vector<nn::Parameter<float>>& ps) {
    for (auto& v : ps[0].tensor) v = 1.0f;
    throw ArgumentError("stop");
  }),
                    ArgumentError);
  for (const auto& e : s.layers())
    if (const auto* c = std::get_if<nn::Conv2d<float>>(&e.layer)) CHECK(c->prepared() != nullptr);
}

TEST_CASE("nn::Sequential: cuts carry nothing; forward_between composes with forward_from", "[nn][sequential]") {
  const auto s = small_net<double>(2);
  const auto x = random_tensor<double>({2, 1, 8, 8}, 3);
  const auto z = s.forward(x);
  const auto c = s.forward_until(x, "r1");
  CHECK(c.layer == "r1");
  CHECK(c.carried.empty());
  CHECK_FALSE(c.activation.tracked());
  ad::Tape<double> tape;
  const auto xv = tape.variable(x);
  const auto mid = s.forward_between(models::input_cut(xv), "p1", tape);  // recorded: x is tracked
  CHECK(mid.layer == "p1");
  CHECK(mid.activation.tracked());
  REQUIRE_CLOSE(mid.activation.value(), gradattr::testing::activation_at(s, x, "p1"), 0, 0);
  REQUIRE_CLOSE(s.forward_from(mid, tape).value(), z, 0, 0);
  // between a layer and itself: the cut unchanged; a later cut to an earlier layer: refused
  REQUIRE_CLOSE(s.forward_between(c, "r1", tape).activation.value(), c.activation.value(), 0, 0);
  CHECK_THROWS_WITH(s.forward_between(mid, "c1", tape), Catch::Contains("comes before"));
  // a cut holding a variable of another tape
  ad::Tape<double> other;
  CHECK_THROWS_WITH(s.forward_from(c.with_activation(other.variable(c.activation.value())), tape),
                    Catch::Contains("another tape"));
}

TEST_CASE("nn::Sequential: the unrecorded float forward (fused ReLU, NHWC16 runs) gives the layer-by-layer bits",
          "[nn][sequential][blocked]") {
  // forward / forward_until take nn/detail/blocked_forward.hpp; forward_from with an untracked
  // input runs each layer's own forward on NCHW: the two must agree bit for bit at every cut.
  const kernels::Conv2dParams same{1, 1, 1, 1};
  nn::Sequential<float> s;  // direct 3x3, Winograd runs, a general conv, padded pool, no-ReLU conv
  s.add("c1", nn::Conv2d<float>(random_tensor<float>({17, 3, 3, 3}, 1), random_tensor<float>({17}, 2), same));
  s.add("r1", nn::ReLU<float>{});
  s.add("c2", nn::Conv2d<float>(random_tensor<float>({20, 17, 3, 3}, 3, -0.3, 0.3), random_tensor<float>({20}, 4), same));
  s.add("r2", nn::ReLU<float>{});
  s.add("p1", nn::MaxPool2d<float>{});
  s.add("d1", nn::Dropout<float>{});
  s.add("c3", nn::Conv2d<float>(random_tensor<float>({33, 20, 3, 3}, 5, -0.3, 0.3), Tensor<float>(), same));
  s.add("c4", nn::Conv2d<float>(random_tensor<float>({16, 33, 3, 3}, 6, -0.3, 0.3), random_tensor<float>({16}, 7), same));
  s.add("r4", nn::ReLU<float>{});
  s.add("p2", nn::MaxPool2d<float>{{}, {3, 3, 2, 2, 1, 1}});
  s.add("c5", nn::Conv2d<float>(random_tensor<float>({12, 16, 5, 5}, 8, -0.2, 0.2), random_tensor<float>({12}, 9),
                                {1, 1, 2, 2}));
  s.add("r5", nn::ReLU<float>{});
  s.add("c6", nn::Conv2d<float>(random_tensor<float>({24, 12, 3, 3}, 10, -0.3, 0.3), random_tensor<float>({24}, 11), same));
  s.add("r6", nn::ReLU<float>{});
  s.add("gap", nn::AdaptiveAvgPool2d<float>{{}, 3, 2});
  s.add("flat", nn::Flatten<float>{});
  s.add("fc", nn::Linear<float>(random_tensor<float>({5, 24 * 6}, 12), random_tensor<float>({5}, 13)));
  for (const Shape& in : {Shape{1, 3, 19, 23}, Shape{2, 3, 16, 16}}) {
    auto x = random_tensor<float>(in, 14);
    x[7] = std::numeric_limits<float>::quiet_NaN();  // NaN travels the same way on both paths
    ad::Tape<float> tape;
    REQUIRE(gradattr::testing::bitwise_equal(s.forward(x), gradattr::testing::from_layer(s, ad::Var<float>(x), "input", tape).value()));
    for (const auto& name : s.layer_names()) {
      CAPTURE(in.str(), name);
      // the plain path up to `name`: the layers up to it, run one by one
      nn::Sequential<float> prefix;
      for (const auto& e : s.layers()) {
        prefix.add(e.name, e.layer);
        if (e.name == name) break;
      }
      const auto plain = gradattr::testing::from_layer(prefix, ad::Var<float>(x), "input", tape).value();
      REQUIRE(gradattr::testing::bitwise_equal(gradattr::testing::activation_at(s, x, name), plain));
    }
  }
}

TEST_CASE("nn::Sequential: a VGG's fused forward equals its layer-by-layer forward", "[nn][sequential][blocked]") {
  const auto vgg = models::vgg<float>(11, {.width_scale = 0.27, .hidden = {32}, .num_classes = 7, .seed = 3});
  const auto x = random_tensor<float>({2, 3, 37, 45}, 15);
  ad::Tape<float> tape;
  const auto plain = gradattr::testing::from_layer(vgg, ad::Var<float>(x), "input", tape).value();
  REQUIRE(gradattr::testing::bitwise_equal(vgg.forward(x), plain));
  const auto cut = gradattr::testing::activation_at(vgg, x, "block4_conv2");
  REQUIRE(gradattr::testing::bitwise_equal(gradattr::testing::from_layer(vgg, ad::Var<float>(cut), "block4_conv2", tape).value(), plain));
}
