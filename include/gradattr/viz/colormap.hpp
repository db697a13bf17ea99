#pragma once
// Colormaps for attribution maps, and colourising a map into an RGB image.
//
//   Jet        matplotlib's "jet" segment data (piecewise linear; the same control points
//              as MATLAB's jet): 0 -> (0, 0, 0.5) dark blue, 1 -> (0.5, 0, 0) dark red.
//              pytorch-grad-cam's default (through OpenCV's COLORMAP_JET, which differs from
//              this by at most a few levels of 255).
//   Viridis    Matt Zucker's degree-6 polynomial fit of matplotlib's viridis
//              (https://www.shadertoy.com/view/WlfXRN), max error about 1/255.
//   Turbo      Google's polynomial approximation of Turbo (Anton Mikhailov, Ruofei Du, 2019;
//              https://gist.github.com/mikhailov-work/0d177465a8151eb6ede1768d51d476c7,
//              Apache-2.0), clamped to [0, 1].
//   Diverging  blue–white–red for signed maps: Moreland's "cool to warm" end colours
//              (0.230, 0.299, 0.754) and (0.706, 0.016, 0.150) with pure white at 0.5,
//              linear in RGB on each side.
//
// colorize() follows pytorch-grad-cam's show_cam_on_image: the map is first quantised to
// uint8(255·v) (truncation), then looked up; colorize_signed() maps a signed map
// symmetrically, v / max|v| -> [−1, 1] -> [0, 1], so zero is always the middle colour.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include "gradattr/core/error.hpp"
#include "gradattr/core/tensor.hpp"

