#pragma once
// The displayed map (docs/methods.md §2): ReLU, bilinear upsampling to the input size with
// half-pixel centres (torch interpolate align_corners=False), then min–max normalisation
// (v − min) / (max − min + 1e-7), per image.
//
// Promises: values in [0, 1); an all-zero or all-negative raw map gives an all-zero displayed
// map (0 / 1e-7, never 0 / 0); a NaN or an infinity anywhere in the raw map throws
// ArgumentError naming the image, so a non-finite map is never written out.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "gradattr/core/error.hpp"
#include "gradattr/core/parallel.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/kernels/upsample.hpp"

namespace gradattr {

inline constexpr double kDisplayEps = 1e-7;

// raw [N, H, W] or [H, W] -> displayed [N, out_h, out_w] or [out_h, out_w].
template <class T>
Tensor<T> display_map(const Tensor<T>& raw, std::int64_t out_h, std::int64_t out_w) {
  if ((raw.rank() != 2 && raw.rank() != 3) || raw.dim(-1) < 1 || raw.dim(-2) < 1)
    throw ShapeError("display_map: raw map must be [N, H, W] or [H, W] with H, W >= 1, got " + raw.shape().str());
  if (out_h < 1 || out_w < 1)
    throw ArgumentError("display_map: output size " + std::to_string(out_h) + "x" + std::to_string(out_w) +
                        " must be positive");
  const std::int64_t N = raw.rank() == 3 ? raw.dim(0) : 1, H = raw.dim(-2), W = raw.dim(-1);
  for (std::int64_t i = 0; i < raw.numel(); ++i)
    if (!std::isfinite(raw[i]))
      throw ArgumentError("display_map: raw map of image " + std::to_string(i / (H * W)) + " has a non-finite value (" +
                          std::to_string(static_cast<double>(raw[i])) + ") at element " + std::to_string(i % (H * W)));
  auto r = Tensor<T>::uninitialized({N, 1, H, W});
  for (std::int64_t i = 0; i < raw.numel(); ++i) r[i] = raw[i] > 0 ? raw[i] : T{0};  // ReLU
  auto out = Tensor<T>::uninitialized({N, 1, out_h, out_w});
  kernels::upsample_bilinear(out, r);  // half-pixel centres
  const auto P = out_h * out_w;
  parallel_for(0, N, 2.0 * static_cast<double>(P), [&](std::int64_t n) {
    T* m = out.data() + n * P;
    const auto [lo, hi] = std::minmax_element(m, m + P);
    const double mn = *lo, range = static_cast<double>(*hi) - mn + kDisplayEps;
    for (std::int64_t i = 0; i < P; ++i) m[i] = static_cast<T>((m[i] - mn) / range);  // min–max, ε = 1e-7
  });
  return raw.rank() == 3 ? out.reshape({N, out_h, out_w}) : out.reshape({out_h, out_w});
}

}  // namespace gradattr
