// Colormaps: endpoints and known values; colourising normalised and signed maps.
#include "gradattr/viz/colormap.hpp"

#include <cmath>
#include <cstdlib>
#include <limits>

#include "support/testing.hpp"

using namespace gradattr;
using namespace gradattr::viz;

namespace {
bool near(const Rgb8& a, const Rgb8& b, int tol) {
  for (int k = 0; k < 3; ++k)
    if (std::abs(int(a[static_cast<std::size_t>(k)]) - int(b[static_cast<std::size_t>(k)])) > tol) return false;
  return true;
}
}  // namespace

TEST_CASE("colormap endpoints", "[viz]") {
  // jet: dark blue to dark red (matplotlib / MATLAB).
  REQUIRE(colormap_u8(Colormap::Jet, 0) == Rgb8{0, 0, 128});
  REQUIRE(colormap_u8(Colormap::Jet, 1) == Rgb8{128, 0, 0});
  REQUIRE(colormap_u8(Colormap::Jet, 0.5) == Rgb8{123, 255, 123});  // red, blue = 0.15/0.31
  // viridis: matplotlib's #440154, #21918c, #fde725 within the fit's error.
  REQUIRE(near(colormap_u8(Colormap::Viridis, 0), {68, 1, 84}, 4));
  REQUIRE(near(colormap_u8(Colormap::Viridis, 0.5), {33, 145, 140}, 4));
  REQUIRE(near(colormap_u8(Colormap::Viridis, 1), {253, 231, 37}, 4));
  // turbo: the polynomial's own values (sum of the coefficients at 1); it departs from the
  // Turbo LUT's ends ((48, 18, 59) and (122, 4, 3)) by up to ~30 levels, as published.
  REQUIRE(near(colormap_u8(Colormap::Turbo, 0), {35, 23, 27}, 1));
  REQUIRE(near(colormap_u8(Colormap::Turbo, 1), {144, 13, 0}, 1));
  const auto mid = colormap(Colormap::Turbo, 0.5);  // bright green in the middle
  REQUIRE(mid.g > 0.95);
  // diverging: blue, white in the middle, red.
  REQUIRE(colormap_u8(Colormap::Diverging, 0) == Rgb8{59, 76, 192});
  REQUIRE(colormap_u8(Colormap::Diverging, 0.5) == Rgb8{255, 255, 255});
  REQUIRE(colormap_u8(Colormap::Diverging, 1) == Rgb8{180, 4, 38});
  // Out of range clamps; NaN is 0.
  for (auto m : {Colormap::Jet, Colormap::Viridis, Colormap::Turbo, Colormap::Diverging}) {
    REQUIRE(colormap_u8(m, -3) == colormap_u8(m, 0));
    REQUIRE(colormap_u8(m, 7) == colormap_u8(m, 1));
    REQUIRE(colormap_u8(m, std::nan("")) == colormap_u8(m, 0));
    for (int i = 0; i <= 100; ++i) {
      const auto c = colormap(m, i / 100.0);
      REQUIRE((c.r >= 0 && c.r <= 1 && c.g >= 0 && c.g <= 1 && c.b >= 0 && c.b <= 1));
    }
  }
}

TEST_CASE("colormap names", "[viz]") {
  REQUIRE(parse_colormap("turbo") == Colormap::Turbo);
  REQUIRE(parse_colormap("bwr") == Colormap::Diverging);
  REQUIRE(to_string(Colormap::Viridis) == "viridis");
  REQUIRE_THROWS_AS(parse_colormap("hot"), ArgumentError);
}

TEST_CASE("colorize quantises as uint8(255 v) and colorize_signed is symmetric", "[viz]") {
  const Tensor<float> map({1, 3}, {1.0f, 0.999f, 0.0f});
  const auto rgb = colorize(map, Colormap::Jet);
  REQUIRE(rgb.shape() == Shape{1, 3, 3});
  const auto at = [&](std::int64_t i) { return Rgb8{rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]}; };
  REQUIRE(at(0) == colormap_u8(Colormap::Jet, 1.0));
  REQUIRE(at(1) == colormap_u8(Colormap::Jet, 254.0 / 255));
  REQUIRE(at(2) == Rgb8{0, 0, 128});

  const Tensor<double> s({1, 3}, {-2, 0, 1});
  const auto d = colorize_signed(s);
  REQUIRE(Rgb8{d[0], d[1], d[2]} == colormap_u8(Colormap::Diverging, 0));
  REQUIRE(Rgb8{d[3], d[4], d[5]} == Rgb8{255, 255, 255});
  REQUIRE(Rgb8{d[6], d[7], d[8]} == colormap_u8(Colormap::Diverging, 0.75));
  for (auto v : colorize_signed(Tensor<float>({2, 2}))) REQUIRE(v == 255);  // all zero: white

  Tensor<float> bad({2, 2});
  bad[1] = std::numeric_limits<float>::quiet_NaN();
  REQUIRE_THROWS_AS(colorize(bad), ArgumentError);
  REQUIRE_THROWS_AS(colorize_signed(bad), ArgumentError);
  REQUIRE_THROWS_AS(colorize(Tensor<float>({2, 2, 2})), ShapeError);
}