namespace gradattr::viz {

enum class Colormap { Jet, Viridis, Turbo, Diverging };

struct Rgb {
  double r, g, b;  // each in [0, 1]
};
using Rgb8 = std::array<std::uint8_t, 3>;

namespace detail {
inline double clamp01(double v) noexcept { return v < 0 ? 0.0 : (v > 1 ? 1.0 : v); }

// Piecewise-linear interpolation through (x_i, y_i), x increasing from 0 to 1.
template <std::size_t N>
double segments(const std::array<double, N>& x, const std::array<double, N>& y, double t) noexcept {
  for (std::size_t i = 1; i < N; ++i)
    if (t <= x[i]) return y[i - 1] + (y[i] - y[i - 1]) * (t - x[i - 1]) / (x[i] - x[i - 1]);
  return y[N - 1];
}

inline Rgb jet(double t) noexcept {  // matplotlib _jet_data
  return {segments<5>({0, 0.35, 0.66, 0.89, 1}, {0, 0, 1, 1, 0.5}, t),
          segments<6>({0, 0.125, 0.375, 0.64, 0.91, 1}, {0, 0, 1, 1, 0, 0}, t),
          segments<5>({0, 0.11, 0.34, 0.65, 1}, {0.5, 1, 1, 0, 0}, t)};
}

inline Rgb viridis(double t) noexcept {  // Matt Zucker's fit, shadertoy WlfXRN
  constexpr double c[7][3] = {{0.2777273272234177, 0.005407344544966578, 0.3340998053353061},
                              {0.1050930431085774, 1.404613529898575, 1.384590162594685},
                              {-0.3308618287255563, 0.214847559468213, 0.09509516302823659},
                              {-4.634230498983486, -5.799100973351585, -19.33244095627987},
                              {6.228269936347081, 14.17993336680509, 56.69055260068105},
                              {4.776384997670288, -13.74514537774601, -65.35303263337234},
                              {-5.435455855934631, 4.645852612178535, 26.3124352495832}};
  double v[3];
  for (int k = 0; k < 3; ++k) {
    double p = c[6][k];
    for (int i = 5; i >= 0; --i) p = p * t + c[i][k];
    v[k] = clamp01(p);
  }
  return {v[0], v[1], v[2]};
}

inline Rgb turbo(double t) noexcept {  // Mikhailov & Du's approximation
  const double t2 = t * t, t3 = t2 * t, t4 = t2 * t2, t5 = t4 * t;
  const double r = 0.13572138 + 4.61539260 * t - 42.66032258 * t2 + 132.13108234 * t3 - 152.94239396 * t4 +
                   59.28637943 * t5;
  const double g = 0.09140261 + 2.19418839 * t + 4.84296658 * t2 - 14.18503333 * t3 + 4.27729857 * t4 +
                   2.82956604 * t5;
  const double b = 0.10667330 + 12.64194608 * t - 60.58204836 * t2 + 110.36276771 * t3 - 89.90310912 * t4 +
                   27.34824973 * t5;
  return {clamp01(r), clamp01(g), clamp01(b)};
}

inline Rgb diverging(double t) noexcept {  // blue (0) – white (0.5) – red (1)
  constexpr Rgb blue{0.230, 0.299, 0.754}, red{0.706, 0.016, 0.150};
  const Rgb& end = t < 0.5 ? blue : red;
  const double s = t < 0.5 ? (0.5 - t) * 2 : (t - 0.5) * 2;  // 0 at white, 1 at the end colour
  return {1 + (end.r - 1) * s, 1 + (end.g - 1) * s, 1 + (end.b - 1) * s};
}

inline std::uint8_t to_u8(double v) noexcept { return static_cast<std::uint8_t>(std::lround(clamp01(v) * 255)); }
}  // namespace detail

// The colour at t (clamped to [0, 1]; NaN is treated as 0).
inline Rgb colormap(Colormap map, double t) noexcept {
  t = std::isnan(t) ? 0.0 : detail::clamp01(t);
  switch (map) {
    case Colormap::Jet: return detail::jet(t);
    case Colormap::Viridis: return detail::viridis(t);
    case Colormap::Turbo: return detail::turbo(t);
    case Colormap::Diverging: return detail::diverging(t);
  }
  return detail::jet(t);
}
inline Rgb8 colormap_u8(Colormap map, double t) noexcept {
  const Rgb c = colormap(map, t);
  return {detail::to_u8(c.r), detail::to_u8(c.g), detail::to_u8(c.b)};
}

constexpr std::string_view to_string(Colormap map) noexcept {
  switch (map) {
    case Colormap::Jet: return "jet";
    case Colormap::Viridis: return "viridis";
    case Colormap::Turbo: return "turbo";
    case Colormap::Diverging: return "diverging";
  }
  return "?";
}
// "jet" | "viridis" | "turbo" | "diverging" (also "bwr"); else ArgumentError.
inline Colormap parse_colormap(std::string_view s) {
  for (auto m : {Colormap::Jet, Colormap::Viridis, Colormap::Turbo, Colormap::Diverging})
    if (s == to_string(m)) return m;
  if (s == "bwr") return Colormap::Diverging;
  throw ArgumentError("unknown colormap '" + std::string(s) + "' (expected jet, viridis, turbo or diverging)");
}

namespace detail {
template <class T>
void require_map_2d(const Tensor<T>& map, const char* who) {
  if (!(map.rank() == 2 || (map.rank() == 3 && map.dim(0) == 1)))
    throw ShapeError(std::string(who) + ": map must be [H, W] or [1, H, W], got " + map.shape().str());
  for (std::int64_t i = 0; i < map.numel(); ++i)
    if (std::isnan(map[i])) throw ArgumentError(std::string(who) + ": NaN in the map at element " + std::to_string(i));
}
// uint8(255·v) as numpy does after clamping to [0, 1] (pytorch-grad-cam's quantisation).
inline double quantise(double v) noexcept { return std::floor(clamp01(v) * 255.0) / 255.0; }
}  // namespace detail

// A normalised map [H, W] (or [1, H, W]) with values in [0, 1] (clamped) -> RGB [H, W, 3].
template <class T>
Tensor<std::uint8_t> colorize(const Tensor<T>& map, Colormap cmap = Colormap::Jet) {
  detail::require_map_2d(map, "viz::colorize");
  const auto H = map.dim(-2), W = map.dim(-1);
  auto out = Tensor<std::uint8_t>::uninitialized({H, W, 3});
  for (std::int64_t i = 0; i < H * W; ++i) {
    const auto c = colormap_u8(cmap, detail::quantise(static_cast<double>(map[i])));
    for (int k = 0; k < 3; ++k) out[3 * i + k] = c[static_cast<std::size_t>(k)];
  }
  return out;
}

// A signed map [H, W] -> RGB [H, W, 3], symmetric about zero: t = ½ + ½ v / max|v|
// (an all-zero map is all middle colour). Infinite values are rejected (ArgumentError).
template <class T>
Tensor<std::uint8_t> colorize_signed(const Tensor<T>& map, Colormap cmap = Colormap::Diverging) {
  detail::require_map_2d(map, "viz::colorize_signed");
  double m = 0;
  for (std::int64_t i = 0; i < map.numel(); ++i) {
    if (std::isinf(map[i])) throw ArgumentError("viz::colorize_signed: infinite value at element " + std::to_string(i));
    m = std::max(m, std::abs(static_cast<double>(map[i])));
  }
  const auto H = map.dim(-2), W = map.dim(-1);
  auto out = Tensor<std::uint8_t>::uninitialized({H, W, 3});
  for (std::int64_t i = 0; i < H * W; ++i) {
    const double t = m > 0 ? 0.5 + 0.5 * static_cast<double>(map[i]) / m : 0.5;
    const auto c = colormap_u8(cmap, t);
    for (int k = 0; k < 3; ++k) out[3 * i + k] = c[static_cast<std::size_t>(k)];
  }
  return out;
}

}  // namespace gradattr::viz
