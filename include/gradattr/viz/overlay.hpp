#pragma once
// Overlay of a normalised map on an RGB image, as pytorch-grad-cam's show_cam_on_image:
//
//   heat = colormap(uint8(255·map)) / 255            (the colour quantised to uint8 first)
//   cam  = (1 − w)·heat + w·image                    w = image_weight, default 0.5
//   out  = uint8(255 · cam / max(cam))               (truncation, as np.uint8)
//
// The division by the maximum over the whole result is pytorch-grad-cam's and brightens the
// overlay; `rescale = false` skips it. image: [H, W, 3] uint8 (0..255) or floating point in
// [0, 1] (anything outside is an ArgumentError, as in pytorch-grad-cam). map: [H, W] or
// [1, H, W] at the image's size, values in [0, 1] (clamped), NaN is an ArgumentError.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

#include "gradattr/core/error.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/viz/colormap.hpp"

namespace gradattr::viz {

struct OverlayOptions {
  Colormap colormap = Colormap::Jet;
  double image_weight = 0.5;  // weight of the image; the heat map gets 1 − image_weight
  bool rescale = true;        // divide by the maximum, as pytorch-grad-cam
};

template <class U, class T>
Tensor<std::uint8_t> overlay(const Tensor<U>& image, const Tensor<T>& map, const OverlayOptions& options = {}) {
  if (image.rank() != 3 || image.dim(2) != 3)
    throw ShapeError("viz::overlay: image must be RGB [H, W, 3], got " + image.shape().str());
  detail::require_map_2d(map, "viz::overlay");
  if (map.dim(-2) != image.dim(0) || map.dim(-1) != image.dim(1))
    throw ShapeError("viz::overlay: map " + map.shape().str() + " does not match image " + image.shape().str());
  if (!(options.image_weight >= 0 && options.image_weight <= 1))
    throw ArgumentError("viz::overlay: image_weight " + std::to_string(options.image_weight) +
                        " must be in [0, 1]");
  constexpr bool integral = std::is_integral_v<U>;
  if constexpr (!integral) {
    for (std::int64_t i = 0; i < image.numel(); ++i)
      if (!(image[i] >= 0 && image[i] <= 1))
        throw ArgumentError("viz::overlay: a floating-point image must be in [0, 1]; element " + std::to_string(i) +
                            " is " + std::to_string(static_cast<double>(image[i])));
  }
  const auto P = image.dim(0) * image.dim(1);
  const double w = options.image_weight;
  auto cam = Tensor<double>::uninitialized(image.shape());
  double mx = 0;
  for (std::int64_t i = 0; i < P; ++i) {
    const auto heat = colormap_u8(options.colormap, detail::quantise(static_cast<double>(map[i])));
    for (int k = 0; k < 3; ++k) {
      const double img = integral ? static_cast<double>(image[3 * i + k]) / 255.0 : static_cast<double>(image[3 * i + k]);
      const double v = (1 - w) * (heat[static_cast<std::size_t>(k)] / 255.0) + w * img;  // (1 − w)·heat + w·image
      cam[3 * i + k] = v;
      mx = std::max(mx, v);
    }
  }
  const double div = options.rescale && mx > 0 ? mx : 1.0;  // cam / max(cam): the maximum maps to exactly 255
  auto out = Tensor<std::uint8_t>::uninitialized(image.shape());
  for (std::int64_t i = 0; i < cam.numel(); ++i)
    out[i] = static_cast<std::uint8_t>(std::clamp(std::floor(255.0 * (cam[i] / div)), 0.0, 255.0));  // np.uint8
  return out;
}

}  // namespace gradattr::viz
