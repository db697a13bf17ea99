#pragma once
// Kernels that move elements without arithmetic, for the graph ops: concatenation along any
// axis, transpose, and strided gather/scatter (ONNX Slice with positive steps, and constant Pad
// as a fill plus a scatter). One implementation for every element type: the result is a copy,
// so there is nothing for a float fast path to compute differently; contiguous runs are moved
// with memcpy (concatenating channels of NCHW is one memcpy per input and image) and rows are
// spread over threads. Shapes are validated by the caller (kernels/graph_params.hpp). Also
// gather along an axis with given indices (ONNX Gather; a ViT's class token `x[:, 0]`) and its
// adjoint, a scatter-add (repeated indices add up).
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <span>

#include "gradattr/core/parallel.hpp"
#include "gradattr/core/tensor.hpp"

namespace gradattr::kernels {
namespace layout_detail {
using Dims = std::array<std::int64_t, Shape::kMaxRank>;
// `s` left-padded with 1s to rank 4; row-major strides of the same.
inline Dims dims4(const Shape& s) noexcept {
  Dims d{1, 1, 1, 1};
  for (int i = 0; i < s.rank(); ++i) d[static_cast<std::size_t>(Shape::kMaxRank - s.rank() + i)] = s[i];
  return d;
}
inline Dims strides4(const Dims& d) noexcept {
  Dims s{};
  std::int64_t n = 1;
  for (int i = Shape::kMaxRank - 1; i >= 0; --i) {
    s[static_cast<std::size_t>(i)] = n;
    n *= d[static_cast<std::size_t>(i)];
  }
  return s;
}
// An array indexed by x's dimensions, left-padded with `fill` to rank 4.
inline Dims pad4(const Dims& v, int rank, std::int64_t fill) noexcept {
  Dims out{fill, fill, fill, fill};
  for (int i = 0; i < rank; ++i) out[static_cast<std::size_t>(Shape::kMaxRank - rank + i)] = v[static_cast<std::size_t>(i)];
  return out;
}
template <class T>
void copy_run(T* dst, std::int64_t dst_step, const T* src, std::int64_t src_step, std::int64_t n) noexcept {
  if (dst_step == 1 && src_step == 1) {
    if (n > 0) std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(T));
    return;
  }
  for (std::int64_t i = 0; i < n; ++i) dst[i * dst_step] = src[i * src_step];
}
}  // namespace layout_detail

// y = the inputs side by side along `axis` (y's extent there is the sum of theirs).
template <class T>
void concat(Tensor<T>& y, std::span<const Tensor<T>* const> xs, int axis) noexcept {
  const Shape& ys = y.shape();
  std::int64_t outer = 1;
  for (int d = 0; d < axis; ++d) outer *= ys[d];
  const std::int64_t inner = ys.stride(axis), row = ys[axis] * inner;
  T* yd = y.data();
  parallel_for(0, outer, static_cast<double>(row), [&](std::int64_t o) {
    std::int64_t at = 0;
    for (const Tensor<T>* x : xs) {
      const std::int64_t block = x->dim(axis) * inner;
      if (block > 0) std::memcpy(yd + o * row + at, x->data() + o * block, static_cast<std::size_t>(block) * sizeof(T));
      at += block;
    }
  });
}

// dx = the part of dy at [offset, offset + dx.dim(axis)) along `axis` (concat's backward).
template <class T>
void concat_part(Tensor<T>& dx, const Tensor<T>& dy, int axis, std::int64_t offset) noexcept {
  const Shape& ys = dy.shape();
  std::int64_t outer = 1;
  for (int d = 0; d < axis; ++d) outer *= ys[d];
  const std::int64_t inner = ys.stride(axis), row = ys[axis] * inner, block = dx.dim(axis) * inner;
  T* dd = dx.data();
  const T* g = dy.data();
  parallel_for(0, outer, static_cast<double>(block), [&](std::int64_t o) {
    if (block > 0) std::memcpy(dd + o * block, g + o * row + offset * inner, static_cast<std::size_t>(block) * sizeof(T));
  });
}

