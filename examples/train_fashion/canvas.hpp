#pragma once
// Fashion-MNIST items on a larger zero canvas (paper experiment E7, docs/methods.md §8):
//   - training: each 28×28 item of a minibatch at a seeded uniformly random position on a zero
//     S×S canvas (train_fashion --canvas S), so the model learns items anywhere;
//   - testing: composites, two items of different classes in non-overlapping 28×28 boxes at
//     known positions, built deterministically from a seed.
// Everything here is deterministic for a given seed (one std::mt19937_64, no threads).
#include <array>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <gradattr/core/error.hpp>
#include <gradattr/core/tensor.hpp>

namespace train_fashion {

inline constexpr std::int64_t kItem = 28;  // a Fashion-MNIST item's side

// A box of the canvas: rows [r, r + h), columns [c, c + w).
struct Box {
  std::int64_t r = 0, c = 0, h = kItem, w = kItem;
  bool contains(std::int64_t i, std::int64_t j) const { return i >= r && i < r + h && j >= c && j < c + w; }
  bool overlaps(const Box& o) const { return r < o.r + o.h && o.r < r + h && c < o.c + o.w && o.c < c + w; }
};

inline void check_canvas(std::int64_t canvas, std::int64_t min_side, const char* what) {
  if (canvas < min_side)
    throw gradattr::ArgumentError(std::string(what) + ": canvas " + std::to_string(canvas) + " must be at least " +
                                  std::to_string(min_side) + (min_side == kItem ? " (the item size)" : " (two 28x28 items side by side)"));
}

// Copies the 28×28 item `src` into the S×S plane `dst` (already zero) at box b.
inline void paste(const float* src, float* dst, std::int64_t S, const Box& b) {
  for (std::int64_t i = 0; i < kItem; ++i) std::memcpy(dst + (b.r + i) * S + b.c, src + i * kItem, sizeof(float) * kItem);
}

// Items [n, 1, 28, 28] each at a random position on a zero [n, 1, S, S] canvas. The positions
// (row, column uniform in [0, S − 28]) come from `rng`, two draws per item, in batch order;
// `boxes` (optional) receives them.
inline gradattr::Tensor<float> random_placement(const gradattr::Tensor<float>& items, std::int64_t S, std::mt19937_64& rng,
                                                std::vector<Box>* boxes = nullptr) {
  check_canvas(S, kItem, "random_placement");
  if (items.rank() != 4 || items.dim(1) != 1 || items.dim(2) != kItem || items.dim(3) != kItem)
    throw gradattr::ShapeError("random_placement: items must be [N, 1, 28, 28], got " + items.shape().str());
  const std::int64_t n = items.dim(0);
  gradattr::Tensor<float> out(gradattr::Shape{n, 1, S, S}, 0.f);
  std::uniform_int_distribution<std::int64_t> pos(0, S - kItem);
  if (boxes) boxes->clear();
  for (std::int64_t k = 0; k < n; ++k) {
    Box b;
    b.r = pos(rng);
    b.c = pos(rng);
    paste(items.data() + k * kItem * kItem, out.data() + k * S * S, S, b);
    if (boxes) boxes->push_back(b);
  }
  return out;
}

// A test composite: items[0] (the "first" item, t10k index index[0]) and items[1] of another class.
struct Composite {
  std::array<std::int64_t, 2> index{};  // t10k indices of the two items
  std::array<std::int64_t, 2> label{};  // their classes (different)
  std::array<Box, 2> box{};             // their boxes (inside the canvas, not overlapping)
};

// n composites on an S×S canvas (S >= 56). Composite i holds item i of `labels` (the first n in
// file order, as the other experiments' images) and an item drawn uniformly from the whole set
// among those of a different class. Layout: side by side (horizontal) or stacked (vertical), one
// fair coin; along that axis the first box starts at a uniform position in [0, S − 56] and the
// second after it at a uniform position in [end of the first, S − 28]; which item comes first is
// another fair coin; across the axis each box's position is uniform in [0, S − 28]. Every draw
// comes from one std::mt19937_64(seed), in this order.
inline std::vector<Composite> make_composites(const std::vector<std::int64_t>& labels, std::int64_t n, std::int64_t S,
                                              std::uint64_t seed) {
  check_canvas(S, 2 * kItem, "make_composites");
  const auto pool = static_cast<std::int64_t>(labels.size());
  if (n < 1 || n > pool)
    throw gradattr::ArgumentError("make_composites: n " + std::to_string(n) + " must be in [1, " + std::to_string(pool) + "]");
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::int64_t> any(0, pool - 1), coin(0, 1), across(0, S - kItem);
  std::vector<Composite> out;
  out.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    Composite c;
    c.index[0] = i;
    c.label[0] = labels[static_cast<std::size_t>(i)];
    std::int64_t j = any(rng);
    for (int tries = 0; labels[static_cast<std::size_t>(j)] == c.label[0]; ++tries) {
      if (tries > 100000) throw gradattr::ArgumentError("make_composites: no item of another class than " + std::to_string(c.label[0]));
      j = any(rng);
    }
    c.index[1] = j;
    c.label[1] = labels[static_cast<std::size_t>(j)];
    const bool horizontal = coin(rng) == 0;
    const std::int64_t a0 = std::uniform_int_distribution<std::int64_t>(0, S - 2 * kItem)(rng);
    const std::int64_t a1 = std::uniform_int_distribution<std::int64_t>(a0 + kItem, S - kItem)(rng);
    const bool swap = coin(rng) == 1;
    const std::int64_t first = swap ? a1 : a0, second = swap ? a0 : a1;
    const std::int64_t x0 = across(rng), x1 = across(rng);
    if (horizontal) c.box = {Box{x0, first}, Box{x1, second}};
    else c.box = {Box{first, x0}, Box{second, x1}};
    out.push_back(c);
  }
  return out;
}

// The images of composites: [n, 1, S, S], zero outside the two boxes. `images` is [N, 1, 28, 28].
inline gradattr::Tensor<float> render_composites(const gradattr::Tensor<float>& images, const std::vector<Composite>& cs,
                                                 std::int64_t S) {
  gradattr::Tensor<float> out(gradattr::Shape{static_cast<std::int64_t>(cs.size()), 1, S, S}, 0.f);
  for (std::size_t k = 0; k < cs.size(); ++k)
    for (int t = 0; t < 2; ++t)
      paste(images.data() + cs[k].index[static_cast<std::size_t>(t)] * kItem * kItem, out.data() + static_cast<std::int64_t>(k) * S * S, S,
            cs[k].box[static_cast<std::size_t>(t)]);
  return out;
}

}  // namespace train_fashion
