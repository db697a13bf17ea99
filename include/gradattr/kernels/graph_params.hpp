#pragma once
// Output shapes of the graph ops (broadcasting, reductions over axes, concat, transpose, pad,
// slice, matmul) and the one place their bad shapes and arguments are reported, as
// kernels/params.hpp is for the spatial kernels. Everything here throws (ShapeError for shapes,
// ArgumentError for axes, permutations, pads and steps), naming the op, before any kernel runs.
//
// Also the strided plan the broadcasting kernels share: NumPy/ONNX multidirectional
// broadcasting (docs/ONNX "Broadcasting in ONNX") aligns shapes on the right, and a dimension
// of extent 1 repeats. The plan drops the output's unit dimensions and merges neighbouring
// dimensions in which every operand is either broadcast in both or in neither, so
// [N, C, H, W] * [N, C, 1, 1] becomes [N*C, H*W] with operand strides [1, 0] (one scalar per row).
#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "gradattr/core/error.hpp"
#include "gradattr/core/shape.hpp"

namespace gradattr::kernels {

namespace graph_detail {
inline std::string list_str(const std::vector<std::int64_t>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}
// `s` left-padded with 1s to rank r (r >= s.rank()).
inline std::array<std::int64_t, Shape::kMaxRank> aligned(const Shape& s, int r) noexcept {
  std::array<std::int64_t, Shape::kMaxRank> d{1, 1, 1, 1};
  const int shift = r - s.rank();
  for (int i = 0; i < s.rank(); ++i) {
    const int j = shift + i;
    if (j >= 0 && j < Shape::kMaxRank) d[static_cast<std::size_t>(j)] = s[i];  // (bounds: for GCC's -Warray-bounds)
  }
  return d;
}
}  // namespace graph_detail

// ---- broadcasting ----

// The broadcast shape of a and b; ShapeError naming `op` and both shapes if they do not broadcast.
inline Shape broadcast_shape(const Shape& a, const Shape& b, const std::string& op) {
  const int r = std::max(a.rank(), b.rank());
  const auto da = graph_detail::aligned(a, r), db = graph_detail::aligned(b, r);
  Shape y;
  for (std::size_t i = 0; i < static_cast<std::size_t>(r); ++i) {
    if (da[i] != db[i] && da[i] != 1 && db[i] != 1)
      throw ShapeError(op + ": shapes " + a.str() + " and " + b.str() + " do not broadcast (dimension " +
                       std::to_string(static_cast<int>(i) - r) + ": " + std::to_string(da[i]) + " vs " +
                       std::to_string(db[i]) + ")");
    y.push(da[i] == 1 ? db[i] : da[i]);
  }
  return y;
}

// True when `x` broadcasts to exactly `y` (x's rank <= y's, each aligned extent 1 or equal).
inline bool broadcasts_to(const Shape& x, const Shape& y) noexcept {
  if (x.rank() > y.rank()) return false;
  const auto dx = graph_detail::aligned(x, y.rank());
  for (int i = 0; i < y.rank(); ++i)
    if (dx[static_cast<std::size_t>(i)] != 1 && dx[static_cast<std::size_t>(i)] != y[i]) return false;
  return true;
}

// Output extents and, per operand, the element stride of each collapsed dimension (0 where the
// operand is broadcast). rank >= 1; a scalar output is one dimension of extent 1.
struct StridedPlan {
  static constexpr int kMaxOperands = 2;
  int rank = 0;
  std::array<std::int64_t, Shape::kMaxRank> dims{};
  std::array<std::array<std::int64_t, Shape::kMaxRank>, kMaxOperands> strides{};
  std::int64_t outer() const noexcept {  // product of all dimensions but the last
    std::int64_t n = 1;
    for (int i = 0; i + 1 < rank; ++i) n *= dims[static_cast<std::size_t>(i)];
    return n;
  }
  std::int64_t inner() const noexcept { return dims[static_cast<std::size_t>(rank - 1)]; }
};

// Precondition: every operand broadcasts to y (checked by the caller with broadcast_shape).
inline StridedPlan plan_broadcast(const Shape& y, const Shape& a, const Shape& b) noexcept {
  const int r = y.rank();
  const std::array<std::array<std::int64_t, Shape::kMaxRank>, 2> d = {graph_detail::aligned(a, r),
                                                                      graph_detail::aligned(b, r)};
  std::array<std::array<std::int64_t, Shape::kMaxRank>, 2> own{};  // row-major strides of each operand
  for (std::size_t k = 0; k < 2; ++k) {
    std::int64_t s = 1;
    for (int i = r - 1; i >= 0; --i) {
      own[k][static_cast<std::size_t>(i)] = s;
      s *= d[k][static_cast<std::size_t>(i)];
    }
  }
  StridedPlan p;
  std::array<bool, 2> prev_bcast{};
  for (int i = 0; i < r; ++i) {
    const auto ui = static_cast<std::size_t>(i);
    if (y[i] == 1) continue;  // a unit dimension moves nothing
    const std::array<bool, 2> bcast = {d[0][ui] == 1, d[1][ui] == 1};
    if (p.rank > 0 && bcast == prev_bcast) {  // merge with the previous kept dimension
      const auto last = static_cast<std::size_t>(p.rank - 1);
      p.dims[last] *= y[i];
      for (std::size_t k = 0; k < 2; ++k) p.strides[k][last] = bcast[k] ? 0 : own[k][ui];
    } else {
      const auto at = static_cast<std::size_t>(p.rank++);
      p.dims[at] = y[i];
      for (std::size_t k = 0; k < 2; ++k) p.strides[k][at] = bcast[k] ? 0 : own[k][ui];
    }
    prev_bcast = bcast;
  }
  if (p.rank == 0) {
    p.rank = 1;
    p.dims[0] = 1;
  }
  return p;
}

// ---- axes ----

// An axis in [-rank, rank) normalised to [0, rank); ArgumentError naming `op` otherwise.
inline int normalize_axis(std::int64_t axis, int rank, const std::string& op, const Shape& x) {
  if (axis < -rank || axis >= rank)
    throw ArgumentError(op + ": axis " + std::to_string(axis) + " out of range for input " + x.str() + " (rank " +
                        std::to_string(rank) + ")");
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

// The keepdims shape of a reduction over `axes` (empty = all), with the axes normalised and
// checked (no repeats).
inline Shape reduce_keepdims_shape(const Shape& x, std::vector<std::int64_t>& axes, const std::string& op) {
  std::array<bool, Shape::kMaxRank> reduced{};
  if (axes.empty())
    for (int i = 0; i < x.rank(); ++i) axes.push_back(i);
  for (auto& a : axes) {
    a = normalize_axis(a, x.rank(), op, x);
    if (reduced[static_cast<std::size_t>(a)])
      throw ArgumentError(op + ": axis " + std::to_string(a) + " repeated in " + graph_detail::list_str(axes) +
                          " for input " + x.str());
    reduced[static_cast<std::size_t>(a)] = true;
  }
  std::sort(axes.begin(), axes.end());
  Shape k;
  for (int i = 0; i < x.rank(); ++i) k.push(reduced[static_cast<std::size_t>(i)] ? 1 : x[i]);
  return k;
}

// ---- concat ----

inline Shape concat_output_shape(const std::vector<const Shape*>& xs, int& axis, std::int64_t axis_arg) {
  const std::string op = "concat";
  if (xs.empty()) throw ArgumentError(op + ": no inputs");
  const Shape& s0 = *xs[0];
  if (s0.rank() == 0) throw ShapeError(op + ": input 0 is a scalar " + s0.str());
  axis = normalize_axis(axis_arg, s0.rank(), op, s0);
  std::int64_t total = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const Shape& s = *xs[i];
    bool ok = s.rank() == s0.rank();
    for (int d = 0; ok && d < s.rank(); ++d) ok = d == axis || s[d] == s0[d];
    if (!ok)
      throw ShapeError(op + ": input " + std::to_string(i) + " " + s.str() + " does not match input 0 " + s0.str() +
                       " outside axis " + std::to_string(axis));
    total += s[axis];
  }
  Shape y;
  for (int d = 0; d < s0.rank(); ++d) y.push(d == axis ? total : s0[d]);
  return y;
}

// ---- transpose ----

// perm empty = reversed dimensions (ONNX); otherwise a permutation of [0, rank), negative allowed.
inline Shape transpose_output_shape(const Shape& x, std::vector<std::int64_t>& perm) {
  const std::string op = "transpose";
  if (perm.empty())
    for (int i = x.rank() - 1; i >= 0; --i) perm.push_back(i);
  if (static_cast<int>(perm.size()) != x.rank())
    throw ArgumentError(op + ": perm " + graph_detail::list_str(perm) + " has " + std::to_string(perm.size()) +
                        " entries for input " + x.str() + " (rank " + std::to_string(x.rank()) + ")");
  std::array<bool, Shape::kMaxRank> seen{};
  const std::vector<std::int64_t> given = perm;
  Shape y;
  for (auto& p : perm) {
    if (p < -x.rank() || p >= x.rank() || seen[static_cast<std::size_t>(p < 0 ? p + x.rank() : p)])
      throw ArgumentError(op + ": perm " + graph_detail::list_str(given) + " is not a permutation of the " +
                          std::to_string(x.rank()) + " dimensions of input " + x.str());
    p = p < 0 ? p + x.rank() : p;
    seen[static_cast<std::size_t>(p)] = true;
    y.push(x[static_cast<int>(p)]);
  }
  return y;
}

// ---- pad and slice ----

// ONNX Pad, constant mode: pads = [x1_begin, x2_begin, ..., x1_end, x2_end, ...], non-negative.
inline Shape pad_output_shape(const Shape& x, const std::vector<std::int64_t>& pads) {
  const std::string op = "pad";
  if (static_cast<int>(pads.size()) != 2 * x.rank())
    throw ArgumentError(op + ": pads " + graph_detail::list_str(pads) + " has " + std::to_string(pads.size()) +
                        " entries for input " + x.str() + " (expects 2 x rank = " + std::to_string(2 * x.rank()) + ")");
  for (auto p : pads)
    if (p < 0)
      throw ArgumentError(op + ": negative pads (cropping) are not supported, got " + graph_detail::list_str(pads) +
                          " for input " + x.str());
  Shape y;
  for (int i = 0; i < x.rank(); ++i) y.push(x[i] + pads[static_cast<std::size_t>(i)] + pads[static_cast<std::size_t>(i + x.rank())]);
  return y;
}

// Per-dimension start and step of a slice (step 1 and start 0 on dimensions not sliced).
struct SliceSpec {
  std::array<std::int64_t, Shape::kMaxRank> start{}, step{1, 1, 1, 1};
};

// ONNX Slice with positive steps: axes empty = [0, len(starts)); starts and ends are clamped to
// [0, dim] (negative values count from the end first); the output extent along an axis is
// ceil((end - start) / step), or 0 if end <= start. (ONNX clamps ends to [0, dim] for positive
// steps, as here.)
inline Shape slice_output_shape(const Shape& x, const std::vector<std::int64_t>& starts,
                                const std::vector<std::int64_t>& ends, std::vector<std::int64_t> axes,
                                const std::vector<std::int64_t>& steps, SliceSpec& spec) {
  const std::string op = "slice";
  if (starts.size() != ends.size())
    throw ArgumentError(op + ": starts " + graph_detail::list_str(starts) + " and ends " + graph_detail::list_str(ends) +
                        " differ in length (input " + x.str() + ")");
  if (axes.empty())
    for (std::size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<std::int64_t>(i));
  if (axes.size() != starts.size() || (!steps.empty() && steps.size() != starts.size()))
    throw ArgumentError(op + ": axes " + graph_detail::list_str(axes) + " and steps " + graph_detail::list_str(steps) +
                        " must have as many entries as starts " + graph_detail::list_str(starts) + " (input " +
                        x.str() + ")");
  std::array<std::int64_t, Shape::kMaxRank> out{};
  for (int i = 0; i < x.rank(); ++i) out[static_cast<std::size_t>(i)] = x[i];
  std::array<bool, Shape::kMaxRank> seen{};
  spec = SliceSpec{};
  for (std::size_t k = 0; k < axes.size(); ++k) {
    const int a = normalize_axis(axes[k], x.rank(), op, x);
    if (seen[static_cast<std::size_t>(a)])
      throw ArgumentError(op + ": axis " + std::to_string(a) + " repeated in axes " + graph_detail::list_str(axes) +
                          " (input " + x.str() + ")");
    seen[static_cast<std::size_t>(a)] = true;
    const std::int64_t step = steps.empty() ? 1 : steps[k];
    if (step <= 0)
      throw ArgumentError(op + ": step " + std::to_string(step) + " on axis " + std::to_string(a) +
                          " is not supported (positive steps only; input " + x.str() + ")");
    const std::int64_t dim = x[a];
    auto clamp = [dim](std::int64_t v) {
      if (v < 0) v += dim;
      return std::clamp<std::int64_t>(v, 0, dim);
    };
    // ONNX uses INT64_MAX / INT64_MIN for "to the end": the clamp handles both without overflow.
    const std::int64_t s = clamp(starts[k]), e = clamp(ends[k]);
    spec.start[static_cast<std::size_t>(a)] = s;
    spec.step[static_cast<std::size_t>(a)] = step;
    out[static_cast<std::size_t>(a)] = e > s ? (e - s - 1) / step + 1 : 0;  // ceil, without overflow
  }
  Shape y;
  for (int i = 0; i < x.rank(); ++i) y.push(out[static_cast<std::size_t>(i)]);
  return y;
}

// ---- gather, expand, layer normalization ----

// ONNX Gather along `axis` with constant indices (negative count from the end; normalised in
// place): x's dimension `axis` becomes indices.size(), or is removed when `scalar` (a rank-0
// index, as torch writes `x[:, 0]`). ArgumentError for an index out of range.
inline Shape gather_output_shape(const Shape& x, int& axis, std::int64_t axis_arg, std::vector<std::int64_t>& indices,
                                 bool scalar) {
  const std::string op = "gather";
  if (x.rank() == 0) throw ShapeError(op + ": input is a scalar " + x.str());
  axis = normalize_axis(axis_arg, x.rank(), op, x);
  if (scalar && indices.size() != 1)
    throw ArgumentError(op + ": a scalar index needs one value, got " + graph_detail::list_str(indices));
  if (indices.empty()) throw ArgumentError(op + ": no indices (input " + x.str() + ")");
  const std::int64_t n = x[axis];
  for (auto& i : indices) {
    if (i < -n || i >= n)
      throw ArgumentError(op + ": index " + std::to_string(i) + " out of range for axis " + std::to_string(axis) +
                          " of input " + x.str());
    if (i < 0) i += n;
  }
  Shape y;
  for (int d = 0; d < x.rank(); ++d) {
    if (d != axis) y.push(x[d]);
    else if (!scalar) y.push(static_cast<std::int64_t>(indices.size()));
  }
  if (y.rank() == 0) throw ShapeError(op + ": gathering one index from " + x.str() + " leaves a scalar");
  return y;
}

// ONNX Expand: x broadcast with `shape` (bidirectionally, so a 1 in `shape` keeps x's extent).
inline Shape expand_output_shape(const Shape& x, const Shape& shape) { return broadcast_shape(x, shape, "expand"); }

// ONNX LayerNormalization: normalised over the dimensions [axis, rank) (axis normalised in place);
// scale and bias (optional: bias may be null) hold one value per normalised element, in shape
// x[axis:] or with as many elements. Returns the element count of one normalised row.
inline std::int64_t layer_norm_row(const Shape& x, int& axis, std::int64_t axis_arg, const Shape& scale,
                                   const Shape* bias) {
  const std::string op = "layer_norm";
  if (x.rank() == 0) throw ShapeError(op + ": input is a scalar " + x.str());
  axis = normalize_axis(axis_arg, x.rank(), op, x);
  std::int64_t row = 1;
  for (int d = axis; d < x.rank(); ++d) row *= x[d];
  if (row == 0 || x.numel() == 0) throw ShapeError(op + ": input " + x.str() + " has no elements");
  if (scale.numel() != row)
    throw ShapeError(op + ": scale " + scale.str() + " must hold one value per normalised element of " + x.str() +
                     " (axis " + std::to_string(axis) + ": " + std::to_string(row) + ")");
  if (bias && bias->numel() != row)
    throw ShapeError(op + ": bias " + bias->str() + " must hold one value per normalised element of " + x.str() +
                     " (axis " + std::to_string(axis) + ": " + std::to_string(row) + ")");
  return row;
}

// ---- matmul ----

// numpy.matmul / ONNX MatMul on shapes already promoted to rank >= 2 and aligned to one rank:
// a [..., M, K], b [..., K, N] -> [..., M, N], batch dimensions broadcast. `a0`, `b0` are the
// caller's shapes, for the message.
inline Shape matmul_output_shape(const Shape& a, const Shape& b, const Shape& a0, const Shape& b0) {
  const std::string op = "matmul";
  const int r = a.rank();
  if (a[r - 1] != b[r - 2])
    throw ShapeError(op + ": inner dimensions differ: " + a0.str() + " x " + b0.str() + " (" +
                     std::to_string(a[r - 1]) + " vs " + std::to_string(b[r - 2]) + ")");
  Shape y;
  for (int i = 0; i + 2 < r; ++i) {
    if (a[i] != b[i] && a[i] != 1 && b[i] != 1)
      throw ShapeError(op + ": batch dimensions of " + a0.str() + " and " + b0.str() + " do not broadcast");
    y.push(a[i] == 1 ? b[i] : a[i]);
  }
  y.push(a[r - 2]);
  y.push(b[r - 1]);
  return y;
}

}  // namespace gradattr::kernels
