// Tape and Var: recording only with tracked inputs, creation order, clear() and generations,
// the closed op set, and the BackwardContext rules (first write assigns, later ones add).
#include "autodiff/helpers.hpp"

using namespace gradattr;
using namespace gradattr::ad;
using namespace gradattr::ad::testing;

TEST_CASE("ops on constants compute values and record nothing", "[autodiff][tape]") {
  const auto net = TinyVgg<double>::make(1);
  const auto x = kink_free_random(Shape{2, 3, 12, 10}, 2);
  Tape<double> tape;
  auto unrelated = tape.variable(Tensor<double>(Shape{2}));
  Var<double> z = net(x);  // weights and input are constants: a plain forward
  REQUIRE_FALSE(z.tracked());
  REQUIRE(z.shape() == Shape{2, 5});
  REQUIRE(tape.size() == 1);  // only `unrelated`
  // The same code on a tracked input records every op, with the same values.
  Var<double> zt = net(tape.variable(x));
  REQUIRE(zt.tracked());
  REQUIRE(tape.size() == 2 + 13);  // 2 leaves + 3 conv, 4 relu, 2 max-pool, adaptive, flatten, 2 linear
  REQUIRE_CLOSE(zt.value(), z.value(), 0, 0);
  (void)unrelated;
}

TEST_CASE("records are in creation order and name their op", "[autodiff][tape]") {
  Tape<float> tape;
  auto x = tape.variable(Tensor<float>(Shape{2, 3}, 1.f));
  auto y = relu(x);
  auto s = sum(y * 2.0f);
  REQUIRE(tape.size() == 4);
  REQUIRE(std::string(tape.record(0).name()) == "variable");
  REQUIRE(std::string(tape.record(1).name()) == "relu");
  REQUIRE(std::string(tape.record(2).name()) == "scale");
  REQUIRE(std::string(tape.record(3).name()) == "sum");
  REQUIRE(tape.record(2).inputs == std::vector<std::int32_t>{1});
  REQUIRE(s.index() == 3);
  REQUIRE(tape.record(3).shape == Shape{});
  // a constant operand is recorded as input -1
  auto m = mul(x, Tensor<float>(Shape{2, 3}, 2.f));
  REQUIRE(tape.record(static_cast<std::size_t>(m.index())).inputs == std::vector<std::int32_t>{0, -1});
}

TEST_CASE("clear() invalidates earlier Vars; the tape is reusable", "[autodiff][tape][errors]") {
  Tape<double> tape;
  auto x = tape.variable(Tensor<double>(Shape{3}, 2.0));
  auto y = exp(x);
  auto s = sum(y);
  const auto generation = tape.generation();
  tape.clear();
  REQUIRE(tape.size() == 0);
  REQUIRE(tape.generation() != generation);
  REQUIRE_THROWS_AS(relu(x), ArgumentError);
  REQUIRE_THROWS_WITH(relu(x), Catch::Contains("relu") && Catch::Contains("Tape::clear()"));
  REQUIRE_THROWS_WITH(sum(y), Catch::Contains("sum") && Catch::Contains("Tape::clear()"));
  auto x2 = tape.variable(Tensor<double>(Shape{3}, 2.0));
  REQUIRE_THROWS_AS(grad(tape, sum(x2), {x}), ArgumentError);
  REQUIRE_THROWS_WITH(grad(tape, s, {x2}), Catch::Contains("output") && Catch::Contains("Tape::clear()"));
  // fresh variables work as before
  auto g = grad(tape, sum(exp(x2)), {x2})[0];
  REQUIRE(g[0] == Approx(std::exp(2.0)));
}

TEST_CASE("inputs from two tapes are rejected", "[autodiff][tape][errors]") {
  Tape<double> t1, t2;
  auto a = t1.variable(Tensor<double>(Shape{2}, 1.0));
  auto b = t2.variable(Tensor<double>(Shape{2}, 1.0));
  REQUIRE_THROWS_AS(a + b, ArgumentError);
  REQUIRE_THROWS_WITH(a + b, Catch::Contains("add") && Catch::Contains("different tapes"));
  REQUIRE_THROWS_AS(t1.variable(Tensor<double>()), ArgumentError);
}

