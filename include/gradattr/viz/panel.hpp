#pragma once
// A panel: a grid of RGB tiles (e.g. methods × score spaces) with margins and text labels,
// rendered into one RGB buffer [H, W, 3] uint8 (PNG writing is io/'s job).
//
//                 col label   col label
//   row label     [tile]      [tile]
//   row label     [tile]      [tile]
//
// Layout: each column is as wide as its widest tile (and its label), each row as tall as its
// tallest tile; a tile sits centred in its cell. Rows may be ragged; a missing or empty tile
// leaves its cell blank. `margin` pixels separate cells, labels and the border. Labels use the
// embedded 7×9 bitmap font (printable ASCII; anything else prints as '?'), magnified by
// `text_scale`.
#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gradattr/core/error.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/viz/detail/font.hpp"

namespace gradattr::viz {

using Colour = std::array<std::uint8_t, 3>;

// Width and height in pixels of a single line of text at `scale`.
inline std::int64_t text_width(std::string_view text, int scale = 1) noexcept {
  std::int64_t w = 0;
  for (char c : text) w += detail::glyph(c).advance;
  return w * scale;
}
inline std::int64_t text_height(int scale = 1) noexcept { return std::int64_t{detail::kGlyphHeight} * scale; }

// Draws one line of text with its top-left corner at (x, y), clipped to the image [H, W, 3].
inline void draw_text(Tensor<std::uint8_t>& image, std::int64_t x, std::int64_t y, std::string_view text,
                      Colour colour = {0, 0, 0}, int scale = 1) {
  if (image.rank() != 3 || image.dim(2) != 3)
    throw ShapeError("viz::draw_text: image must be RGB [H, W, 3], got " + image.shape().str());
  if (scale < 1) throw ArgumentError("viz::draw_text: scale " + std::to_string(scale) + " must be >= 1");
  const auto H = image.dim(0), W = image.dim(1);
  for (char c : text) {
    const auto& g = detail::glyph(c);
    for (int gy = 0; gy < detail::kGlyphHeight; ++gy)
      for (int gx = 0; gx < 8; ++gx) {
        if (!((g.rows[static_cast<std::size_t>(gy)] >> gx) & 1)) continue;
        for (int sy = 0; sy < scale; ++sy)
          for (int sx = 0; sx < scale; ++sx) {
            const auto px = x + gx * scale + sx, py = y + gy * scale + sy;
            if (px < 0 || py < 0 || px >= W || py >= H) continue;
            for (int k = 0; k < 3; ++k) image[(py * W + px) * 3 + k] = colour[static_cast<std::size_t>(k)];
          }
      }
    x += g.advance * scale;
  }
}

struct PanelOptions {
  int margin = 8;       // pixels between cells, labels and the border
  int text_scale = 2;   // font magnification
  Colour background{255, 255, 255};
  Colour text{0, 0, 0};
};

// tiles[r][c]: RGB [h, w, 3] uint8 (or empty). row_labels / column_labels: empty, or one per
// row / column of the grid. Returns the panel [H, W, 3].
inline Tensor<std::uint8_t> make_panel(const std::vector<std::vector<Tensor<std::uint8_t>>>& tiles,
                                       const std::vector<std::string>& row_labels = {},
                                       const std::vector<std::string>& column_labels = {},
                                       const PanelOptions& options = {}) {
  const auto rows = static_cast<std::int64_t>(tiles.size());
  std::int64_t cols = 0;
  for (const auto& r : tiles) cols = std::max(cols, static_cast<std::int64_t>(r.size()));
  if (!row_labels.empty() && static_cast<std::int64_t>(row_labels.size()) != rows)
    throw ArgumentError("viz::make_panel: " + std::to_string(row_labels.size()) + " row labels for " +
                        std::to_string(rows) + " rows");
  if (!column_labels.empty() && static_cast<std::int64_t>(column_labels.size()) != cols)
    throw ArgumentError("viz::make_panel: " + std::to_string(column_labels.size()) + " column labels for " +
                        std::to_string(cols) + " columns");
  if (options.margin < 0 || options.text_scale < 1)
    throw ArgumentError("viz::make_panel: margin must be >= 0 and text_scale >= 1");
  const std::int64_t m = options.margin;

  std::vector<std::int64_t> col_w(static_cast<std::size_t>(cols), 0), row_h(static_cast<std::size_t>(rows), 0);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < static_cast<std::int64_t>(tiles[static_cast<std::size_t>(r)].size()); ++c) {
      const auto& t = tiles[static_cast<std::size_t>(r)][static_cast<std::size_t>(c)];
      if (t.empty()) continue;
      if (t.rank() != 3 || t.dim(2) != 3)
        throw ShapeError("viz::make_panel: tile (" + std::to_string(r) + ", " + std::to_string(c) +
                         ") must be RGB [h, w, 3], got " + t.shape().str());
      col_w[static_cast<std::size_t>(c)] = std::max(col_w[static_cast<std::size_t>(c)], t.dim(1));
      row_h[static_cast<std::size_t>(r)] = std::max(row_h[static_cast<std::size_t>(r)], t.dim(0));
    }
  std::int64_t label_w = 0;
  for (const auto& l : row_labels) label_w = std::max(label_w, text_width(l, options.text_scale));
  for (std::int64_t c = 0; c < static_cast<std::int64_t>(column_labels.size()); ++c)
    col_w[static_cast<std::size_t>(c)] =
        std::max(col_w[static_cast<std::size_t>(c)], text_width(column_labels[static_cast<std::size_t>(c)], options.text_scale));
  for (std::int64_t r = 0; r < static_cast<std::int64_t>(row_labels.size()); ++r)
    row_h[static_cast<std::size_t>(r)] = std::max(row_h[static_cast<std::size_t>(r)], text_height(options.text_scale));
  const std::int64_t header_h = column_labels.empty() ? 0 : text_height(options.text_scale) + m;
  const std::int64_t left_w = row_labels.empty() ? 0 : label_w + m;

