// A whole VGG-shaped chain (conv-relu-conv-relu-maxpool-conv-relu-maxpool-adaptivepool-
// flatten-linear-relu-linear): finite differences from a logit and from a gathered
// log-softmax to the input, to intermediate activations (the Grad-CAM case: the head built
// from a tracked activation), to the weights; float against double.
#include "autodiff/helpers.hpp"

using namespace gradattr;
using namespace gradattr::ad;
using namespace gradattr::ad::testing;

namespace {
const Shape kInput{2, 3, 12, 10};
}

TEST_CASE("VGG chain: gradients of a logit and of log-softmax match finite differences", "[autodiff][vgg]") {
  const auto net = TinyVgg<double>::make(100);
  const auto x = kink_free_random(kInput, 7);
  SECTION("logit to input") {
    check_gradients([&](const Vars& v) { return sum(gather(net(v[0]), {2, 4})); }, {x});
  }
  SECTION("gathered log-softmax to input") {
    check_gradients([&](const Vars& v) { return sum(gather(log_softmax(net(v[0])), {0, 3})); }, {x});
  }
  SECTION("softmax probability to input") {
    check_gradients([&](const Vars& v) { return sum(gather(softmax(net(v[0])), {1, 1})); }, {x});
  }
  for (int cut : {1, 2}) {
    SECTION("logit and log-softmax to the activation at cut point " + std::to_string(cut)) {
      const Tensor<double> a = net.forward_until(x, cut);  // a real activation, computed untracked
      check_gradients([&](const Vars& v) { return sum(gather(net.forward_from(v[0], cut), {2, 4})); }, {a});
      check_gradients([&](const Vars& v) { return sum(gather(log_softmax(net.forward_from(v[0], cut)), {2, 4})); }, {a});
    }
  }
  SECTION("logit to every weight and bias") {
    check_gradients(
        [&](const Vars& v) {
          auto a = relu(conv2d(V(x), v[0], v[1], net.same));
          a = max_pool2d(relu(conv2d(a, v[2], v[3], net.same)));
          a = max_pool2d(relu(conv2d(a, v[4], v[5], net.same)));
          a = flatten(adaptive_avg_pool2d(a, 2, 2));
          return sum(gather(linear(relu(linear(a, v[6], v[7])), v[8], v[9]), {2, 4}));
        },
        {net.w1, net.b1, net.w2, net.b2, net.w3, net.b3, net.fw1, net.fb1, net.fw2, net.fb2});
  }
}

TEST_CASE("VGG chain: the activation gradient equals the input run's gradient at that activation",
          "[autodiff][vgg]") {
  // Grad-CAM's split (forward_until untracked, forward_from on a tape) gives the same ∂S/∂A as
  // one tape through the whole network.
  const auto net = TinyVgg<double>::make(101);
  const auto x = kink_free_random(kInput, 8);
  Tape<double> whole;
  auto vx = whole.variable(x);
  auto h = relu(conv2d(relu(conv2d(vx, net.w1, net.b1, net.same)), net.w2, net.b2, net.same));
  auto a = max_pool2d(h);
  auto s = sum(gather(log_softmax(net.forward_from(a, 1)), {1, 4}));
  const auto g_whole = grad(whole, s, {a})[0];

  Tape<double> head;
  auto va = head.variable(net.forward_until(x, 1));
  auto s2 = sum(gather(log_softmax(net.forward_from(va, 1)), {1, 4}));
  REQUIRE(head.size() < whole.size());
  REQUIRE_CLOSE(grad(head, s2, {va})[0], g_whole, 0, 0);
}

TEST_CASE("VGG chain: float gradients agree with double", "[autodiff][vgg][float]") {
  const auto netd = TinyVgg<double>::make(102);
  const auto netf = TinyVgg<float>::make(102);
  const auto xd = kink_free_random(kInput, 9);
  const auto xf = xd.cast<float>();
  const std::vector<std::int64_t> cls{0, 2};

  Tape<double> td;
  auto vd = td.variable(xd);
  auto zd = netd(vd);
  auto gd = grad(td, sum(gather(log_softmax(zd), cls)), {vd})[0];
  Tape<float> tf;
  auto vf = tf.variable(xf);
  auto zf = netf(vf);
  auto gf = grad(tf, sum(gather(log_softmax(zf), cls)), {vf})[0];

  REQUIRE_CLOSE(zf.value(), zd.value(), 1e-5, 1e-4);
  double scale = 0;
  for (double v : gd) scale = std::max(scale, std::abs(v));
  REQUIRE(scale > 1e-3);  // a meaningful gradient, not all zeros
  REQUIRE_CLOSE(gf, gd, 1e-5 * scale, 1e-3);
  // the logit seed path too (a non-scalar output with a seed)
  Tensor<double> seedd(Shape{2, 5});
  seedd(0, 1) = 1.0;
  seedd(1, 4) = -2.0;
  REQUIRE_CLOSE(grad(tf, zf, {vf}, seedd.cast<float>())[0], grad(td, zd, {vd}, seedd)[0], 1e-5 * scale, 1e-3);
}
