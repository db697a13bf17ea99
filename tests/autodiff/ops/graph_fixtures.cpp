// The graph ops against PyTorch (tests/data/ops/pointwise_*, tools/gen_pointwise_fixtures.py):
// outputs and the gradients of sum(w * y), in double (relative 1e-12) and float (~1e-6).
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "autodiff/helpers.hpp"
#include "gradattr/io/npy.hpp"
#include "support/data_files.hpp"

using namespace gradattr;
using namespace gradattr::ad;

namespace {

Tensor<double> fixture(const std::string& name) {
  return io::read_npy_f64(gradattr::testing::data_file("ops/pointwise_" + name + ".npy"));
}

template <class T>
struct Case {
  std::string name;
  std::vector<std::string> inputs;
  std::function<Var<T>(const std::vector<Var<T>>&)> f;
  double grad_rtol_floor = 0;  // a looser bound for the gradients, where torch's is only float-exact
};

template <class T>
std::vector<Case<T>> cases() {
  using Vs = std::vector<Var<T>>;
  const std::int64_t big = std::numeric_limits<std::int64_t>::max();
  return {
      {"mul_se", {"x4", "se"}, [](const Vs& v) { return mul(v[0], v[1]); }},
      {"add_bias", {"x4", "bias"}, [](const Vs& v) { return add(v[0], v[1]); }},
      {"div_both", {"a315", "b141"}, [](const Vs& v) { return div(v[0], v[1]); }},
      {"sub_scalar", {"scalar", "m234"}, [](const Vs& v) { return sub(v[0], v[1]); }},
      {"channel_affine", {"x4", "c3", "c3"}, [](const Vs& v) { return channel_affine(v[0], v[1], v[2]); }},
      {"relu6", {"x4"}, [](const Vs& v) { return clip(v[0], T(0), T(6)); }},
      {"clip", {"x4"}, [](const Vs& v) { return clip(v[0], T(-1.25), T(2.5)); }},
      {"sigmoid", {"x4"}, [](const Vs& v) { return sigmoid(v[0]); }},
      // torch 1.13's hardsigmoid_backward multiplies by the float constant 1.0f / 6.0f, also in
      // float64: its gradient is 1/6 only to 3e-8 relative.
      {"hard_sigmoid", {"x4"}, [](const Vs& v) { return hard_sigmoid(v[0], T(1) / T(6), T(0.5)); }, 1e-7},
      {"hard_swish", {"x4"}, [](const Vs& v) { return hard_swish(v[0]); }},
      {"tanh", {"x4"}, [](const Vs& v) { return tanh(v[0]); }},
      {"erf", {"x4"}, [](const Vs& v) { return erf(v[0]); }},
      {"gelu", {"x4"}, [](const Vs& v) { return gelu(v[0]); }},
      {"sqrt", {"pos"}, [](const Vs& v) { return sqrt(v[0]); }},
      {"pow", {"pos"}, [](const Vs& v) { return pow_scalar(v[0], T(2.5)); }},
      {"reduce_mean", {"x4"}, [](const Vs& v) { return reduce_mean(v[0], {2, 3}, true); }},
      {"reduce_sum", {"x4"}, [](const Vs& v) { return reduce_sum(v[0], {0, -1}, false); }},
      {"softmax1", {"m234"}, [](const Vs& v) { return softmax(v[0], 1); }},
      {"log_softmax_last", {"m234"}, [](const Vs& v) { return log_softmax(v[0], -1); }},
      {"matmul_batch", {"m234", "m45"}, [](const Vs& v) { return matmul(v[0], v[1]); }},
      {"matmul_vec", {"v4", "m243"}, [](const Vs& v) { return matmul(v[0], v[1]); }},
      {"concat1", {"x4", "x4"}, [](const Vs& v) { return concat(Vs{v[0], scale(v[1], T(2))}, 1); }},
      {"transpose", {"x4"}, [](const Vs& v) { return transpose(v[0], {0, 2, 3, 1}); }},
      {"pad", {"x4"}, [](const Vs& v) { return pad(v[0], {0, 0, 1, 2, 0, 0, 0, 1}, T(0.5)); }},
      {"slice", {"x4"}, [big](const Vs& v) { return slice(v[0], {1, 0, 1}, {3, big, big}, {1, 2, 3}, {1, 2, 3}); }},
  };
}

// |got - want| <= rtol (|want| + max|want|): relative to the element and to the tensor's scale.
template <class T>
void require_near(const Tensor<T>& got, const Tensor<double>& want, double rtol, const std::string& what) {
  INFO(what);
  double scale = 0;
  for (double v : want) scale = std::max(scale, std::abs(v));
  REQUIRE_CLOSE(got, want, rtol * scale, rtol);
}

template <class T>
void run_cases(double rtol) {
  for (const auto& c : cases<T>()) {
    INFO("case " << c.name);
    Tape<T> tape;
    std::vector<Var<T>> xs;
    for (const auto& n : c.inputs) xs.push_back(tape.variable(fixture("in_" + n).template cast<T>()));
    const Var<T> y = c.f(xs);
    const Tensor<double> y_ref = fixture(c.name + "_y");
    REQUIRE(y.shape() == y_ref.shape());
    require_near(y.value(), y_ref, rtol, "output");
    Tensor<T> w = Tensor<T>::uninitialized(y.shape());
    for (std::int64_t i = 0; i < w.numel(); ++i) w[i] = static_cast<T>(std::sin(0.37 * static_cast<double>(i) + 0.1));
    const auto gs = grad(tape, sum(mul(y, Var<T>(w))), xs);
    for (std::size_t k = 0; k < gs.size(); ++k)
      require_near(gs[k], fixture(c.name + "_g" + std::to_string(k)), std::max(rtol, c.grad_rtol_floor),
                   "gradient of input " + std::to_string(k));
  }
}

}  // namespace

TEST_CASE("graph ops agree with PyTorch in double", "[autodiff][ops][fixtures]") { run_cases<double>(1e-12); }

TEST_CASE("graph ops agree with PyTorch in float", "[autodiff][ops][fixtures]") { run_cases<float>(2e-6); }