namespace {
template <class T>
struct NoBackward {
  static constexpr const char* name = "no_backward";
  Tensor<T> forward(const Tensor<T>& x) { return x; }
};
}  // namespace

TEST_CASE("the op set is closed and every op has a backward", "[autodiff][tape]") {
  STATIC_REQUIRE(RecordedOp<op::Conv2d<float>, float>);
  STATIC_REQUIRE(RecordedOp<op::Relu<double>, double>);
  STATIC_REQUIRE_FALSE(RecordedOp<NoBackward<double>, double>);  // would not compile in Op<T>
}

TEST_CASE("BackwardContext: the first write assigns, later writes add out of place", "[autodiff][tape]") {
  // Records 0 and 1 are on the path, record 2 is not; the op's inputs are (0, 1, 0, 2, -1).
  const std::vector<std::int32_t> inputs{0, 1, 0, 2, -1};
  const std::vector<char> on_path{1, 1, 0};
  std::vector<Tensor<double>> grads(3);
  std::vector<char> owned(3, 0);
  BackwardContext<double> ctx(inputs, on_path, grads, owned, /*poison=*/true);
  REQUIRE(ctx.needs(0));
  REQUIRE(ctx.needs(1));
  REQUIRE_FALSE(ctx.needs(3));  // off the path
  REQUIRE_FALSE(ctx.needs(4));  // a constant
  REQUIRE_FALSE(ctx.needs(5));  // no such input
  auto buf = ctx.buffer(Shape{2});
  REQUIRE(std::isnan(buf[0]));  // poisoned: a kernel that adds into it would produce NaN

  const Tensor<double> g1(Shape{2}, {1.0, 2.0}), g2(Shape{2}, {10.0, 20.0});
  ctx.accumulate(0, g1);
  REQUIRE(grads[0].shares_buffer_with(g1));  // assigned, not copied
  ctx.accumulate(2, g2);                      // the same record again: added
  REQUIRE(grads[0][0] == 11.0);
  REQUIRE(grads[0][1] == 22.0);
  REQUIRE(g1[0] == 1.0);  // out of place: the first gradient's buffer is untouched
  ctx.accumulate(3, g2);  // off the path: ignored
  REQUIRE(grads[2].empty());
  REQUIRE(owned[0] == 1);  // the sum is the sweep's own buffer: a third write adds in place
  const Tensor<double> sum = grads[0];
  ctx.accumulate(0, g2);
  REQUIRE(grads[0].shares_buffer_with(sum));
  REQUIRE(grads[0][1] == 42.0);
  REQUIRE(g2[1] == 20.0);
}

TEST_CASE("BackwardContext: accumulator() adds in place only into a buffer the sweep made", "[autodiff][tape]") {
  const std::vector<std::int32_t> inputs{0, 1};
  const std::vector<char> on_path{1, 1};
  std::vector<Tensor<double>> grads(2);
  std::vector<char> owned(2, 0);
  BackwardContext<double> ctx(inputs, on_path, grads, owned, /*poison=*/true);
  // nothing there yet: a zero buffer of the input's shape, even when poisoning
  Tensor<double>& a = ctx.accumulator(0, Shape{3});
  REQUIRE(a.shape() == Shape{3});
  REQUIRE((a[0] == 0.0 && a[1] == 0.0 && a[2] == 0.0));
  a[1] += 5.0;
  REQUIRE(&ctx.accumulator(0, Shape{3}) == &grads[0]);
  REQUIRE(grads[0][1] == 5.0);
  // a gradient handed over (a view another value may share) is copied before the first add
  const Tensor<double> shared(Shape{2}, {1.0, 2.0});
  ctx.accumulate(1, shared);
  REQUIRE(owned[1] == 0);
  Tensor<double>& b = ctx.accumulator(1, Shape{2});
  REQUIRE_FALSE(b.shares_buffer_with(shared));
  b[0] += 10.0;
  REQUIRE(grads[1][0] == 11.0);
  REQUIRE(shared[0] == 1.0);
  // and a later accumulate() adds into it in place
  const Tensor<double> own = grads[1];
  ctx.accumulate(1, shared);
  REQUIRE(grads[1].shares_buffer_with(own));
  REQUIRE(grads[1][1] == 4.0);
}
