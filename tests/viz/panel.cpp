// Panels: layout, tile placement, labels.
#include "gradattr/viz/panel.hpp"

#include "support/testing.hpp"

using namespace gradattr;
using namespace gradattr::viz;

namespace {
Tensor<std::uint8_t> solid(std::int64_t h, std::int64_t w, std::uint8_t r, std::uint8_t g, std::uint8_t b) {
  auto t = Tensor<std::uint8_t>::uninitialized({h, w, 3});
  for (std::int64_t i = 0; i < h * w; ++i) t[3 * i] = r, t[3 * i + 1] = g, t[3 * i + 2] = b;
  return t;
}
Colour pixel(const Tensor<std::uint8_t>& im, std::int64_t y, std::int64_t x) {
  const auto W = im.dim(1);
  return {im[(y * W + x) * 3], im[(y * W + x) * 3 + 1], im[(y * W + x) * 3 + 2]};
}
}  // namespace

TEST_CASE("the font covers printable ASCII", "[viz]") {
  REQUIRE(text_width("") == 0);
  REQUIRE(text_width("pre", 2) == 2 * text_width("pre"));
  REQUIRE(text_width("Grad-CAM++") > text_width("Grad-CAM"));
  REQUIRE(text_height(3) == 27);
  int ink = 0;
  for (auto r : viz::detail::glyph('A').rows) ink += r != 0;
  REQUIRE(ink >= 6);
  for (auto r : viz::detail::glyph(' ').rows) REQUIRE(r == 0);
  REQUIRE(&viz::detail::glyph('\xe9') == &viz::detail::glyph('?'));
}

TEST_CASE("a 2×2 panel without labels: sizes and tile positions", "[viz]") {
  const auto red = solid(4, 5, 255, 0, 0), blue = solid(4, 5, 0, 0, 255);
  const auto p = make_panel({{red, blue}, {blue, red}}, {}, {}, {.margin = 2});
  REQUIRE(p.shape() == Shape{2 + 2 * (4 + 2), 2 + 2 * (5 + 2), 3});
  REQUIRE(pixel(p, 0, 0) == Colour{255, 255, 255});   // border
  REQUIRE(pixel(p, 2, 2) == Colour{255, 0, 0});       // top-left of tile (0, 0)
  REQUIRE(pixel(p, 5, 6) == Colour{255, 0, 0});       // its bottom-right
  REQUIRE(pixel(p, 5, 7) == Colour{255, 255, 255});   // the margin between columns
  REQUIRE(pixel(p, 2, 9) == Colour{0, 0, 255});       // tile (0, 1)
  REQUIRE(pixel(p, 8, 2) == Colour{0, 0, 255});       // tile (1, 0)
  REQUIRE(pixel(p, 11, 13) == Colour{255, 0, 0});     // tile (1, 1), bottom-right
  REQUIRE(pixel(p, 11, 14) == Colour{255, 255, 255});
}

TEST_CASE("a labelled panel: methods × score spaces", "[viz]") {
  const auto t = solid(30, 30, 0, 128, 0);
  const std::vector<std::string> rows{"Grad-CAM", "Grad-CAM++"}, cols{"pre", "post", "log"};
  const PanelOptions opt{.margin = 4, .text_scale = 1};
  const auto p = make_panel({{t, t, t}, {t, t, t}}, rows, cols, opt);
  const auto left = text_width("Grad-CAM++") + 4, top = text_height() + 4;
  REQUIRE(p.dim(1) == 4 + left + 3 * (30 + 4));
  REQUIRE(p.dim(0) == 4 + top + 2 * (30 + 4));
  REQUIRE(pixel(p, 4 + top, 4 + left) == Colour{0, 128, 0});
  // Ink (black) in the row-label strip and in the header, none in the top-left corner cell.
  auto ink = [&](std::int64_t y0, std::int64_t y1, std::int64_t x0, std::int64_t x1) {
    int n = 0;
    for (auto y = y0; y < y1; ++y)
      for (auto x = x0; x < x1; ++x) n += pixel(p, y, x) == Colour{0, 0, 0};
    return n;
  };
  REQUIRE(ink(4 + top, p.dim(0), 0, left) > 20);
  REQUIRE(ink(0, top, left, p.dim(1)) > 20);
  REQUIRE(ink(0, top, 0, left) == 0);
}

TEST_CASE("ragged rows, empty tiles and bad arguments", "[viz]") {
  const auto a = solid(3, 3, 9, 9, 9), b = solid(6, 2, 7, 7, 7);
  const auto p = make_panel({{a}, {Tensor<std::uint8_t>(), b}}, {}, {}, {.margin = 1});
  REQUIRE(p.shape() == Shape{1 + 3 + 1 + 6 + 1, 1 + 3 + 1 + 2 + 1, 3});
  REQUIRE(pixel(p, 2, 2) == Colour{9, 9, 9});  // a, centred in a 3-wide cell
  REQUIRE(pixel(p, 5, 2) == Colour{255, 255, 255});  // empty cell stays background
  REQUIRE(pixel(p, 5, 5) == Colour{7, 7, 7});
  REQUIRE_THROWS_AS(make_panel({{a}}, {"one", "two"}), ArgumentError);
  REQUIRE_THROWS_AS(make_panel({{a}}, {}, {"x", "y"}), ArgumentError);
  REQUIRE_THROWS_AS(make_panel({{Tensor<std::uint8_t>({3, 3})}}), ShapeError);
  Tensor<std::uint8_t> img({5, 5, 3});
  REQUIRE_NOTHROW(draw_text(img, -3, -4, "clipped"));
}