// Whether permuting x's dimensions by perm keeps its elements in the same order: every
// dimension the permutation moves past another has extent 1 (the non-unit dimensions stay in
// their order), so the transpose is a reshape. torch's batch-first attention exports two such
// per ViT block ([1, T, D] <-> [T, 1, D]).
inline bool transpose_keeps_order(const Shape& x, std::span<const std::int64_t> perm) noexcept {
  std::int64_t last = -1;
  for (const std::int64_t p : perm) {
    if (x[static_cast<int>(p)] == 1) continue;
    if (p < last) return false;
    last = p;
  }
  return true;
}

// y = x with its dimensions permuted: y's dimension k is x's dimension perm[k].
template <class T>
void transpose(Tensor<T>& y, const Tensor<T>& x, std::span<const std::int64_t> perm) noexcept {
  using namespace layout_detail;
  const int r = x.rank(), shift = Shape::kMaxRank - r;
  const Dims xs = strides4(dims4(x.shape())), yd4 = dims4(y.shape());
  Dims st{0, 0, 0, 0};  // x's stride for each of y's (padded) dimensions
  for (int k = 0; k < r; ++k)
    st[static_cast<std::size_t>(shift + k)] = xs[static_cast<std::size_t>(shift + perm[static_cast<std::size_t>(k)])];
  const T* xd = x.data();
  T* out = y.data();
  parallel_for(0, yd4[0] * yd4[1], static_cast<double>(yd4[2] * yd4[3]), [&](std::int64_t ab) {
    const std::int64_t a = ab / yd4[1], b = ab % yd4[1];
    T* o = out + ab * yd4[2] * yd4[3];
    const T* xab = xd + a * st[0] + b * st[1];
    if (st[3] == 1) {
      for (std::int64_t c = 0; c < yd4[2]; ++c) copy_run(o + c * yd4[3], 1, xab + c * st[2], 1, yd4[3]);
      return;
    }
    // A strided innermost read (a matrix transpose: a ViT's k^T, [T, H, d] -> [H, d, T]) in
    // strips of kStrip output columns: the strip's kStrip source rows stay in L1 while every c
    // reads the next element of each, where one c at a time re-fetched them from L2 (235 -> 80 us
    // per ViT-B/16 block, docs/benchmarks.md).
    constexpr std::int64_t kStrip = 16;
    for (std::int64_t d0 = 0; d0 < yd4[3]; d0 += kStrip) {
      const std::int64_t d1 = std::min(yd4[3], d0 + kStrip);
      for (std::int64_t c = 0; c < yd4[2]; ++c) {
        T* oc = o + c * yd4[3];
        const T* xc = xab + c * st[2];
        for (std::int64_t d = d0; d < d1; ++d) oc[d] = xc[d * st[3]];
      }
    }
  });
}

// y[i] = x[start + i * step] per dimension (slice); start and step indexed by x's dimensions.
template <class T>
void strided_gather(Tensor<T>& y, const Tensor<T>& x, const std::array<std::int64_t, Shape::kMaxRank>& start,
                    const std::array<std::int64_t, Shape::kMaxRank>& step) noexcept {
  using namespace layout_detail;
  const int r = x.rank();
  const Dims xs = strides4(dims4(x.shape())), yd4 = dims4(y.shape());
  const Dims s0 = pad4(start, r, 0), st = pad4(step, r, 1);
  const T* xd = x.data();
  T* out = y.data();
  parallel_for(0, yd4[0] * yd4[1], static_cast<double>(yd4[2] * yd4[3]), [&](std::int64_t ab) {
    const std::int64_t a = ab / yd4[1], b = ab % yd4[1];
    T* o = out + ab * yd4[2] * yd4[3];
    for (std::int64_t c = 0; c < yd4[2]; ++c)
      copy_run(o + c * yd4[3], 1,
               xd + (s0[0] + a * st[0]) * xs[0] + (s0[1] + b * st[1]) * xs[1] + (s0[2] + c * st[2]) * xs[2] + s0[3] * xs[3],
               st[3], yd4[3]);
  });
}