  std::int64_t W = m + left_w, H = m + header_h;
  for (auto w : col_w) W += w + m;
  for (auto h : row_h) H += h + m;
  Tensor<std::uint8_t> out = Tensor<std::uint8_t>::uninitialized({H, W, 3});
  for (std::int64_t i = 0; i < H * W; ++i)
    for (int k = 0; k < 3; ++k) out[3 * i + k] = options.background[static_cast<std::size_t>(k)];

  std::vector<std::int64_t> x0(static_cast<std::size_t>(cols)), y0(static_cast<std::size_t>(rows));
  for (std::int64_t c = 0, x = m + left_w; c < cols; ++c) {
    x0[static_cast<std::size_t>(c)] = x;
    x += col_w[static_cast<std::size_t>(c)] + m;
  }
  for (std::int64_t r = 0, y = m + header_h; r < rows; ++r) {
    y0[static_cast<std::size_t>(r)] = y;
    y += row_h[static_cast<std::size_t>(r)] + m;
  }
  for (std::int64_t c = 0; c < static_cast<std::int64_t>(column_labels.size()); ++c) {
    const auto& l = column_labels[static_cast<std::size_t>(c)];
    draw_text(out, x0[static_cast<std::size_t>(c)] + (col_w[static_cast<std::size_t>(c)] - text_width(l, options.text_scale)) / 2,
              m, l, options.text, options.text_scale);
  }
  for (std::int64_t r = 0; r < static_cast<std::int64_t>(row_labels.size()); ++r)
    draw_text(out, m, y0[static_cast<std::size_t>(r)] + (row_h[static_cast<std::size_t>(r)] - text_height(options.text_scale)) / 2,
              row_labels[static_cast<std::size_t>(r)], options.text, options.text_scale);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < static_cast<std::int64_t>(tiles[static_cast<std::size_t>(r)].size()); ++c) {
      const auto& t = tiles[static_cast<std::size_t>(r)][static_cast<std::size_t>(c)];
      if (t.empty()) continue;
      const auto th = t.dim(0), tw = t.dim(1);
      const auto ox = x0[static_cast<std::size_t>(c)] + (col_w[static_cast<std::size_t>(c)] - tw) / 2;
      const auto oy = y0[static_cast<std::size_t>(r)] + (row_h[static_cast<std::size_t>(r)] - th) / 2;
      for (std::int64_t y = 0; y < th; ++y)
        std::copy(t.data() + y * tw * 3, t.data() + (y + 1) * tw * 3, out.data() + ((oy + y) * W + ox) * 3);
    }
  return out;
}

}  // namespace gradattr::viz
