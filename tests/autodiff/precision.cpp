// Every op in float against the same op in double: values and gradients agree to float
// rounding (and every op instantiates for both scalar types).
#include <type_traits>

#include "autodiff/helpers.hpp"

using namespace gradattr;
using namespace gradattr::ad;
using namespace gradattr::ad::testing;

namespace {

// f: a generic lambda from std::vector<Var<T>> to a scalar Var<T>.
template <class F>
void check_float_matches_double(F f, const std::vector<Tensor<double>>& inputs) {
  auto run = [&]<class T>(std::type_identity<T>) {
    Tape<T> tape;
    std::vector<Var<T>> vars;
    for (const auto& x : inputs) vars.push_back(tape.variable(x.template cast<T>()));
    Var<T> out = f(vars);
    std::vector<Tensor<double>> g;
    for (const auto& gi : grad(tape, out, vars)) g.push_back(gi.template cast<double>());
    return std::pair{static_cast<double>(out.value()[0]), g};
  };
  const auto [vf, gf] = run(std::type_identity<float>{});
  const auto [vd, gd] = run(std::type_identity<double>{});
  REQUIRE(vf == Approx(vd).epsilon(1e-5).margin(1e-5));
  for (std::size_t i = 0; i < gd.size(); ++i) {
    INFO("input " << i);
    double scale = 1e-3;
    for (double v : gd[i]) scale = std::max(scale, std::abs(v));
    REQUIRE_CLOSE(gf[i], gd[i], 1e-5 * scale, 1e-4);
  }
}

}  // namespace

TEST_CASE("float and double agree for every op", "[autodiff][float]") {
  const auto a = kink_free_random(Shape{2, 3, 4, 5}, 1), b = kink_free_random(Shape{2, 3, 4, 5}, 2);
  const auto z = kink_free_random(Shape{3, 5}, 3, -2, 2), col = kink_free_random(Shape{3}, 4);
  const auto w = kink_free_random(Shape{4, 3, 3, 3}, 5), bias = kink_free_random(Shape{4}, 6);
  const auto lw = kink_free_random(Shape{4, 5}, 7), lb = kink_free_random(Shape{4}, 8);
  const auto pos = kink_free_random(Shape{2, 3, 4, 5}, 9, 0.5, 2.0);
  auto ws = [](const auto& y) { return weighted_sum(y); };

  check_float_matches_double([&](const auto& v) { return ws(add(v[0], v[1]) * v[0] - v[1]); }, {a, b});
  check_float_matches_double([&](const auto& v) { return ws(scale(add_scalar(v[0], 0.5f), -2.0f)); }, {a});
  check_float_matches_double([&](const auto& v) { return ws(log(exp(v[0]) + v[0])); }, {pos});
  check_float_matches_double([&](const auto& v) { return ws(add_column(v[0], v[1])); }, {z, col});
  check_float_matches_double([&](const auto& v) { return sum(v[0]) + mean(v[0]) * 3.0f; }, {a});
  check_float_matches_double([&](const auto& v) { return ws(sum_dim1(v[0])); }, {a});
  check_float_matches_double([&](const auto& v) { return ws(reshape(flatten(v[0]), Shape{6, 20})); }, {a});
  check_float_matches_double([&](const auto& v) { return ws(select_position(v[0], 3, 1)); }, {a});
  check_float_matches_double([&](const auto& v) { return ws(gather(v[0], {4, 0, 2})); }, {z});
  check_float_matches_double(
      [&](const auto& v) { return ws(slice_batch(concat_batch(std::vector{v[0], v[1], v[0]}), 1, 4)); }, {a, b});
  check_float_matches_double([&](const auto& v) { return ws(conv2d(v[0], v[1], v[2], {2, 2, 1, 1})); },
                             {a, w, bias});
  check_float_matches_double([&](const auto& v) { return ws(linear(v[0], v[1], v[2])); }, {z, lw, lb});
  check_float_matches_double([&](const auto& v) { return ws(max_pool2d(v[0], {3, 3, 2, 2, 1, 1})); }, {a});
  check_float_matches_double([&](const auto& v) { return ws(adaptive_avg_pool2d(v[0], 3, 2)); }, {a});
  check_float_matches_double([&](const auto& v) { return ws(relu(v[0])); }, {a});
  check_float_matches_double([&](const auto& v) { return ws(softmax(v[0])); }, {z});
  check_float_matches_double([&](const auto& v) { return ws(log_softmax(v[0])); }, {z});
}
