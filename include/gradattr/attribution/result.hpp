#pragma once
// Attribution<T>: what every attribution method returns (docs/architecture.md, attribution).
//
// Promises:
//  - `raw` is the signed map before any ReLU: [N, H, W] at the target layer's resolution for
//    CAM methods, [N, C, H, W] at the input's for input methods ([N, 1, H, W] with
//    Saliency's max-over-channels option).
//  - Per-image entries (classes, score, probability, logit, gradient_norm, saturated, the path
//    quantities) have one element per image, in batch order.
//  - `saturated[n]` is 1 − y_c < 1e-4 (score::kSaturationThreshold), where Post and LogSoftmax
//    gradients are mostly rounding in float; `warning` then names the images.
//  - Path methods fill `completeness` (Σ of the attribution: Σ G for RSI Grad-CAM, Σ IG for
//    Integrated Gradients), `score_difference` = S(x) − S(x′) and `completeness_gap` =
//    completeness − score_difference. Other methods leave them empty.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "gradattr/attribution/display.hpp"
#include "gradattr/core/error.hpp"
#include "gradattr/core/tensor.hpp"

namespace gradattr {

// How displayed() reduces the channels of an input-resolution map [N, C, H, W].
enum class InputDisplay {
  ChannelSum,  // Σ_c raw (signed: positive evidence shows)
  MaxAbs,      // max_c |raw| (Simonyan et al. 2014's saliency map; Saliency's default)
};

template <class T>
struct Attribution {
  Tensor<T> raw;       // signed map: [N,H,W] (layer) or [N,C,H,W] (input)
  Tensor<T> weights;   // [N, K] channel weights where the method has them (Grad-CAM family,
                       // Score-CAM, RSI Grad-CAM); empty otherwise
  std::string method;       // "gradcam", "gradcam+", "gradcam++", "hirescam", ...
  std::string score_space;  // the policy's name: "pre", "post", "log", ...
  std::string layer;        // canonical layer name; "input" for input methods
  std::vector<std::int64_t> classes;  // the class explained, per image
  Tensor<T> score;        // [N] S_n(x) under the policy
  Tensor<T> probability;  // [N] y_c
  Tensor<T> logit;        // [N] z_c
  std::vector<double> gradient_norm;  // [N] ‖∂S/∂A‖₂ at x (‖∂S/∂x‖₂ for input methods); empty for
                                      // Score-CAM (no gradient)
  Tensor<T> completeness;      // [N] path methods: Σ of the integrated attribution
  Tensor<T> score_difference;  // [N] path methods: S(x) − S(x′)
  Tensor<T> completeness_gap;  // [N] completeness − score_difference
  std::vector<bool> saturated;  // [N] 1 − y_c < 1e-4
  std::string warning;          // non-empty when some image is saturated
  InputDisplay input_display = InputDisplay::ChannelSum;  // input maps: how displayed() reduces channels
  std::int64_t model_evaluations = 0;  // forward evaluations of the network per image (a head-only
                                       // pass from the target layer counts as none)

  std::int64_t batch() const { return raw.empty() ? 0 : raw.dim(0); }
  bool is_layer_map() const noexcept { return raw.rank() == 3; }

  // The displayed map [N, out_h, out_w]: ReLU, bilinear (half-pixel) upsampling, min–max with
  // eps 1e-7 (display_map). Input maps are first reduced over channels as input_display says:
  // summed (signed, so positive evidence shows) or max_c |raw| (Saliency's default).
  Tensor<T> displayed(std::int64_t out_h, std::int64_t out_w) const {
    if (raw.empty()) throw ArgumentError("Attribution::displayed: the result is empty");
    if (raw.rank() == 3) return display_map(raw, out_h, out_w);
    if (raw.rank() != 4) throw ShapeError("Attribution::displayed: raw map " + raw.shape().str() + " is not [N,H,W] or [N,C,H,W]");
    const auto N = raw.dim(0), C = raw.dim(1), P = raw.dim(2) * raw.dim(3);
    auto m = Tensor<T>::uninitialized({N, raw.dim(2), raw.dim(3)});
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t i = 0; i < P; ++i) {
        double s = 0;
        for (std::int64_t c = 0; c < C; ++c) {
          const double v = raw[(n * C + c) * P + i];
          s = input_display == InputDisplay::MaxAbs ? std::max(s, std::abs(v)) : s + v;
        }
        m[n * P + i] = static_cast<T>(s);
      }
    return display_map(m, out_h, out_w);
  }
};

}  // namespace gradattr