namespace layout_detail {
// y[start + i * step] = x[i] (Add: +=) per dimension; start, step indexed by y's dimensions.
template <bool Add, class T>
void strided_scatter(Tensor<T>& y, const Tensor<T>& x, const std::array<std::int64_t, Shape::kMaxRank>& start,
                     const std::array<std::int64_t, Shape::kMaxRank>& step) noexcept {
  const int r = y.rank();
  const Dims ys = strides4(dims4(y.shape())), xd4 = dims4(x.shape());
  const Dims s0 = pad4(start, r, 0), st = pad4(step, r, 1);
  const T* in = x.data();
  T* yd = y.data();
  parallel_for(0, xd4[0] * xd4[1], static_cast<double>(xd4[2] * xd4[3]), [&](std::int64_t ab) {
    const std::int64_t a = ab / xd4[1], b = ab % xd4[1];
    const T* i = in + ab * xd4[2] * xd4[3];
    for (std::int64_t c = 0; c < xd4[2]; ++c) {
      T* dst = yd + (s0[0] + a * st[0]) * ys[0] + (s0[1] + b * st[1]) * ys[1] + (s0[2] + c * st[2]) * ys[2] + s0[3] * ys[3];
      const T* src = i + c * xd4[3];
      if constexpr (Add) {
        const std::int64_t sd = st[3];
        for (std::int64_t k = 0; k < xd4[3]; ++k) dst[k * sd] += src[k];
      } else {
        copy_run(dst, st[3], src, 1, xd4[3]);
      }
    }
  });
}
}  // namespace layout_detail

// y[start + i * step] = x[i] per dimension; the other elements of y are left as they are
// (pad: y filled first). start, step indexed by y's dimensions.
template <class T>
void strided_scatter(Tensor<T>& y, const Tensor<T>& x, const std::array<std::int64_t, Shape::kMaxRank>& start,
                     const std::array<std::int64_t, Shape::kMaxRank>& step) noexcept {
  layout_detail::strided_scatter<false>(y, x, start, step);
}

// y[start + i * step] += x[i] per dimension (slice's backward, into its input's gradient).
template <class T>
void strided_scatter_add(Tensor<T>& y, const Tensor<T>& x, const std::array<std::int64_t, Shape::kMaxRank>& start,
                         const std::array<std::int64_t, Shape::kMaxRank>& step) noexcept {
  layout_detail::strided_scatter<true>(y, x, start, step);
}

// y = x's slabs at `indices` along `axis`, side by side: x viewed as [outer, x.dim(axis), inner],
// y as [outer, indices.size(), inner] (y's shape may drop the axis for a scalar index). Indices
// normalised (in [0, x.dim(axis))) by the caller.
template <class T>
void gather_axis(Tensor<T>& y, const Tensor<T>& x, int axis, std::span<const std::int64_t> indices) noexcept {
  const Shape& xs = x.shape();
  std::int64_t outer = 1;
  for (int d = 0; d < axis; ++d) outer *= xs[d];
  const std::int64_t inner = xs.stride(axis), n = xs[axis], k = static_cast<std::int64_t>(indices.size());
  const T* xd = x.data();
  T* yd = y.data();
  parallel_for(0, outer, static_cast<double>(k * inner), [&](std::int64_t o) {
    for (std::int64_t j = 0; j < k; ++j)
      std::memcpy(yd + (o * k + j) * inner, xd + (o * n + indices[static_cast<std::size_t>(j)]) * inner,
                  static_cast<std::size_t>(inner) * sizeof(T));
  });
}

// dx += dy's slabs scattered back to `indices` along `axis` (gather_axis's adjoint; dx zeroed by
// the caller; a repeated index receives the sum of its slabs, in index order).
template <class T>
void gather_axis_backward(Tensor<T>& dx, const Tensor<T>& dy, int axis, std::span<const std::int64_t> indices) noexcept {
  const Shape& xs = dx.shape();
  std::int64_t outer = 1;
  for (int d = 0; d < axis; ++d) outer *= xs[d];
  const std::int64_t inner = xs.stride(axis), n = xs[axis], k = static_cast<std::int64_t>(indices.size());
  const T* g = dy.data();
  T* dd = dx.data();
  parallel_for(0, outer, static_cast<double>(k * inner), [&](std::int64_t o) {
    for (std::int64_t j = 0; j < k; ++j) {
      T* to = dd + (o * n + indices[static_cast<std::size_t>(j)]) * inner;
      const T* from = g + (o * k + j) * inner;
      for (std::int64_t i = 0; i < inner; ++i) to[i] += from[i];
    }
  });
}

}  // namespace gradattr::kernels
