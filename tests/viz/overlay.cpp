// Overlay as pytorch-grad-cam's show_cam_on_image.
#include "gradattr/viz/overlay.hpp"

#include <cmath>
#include <limits>

#include "support/testing.hpp"

using namespace gradattr;
using namespace gradattr::viz;

TEST_CASE("overlay weights: (1 − w) heat + w image, then divided by the maximum", "[viz]") {
  // White image, map 1 (jet: (128, 0, 0)): cam = ½(128/255, 0, 0) + ½(1, 1, 1) = (0.75098, 0.5, 0.5);
  // / 0.75098 -> (255, floor(169.77) = 169, 169).
  const Tensor<std::uint8_t> white({1, 1, 3}, std::uint8_t{255});
  const Tensor<float> one({1, 1}, {1.0f});
  REQUIRE_CLOSE(overlay(white, one), Tensor<std::uint8_t>({1, 1, 3}, {255, 169, 169}), 0, 0);
  // Without the rescaling: floor(255 · (0.75098, 0.5, 0.5)) = (191, 127, 127).
  REQUIRE_CLOSE(overlay(white, one, {.rescale = false}), Tensor<std::uint8_t>({1, 1, 3}, {191, 127, 127}), 0, 0);
  // Weight 1: the image alone; weight 0: the heat map alone (rescaled so its maximum is 255).
  const Tensor<std::uint8_t> img({1, 2, 3}, {10, 20, 40, 0, 0, 80});
  const Tensor<double> map({1, 2}, {0.3, 0.9});
  REQUIRE_CLOSE(overlay(img, map, {.image_weight = 1, .rescale = false}), img, 0, 0);
  REQUIRE_CLOSE(overlay(img, map, {.image_weight = 1}), Tensor<std::uint8_t>({1, 2, 3}, {31, 63, 127, 0, 0, 255}), 0, 0);
  const auto heat = colorize(map, Colormap::Viridis);
  REQUIRE_CLOSE(overlay(img, map, {.colormap = Colormap::Viridis, .image_weight = 0, .rescale = false}), heat, 0, 0);
}

TEST_CASE("overlay on a float image in [0, 1] equals the uint8 path", "[viz]") {
  const Tensor<std::uint8_t> img({2, 2, 3}, {0, 51, 102, 153, 204, 255, 255, 0, 0, 0, 255, 0});
  Tensor<float> imgf({2, 2, 3});
  for (std::int64_t i = 0; i < 12; ++i) imgf[i] = img[i] / 255.0f;
  const Tensor<float> map({2, 2}, {0, 0.25f, 0.5f, 1});
  const auto a = overlay(img, map), b = overlay(imgf, map);
  REQUIRE_CLOSE(a, b, 1, 0);  // float rounding of x/255 may move a truncation by one level
}

TEST_CASE("overlay rejects bad images, weights and maps", "[viz]") {
  const Tensor<float> img({2, 2, 3}, 0.5f), map({2, 2}, 0.5f);
  REQUIRE_THROWS_AS(overlay(Tensor<float>({2, 2, 3}, 2.0f), map), ArgumentError);  // float image > 1
  REQUIRE_THROWS_AS(overlay(img, map, {.image_weight = 1.5}), ArgumentError);
  REQUIRE_THROWS_AS(overlay(img, Tensor<float>({3, 2}), {}), ShapeError);
  REQUIRE_THROWS_AS(overlay(Tensor<float>({2, 2, 4}), map), ShapeError);
  Tensor<float> nan_map({1, 2, 2}, 0.f);
  nan_map[3] = std::numeric_limits<float>::quiet_NaN();
  REQUIRE_THROWS_AS(overlay(img, nan_map), ArgumentError);
  REQUIRE_NOTHROW(overlay(img, Tensor<float>({1, 2, 2})));  // [1, H, W] maps are accepted
}
