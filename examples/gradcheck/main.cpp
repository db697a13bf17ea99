// gradcheck_vgg: checks gradattr's autodiff on a small VGG-shaped network.
//
// Builds conv-relu-conv-relu-maxpool | conv-relu-maxpool | adaptive-avgpool-flatten-linear-
// relu-linear with seeded random weights, in double, and compares the gradient of one logit
// with respect to the input image against central finite differences (ad::gradcheck).
//
//   gradcheck_vgg [seed]      prints "max abs error ..., N elements checked: PASS"; exit 0/1
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "gradattr/autodiff/autodiff.hpp"

using namespace gradattr;
using V = ad::Var<double>;

namespace {

Tensor<double> uniform(const Shape& shape, std::mt19937_64& rng, double scale) {
  std::uniform_real_distribution<double> dist(-scale, scale);
  Tensor<double> t = Tensor<double>::uninitialized(shape);
  for (auto& v : t) v = dist(rng);
  return t;
}

struct SmallVgg {
  Tensor<double> w1, b1, w2, b2, w3, b3, fw1, fb1, fw2, fb2;

  explicit SmallVgg(std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    w1 = uniform({8, 3, 3, 3}, rng, 0.4), b1 = uniform({8}, rng, 0.1);
    w2 = uniform({8, 8, 3, 3}, rng, 0.25), b2 = uniform({8}, rng, 0.1);
    w3 = uniform({16, 8, 3, 3}, rng, 0.25), b3 = uniform({16}, rng, 0.1);
    fw1 = uniform({32, 64}, rng, 0.3), fb1 = uniform({32}, rng, 0.1);
    fw2 = uniform({10, 32}, rng, 0.3), fb2 = uniform({10}, rng, 0.1);
  }

  // x [N, 3, 16, 16] -> logits [N, 10]. The weights are constants: only the input is tracked.
  V operator()(const V& x) const {
    const kernels::Conv2dParams same{1, 1, 1, 1};
    V a = ad::relu(ad::conv2d(x, w1, b1, same));
    a = ad::max_pool2d(ad::relu(ad::conv2d(a, w2, b2, same)));  // [N, 8, 8, 8]
    a = ad::max_pool2d(ad::relu(ad::conv2d(a, w3, b3, same)));  // [N, 16, 4, 4]
    a = ad::flatten(ad::adaptive_avg_pool2d(a, 2, 2));           // [N, 64]
    return ad::linear(ad::relu(ad::linear(a, fw1, fb1)), fw2, fb2);
  }
};

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::uint64_t seed = argc > 1 ? std::stoull(argv[1]) : 2024;
    const SmallVgg net(seed);
    // Distinct values away from 0, so no ReLU or max-pool kink sits at the input.
    const Tensor<double> x = ad::kink_free_random(Shape{1, 3, 16, 16}, seed + 1);
    const std::int64_t cls = 3;

    const ad::GradcheckResult r =
        ad::gradcheck([&](const std::vector<V>& v) { return ad::sum(ad::gather(net(v[0]), {cls})); }, {x});

    std::cout << "gradcheck of logit " << cls << " with respect to the input " << x.shape().str() << ": " << r.str()
              << "\n";
    return r.passed ? EXIT_SUCCESS : EXIT_FAILURE;
  } catch (const std::exception& e) {
    std::cerr << "gradcheck_vgg: " << e.what() << "\n";
    return EXIT_FAILURE;
  }
}
