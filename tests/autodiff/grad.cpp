// grad(): accumulation, path marking (what is NOT run, proven with kernel call counts),
// seeds, results, and misuse errors.
#include "autodiff/helpers.hpp"
#include "gradattr/kernels/call_counts.hpp"

using namespace gradattr;
using namespace gradattr::ad;
using namespace gradattr::ad::testing;
using kernels::call_count;
using kernels::KernelId;

TEST_CASE("a value used several times accumulates its gradients", "[autodiff][grad][accumulation]") {
  const auto x = kink_free_random(Shape{2, 3, 5, 4}, 1);
  const auto w1 = kink_free_random(Shape{2, 3, 3, 3}, 2), w2 = kink_free_random(Shape{2, 3, 3, 3}, 3);
  check_gradients([](const Vars& v) { return weighted_sum(v[0] * v[0]); }, {x});
  check_gradients([](const Vars& v) { return weighted_sum(add(v[0], v[0])); }, {x});
  check_gradients([](const Vars& v) { return weighted_sum(relu(v[0]) + v[0] - exp(v[0])); }, {x});
  check_gradients([](const Vars& v) { return weighted_sum(add(conv2d(v[0], v[1], V()), conv2d(v[0], v[2], V()))); },
                  {x, w1, w2});
  check_gradients([](const Vars& v) { return weighted_sum(conv2d(v[0], v[1], V()) * conv2d(v[0], v[1], V())); },
                  {x, w1});  // weight used twice as well
  check_gradients([](const Vars& v) { return weighted_sum(concat_batch(Vars{v[0], v[0]})); }, {x});
  check_gradients(
      [](const Vars& v) {
        auto z = flatten(adaptive_avg_pool2d(v[0], 1, 1));  // [2, 3]
        return sum(gather(z, {0, 1})) + sum(gather(log_softmax(z), {2, 2})) * 3.0;
      },
      {x});
  // exact values: d/dx (x·x + x) = 2x + 1
  Tape<double> tape;
  auto v = tape.variable(Tensor<double>(Shape{2}, {3.0, -1.0}));
  auto g = grad(tape, sum(v * v + v), {v})[0];
  REQUIRE(g[0] == 7.0);
  REQUIRE(g[1] == -1.0);
}

TEST_CASE("a gradient with respect to activations never computes a weight gradient", "[autodiff][grad][pruning]") {
  const auto net = TinyVgg<double>::make(3);
  const auto x = kink_free_random(Shape{2, 3, 12, 10}, 4);
  Tape<double> tape;
  // Training-style: every weight is a tape variable too.
  auto w1 = tape.variable(net.w1), b1 = tape.variable(net.b1), fw = tape.variable(kink_free_random(Shape{10, 16}, 5));
  auto vx = tape.variable(x);
  auto h = relu(conv2d(vx, w1, b1, {1, 1, 1, 1}));
  auto a = max_pool2d(relu(conv2d(h, net.w2, net.b2, {1, 1, 1, 1})));
  auto z = linear(relu(linear(flatten(adaptive_avg_pool2d(a, 2, 2)), fw)), net.fw2, net.fb2);
  auto s = sum(gather(log_softmax(z), {1, 3}));

  kernels::reset_call_counts();
  auto gx = grad(tape, s, {vx})[0];
  REQUIRE(call_count(KernelId::conv2d_backward_weights) == 0);
  REQUIRE(call_count(KernelId::linear_backward_weights) == 0);
  REQUIRE(call_count(KernelId::conv2d_backward_data) == 2);
  REQUIRE(call_count(KernelId::linear_backward_data) == 2);

  kernels::reset_call_counts();
  auto ga = grad(tape, s, {a})[0];
  REQUIRE(call_count(KernelId::conv2d_backward_weights) == 0);
  REQUIRE(call_count(KernelId::conv2d_backward_data) == 0);  // nothing before `a` runs
  REQUIRE(call_count(KernelId::max_pool2d_backward) == 0);
  REQUIRE(call_count(KernelId::relu_backward) == 1);         // the head's one ReLU
  REQUIRE(call_count(KernelId::linear_backward_weights) == 0);

  kernels::reset_call_counts();
  auto gw = grad(tape, s, {w1, fw});
  REQUIRE(call_count(KernelId::conv2d_backward_weights) == 1);
  REQUIRE(call_count(KernelId::linear_backward_weights) == 1);
  REQUIRE(call_count(KernelId::conv2d_backward_data) == 1);  // through conv2 to reach conv1's weight
  REQUIRE(call_count(KernelId::linear_backward_data) == 2);  // both linears lie between conv1 and s
  REQUIRE(gw[0].shape() == net.w1.shape());
  REQUIRE(gw[1].shape() == fw.shape());
  (void)gx;
  (void)ga;
}

