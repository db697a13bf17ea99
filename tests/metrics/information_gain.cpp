// The information-gain identity ∂L/∂x = −∂ log y_c/∂x (METHODS.md §1) on the tiny VGG of
// tests/data/vgg_tiny (both precisions) and on a toy CNN, via metrics::check_information_gain.
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>
#include <type_traits>

#include "gradattr/io/npy.hpp"
#include "gradattr/metrics/information_gain.hpp"
#include "gradattr/models/vgg_safetensors.hpp"
#include "support/data_files.hpp"
#include "support/testing.hpp"
#include "support/toy_models.hpp"

using namespace gradattr;

TEMPLATE_TEST_CASE("Information gain: cross-entropy gradient = -LogSoftmax gradient on the tiny VGG", "[metrics][information_gain]",
                   double, float) {
  using T = TestType;
  constexpr bool dbl = std::is_same_v<T, double>;
  const auto m = models::vgg_from_safetensors<T>(gradattr::testing::data_file(dbl ? "vgg_tiny/model_f64.safetensors" : "vgg_tiny/model.safetensors"));
  Tensor<T> x;
  if constexpr (dbl) x = io::read_npy_f64(gradattr::testing::data_file("vgg_tiny/input_f64.npy"));
  else x = io::read_npy_f32(gradattr::testing::data_file("vgg_tiny/input.npy"));
  for (const Target& target : {Target{}, Target(3)}) {
    const auto r = metrics::check_information_gain(m, x, target);
    if (target.is_top()) REQUIRE(r.classes == std::vector<std::int64_t>{5, 8});
    REQUIRE(r.loss_gradient.shape() == x.shape());
    if (std::getenv("GRADATTR_VERBOSE"))
      std::cout << "  information gain " << (dbl ? "f64" : "f32") << ": relative error " << r.relative_error
                << ", max abs " << r.max_abs_error << "\n";
    REQUIRE(r.relative_error < (dbl ? 1e-12 : 1e-5));
  }
}

TEST_CASE("Information gain: toy CNN, batch of 3 (the mean undone), errors", "[metrics][information_gain]") {
  const testing::ToyCnn<double> toy(2, /*deep=*/true);
  const auto x = testing::random_tensor<double>({3, 3, 5, 5}, 9);
  const auto r = metrics::check_information_gain(toy, x, Target::per_image({0, 4, 2}));
  REQUIRE(r.classes == std::vector<std::int64_t>{0, 4, 2});
  REQUIRE(r.relative_error < 1e-13);
  REQUIRE_THROWS_AS(metrics::check_information_gain(toy, testing::random_tensor<double>({3, 5, 5}, 1)), ShapeError);
  REQUIRE_THROWS_AS(metrics::check_information_gain(toy, x, Target(9)), ArgumentError);
}