TEST_CASE("records off the path from the targets are not run", "[autodiff][grad][pruning]") {
  const auto x = kink_free_random(Shape{1, 2, 6, 6}, 5), c = kink_free_random(Shape{1, 2, 6, 6}, 6);
  const auto w = kink_free_random(Shape{2, 2, 3, 3}, 7);
  Tape<double> tape;
  auto vx = tape.variable(x), vc = tape.variable(c);
  // Two branches meet at the output; only the first starts at the target.
  auto bx = sum(relu(conv2d(vx, w, V())));
  auto bc = sum(relu(conv2d(relu(conv2d(vc, w, V())), w, V())));
  auto out = bx + bc;
  kernels::reset_call_counts();
  auto g = grad(tape, out, {vx});
  REQUIRE(call_count(KernelId::conv2d_backward_data) == 1);
  REQUIRE(call_count(KernelId::relu_backward) == 1);
  // With both targets, both branches run.
  kernels::reset_call_counts();
  auto g2 = grad(tape, out, {vx, vc});
  REQUIRE(call_count(KernelId::conv2d_backward_data) == 3);
  REQUIRE_CLOSE(g2[0], g[0], 0, 0);
}

TEST_CASE("targets the output does not depend on get zeros", "[autodiff][grad]") {
  Tape<double> tape;
  auto a = tape.variable(Tensor<double>(Shape{2, 2}, 1.0));
  auto b = tape.variable(Tensor<double>(Shape{3}, 1.0));
  auto s = sum(exp(a));
  auto later = tape.variable(Tensor<double>(Shape{4}, 1.0));  // made after the output
  auto g = grad(tape, s, {b, a, later});
  REQUIRE(g.size() == 3);
  REQUIRE_CLOSE(g[0], Tensor<double>(Shape{3}), 0, 0);
  REQUIRE(g[1][0] == Approx(std::exp(1.0)));
  REQUIRE_CLOSE(g[2], Tensor<double>(Shape{4}), 0, 0);
  REQUIRE(grad(tape, s, {}).empty());
}

TEST_CASE("a seed gives the vector-Jacobian product of a non-scalar output", "[autodiff][grad]") {
  Tape<double> tape;
  const auto xv = kink_free_random(Shape{3, 4}, 8), w = kink_free_random(Shape{5, 4}, 9);
  auto x = tape.variable(xv);
  auto z = linear(x, w);
  const auto seed = kink_free_random(Shape{3, 5}, 10);
  auto g = grad(tape, z, {x}, seed)[0];
  // same as the scalar Σ seed ⊙ z
  auto g2 = grad(tape, sum(mul(z, seed)), {x})[0];
  REQUIRE_CLOSE(g, g2, 1e-14, 1e-12);
  // grad() does not consume the tape: running it again gives the same result
  REQUIRE_CLOSE(grad(tape, z, {x}, seed)[0], g, 0, 0);
}

TEST_CASE("results own their buffers", "[autodiff][grad]") {
  Tape<double> tape;
  auto a = tape.variable(Tensor<double>(Shape{2}, 1.0));
  auto b = tape.variable(Tensor<double>(Shape{2}, 2.0));
  auto y = a + b;  // dy reaches a and b as the same tensor
  const Tensor<double> seed(Shape{2}, {5.0, 6.0});
  auto g = grad(tape, y, {a, b, y, a}, seed);
  for (std::size_t i = 0; i < g.size(); ++i) {
    REQUIRE_FALSE(g[i].shares_buffer_with(seed));
    for (std::size_t j = 0; j < i; ++j) REQUIRE_FALSE(g[i].shares_buffer_with(g[j]));
    REQUIRE_CLOSE(g[i], seed, 0, 0);
  }
  g[0][0] = 100.0;
  REQUIRE(seed[0] == 5.0);
  REQUIRE(g[1][0] == 5.0);
}

TEST_CASE("grad reports misuse clearly", "[autodiff][grad][errors]") {
  Tape<double> tape, other;
  auto x = tape.variable(Tensor<double>(Shape{2, 3}, 1.0));
  auto y = relu(x);
  SECTION("a non-scalar output needs a seed") {
    REQUIRE_THROWS_AS(grad(tape, y, {x}), ArgumentError);
    REQUIRE_THROWS_WITH(grad(tape, y, {x}), Catch::Contains("not a scalar") && Catch::Contains("[2, 3]") &&
                                                Catch::Contains("seed"));
  }
  SECTION("the seed must have the output's shape") {
    REQUIRE_THROWS_AS(grad(tape, y, {x}, Tensor<double>(Shape{3, 2})), ShapeError);
    REQUIRE_THROWS_WITH(grad(tape, y, {x}, Tensor<double>(Shape{3, 2})),
                        Catch::Contains("seed [3, 2]") && Catch::Contains("output [2, 3]"));
  }
  SECTION("targets must be variables of this tape") {
    auto o = other.variable(Tensor<double>(Shape{2, 3}, 1.0));
    REQUIRE_THROWS_AS(grad(tape, sum(y), {o}), ArgumentError);
    REQUIRE_THROWS_WITH(grad(tape, sum(y), {x, o}), Catch::Contains("target 1") && Catch::Contains("another tape"));
    REQUIRE_THROWS_WITH(grad(tape, sum(y), {V(Tensor<double>(Shape{2}))}),
                        Catch::Contains("target 0") && Catch::Contains("constant"));
  }
  SECTION("the output must be a variable of this tape") {
    auto o = other.variable(Tensor<double>(Shape{2, 3}, 1.0));
    REQUIRE_THROWS_WITH(grad(tape, sum(o), {x}), Catch::Contains("output") && Catch::Contains("another tape"));
    REQUIRE_THROWS_WITH(grad(tape, V(Tensor<double>::scalar(1.0)), {x}), Catch::Contains("output is a constant"));
  }
}

TEST_CASE("grad_once gives grad's results and releases the records it ran", "[autodiff][grad][release]") {
  const auto net = TinyVgg<double>::make(300);
  const auto x = kink_free_random(Shape{2, 3, 12, 10}, 301);
  const Tensor<double> seed = gradattr::testing::random_tensor<double>(Shape{2, 5}, 302);
  Tape<double> kept, once;
  auto xk = kept.variable(x), xo = once.variable(x);
  auto zk = net.forward_from(xk, 0), zo = net.forward_from(xo, 0);
  // a branch that does not lead to the target: never run, so never released
  auto side_o = sum(relu(xo));
  const auto gk = grad(kept, zk, {xk}, seed);
  const auto go = grad_once(once, zo, {xo}, seed);
  REQUIRE(gradattr::testing::bitwise_equal(gk[0], go[0]));
  // every op on the path is released (the leaf stays), the side branch is not
  std::size_t released = 0;
  for (std::size_t i = 0; i < once.size(); ++i) {
    const std::string name = once.record(i).name();
    if (name == "released") ++released;
    if (i == static_cast<std::size_t>(xo.index())) REQUIRE(name == "variable");
  }
  REQUIRE(released + 1 + 2 == once.size());  // all but the leaf and the side branch's relu, sum
  REQUIRE(std::string(once.record(static_cast<std::size_t>(side_o.index())).name()) == "sum");
  // the kept tape answers again; the released one says why it cannot
  REQUIRE(gradattr::testing::bitwise_equal(grad(kept, zk, {xk}, seed)[0], gk[0]));
  REQUIRE_THROWS_AS(grad(once, zo, {xo}, seed), ArgumentError);
  REQUIRE_THROWS_WITH(grad(once, zo, {xo}, seed),
                      Catch::Contains("'linear' record was released") && Catch::Contains("grad_once"));
  // the branch off the path still has its records
  REQUIRE(gradattr::testing::bitwise_equal(grad(once, side_o, {xo})[0], grad(kept, sum(relu(xk)), {xk})[0]));
}
