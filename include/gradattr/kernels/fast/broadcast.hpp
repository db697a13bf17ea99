#pragma once
// Fast float broadcasting kernels: semantics of kernels/reference/broadcast.hpp.
//
// All three walk the collapsed plan of kernels/graph_params.hpp (plan_broadcast): rows over
// every dimension but the last, and along the last (contiguous in the output) each operand is
// either contiguous (stride 1) or one repeated value (stride 0). So a residual add of equal
// shapes is one flat SIMD loop, [N, C, H, W] * [N, C, 1, 1] is N*C rows of H*W times a scalar,
// [N, C, H, W] + [C, 1, 1] is N rows of C runs, and a scalar operand is a broadcast register.
// Work is cut by shape only (blocks of rows, or blocks of one long row); binary and expand do
// one IEEE operation per element, so they equal the reference bit for bit at any thread count.
// sum_to: each output element is summed by one task in a fixed order. Where the last dimension
// is kept ([N, T, D] -> [D]) the order is the reference's (row-major over the reduced
// dimensions), bit for bit; where it is reduced ([N, C, H, W] -> [1, C, 1, 1]) each run is
// summed across SIMD lanes (reassociated: within the classical reduction bound of the reference).
#include "gradattr/core/detail/intrinsics.hpp"  // first: see there
#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

#include "gradattr/core/parallel.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/kernels/graph_params.hpp"
#include "gradattr/kernels/reference/broadcast.hpp"

namespace gradattr::kernels::fast {
namespace broadcast_detail {

inline constexpr std::int64_t kBlock = std::int64_t{1} << 15;  // elements per task (a multiple of every batch size)

// Offsets of the start of outer row `row` in each operand (unravelled over dims[0, rank-1)).
inline std::array<std::int64_t, 2> row_offsets(const StridedPlan& p, std::int64_t row) noexcept {
  std::array<std::int64_t, 2> off{0, 0};
  for (int d = p.rank - 2; d >= 0; --d) {
    const auto ud = static_cast<std::size_t>(d);
    const std::int64_t idx = row % p.dims[ud];
    row /= p.dims[ud];
    off[0] += idx * p.strides[0][ud];
    off[1] += idx * p.strides[1][ud];
  }
  return off;
}

// Calls body(row, j0, j1) for every output row and a range [j0, j1) of its inner dimension,
// in tasks of about kBlock elements spread over threads.
template <class Body>
void for_row_blocks(const StridedPlan& p, Body&& body) noexcept {
  const std::int64_t rows = p.outer(), n = p.inner();
  if (n >= kBlock) {
    const std::int64_t per_row = (n + kBlock - 1) / kBlock;
    parallel_for(0, rows * per_row, static_cast<double>(std::min(n, kBlock)), [&](std::int64_t t) {
      const std::int64_t row = t / per_row, j0 = (t % per_row) * kBlock;
      body(row, j0, std::min(n, j0 + kBlock));
    });
  } else {
    const std::int64_t rows_per_task = std::max<std::int64_t>(1, kBlock / std::max<std::int64_t>(n, 1));
    parallel_for(0, (rows + rows_per_task - 1) / rows_per_task, static_cast<double>(rows_per_task * n), [&](std::int64_t t) {
      const std::int64_t r1 = std::min(rows, (t + 1) * rows_per_task);
      for (std::int64_t row = t * rows_per_task; row < r1; ++row) body(row, std::int64_t{0}, n);
    });
  }
}

template <BinaryOp Op, class V>
V op(const V& a, const V& b) noexcept {
  if constexpr (Op == BinaryOp::add) return a + b;
  else if constexpr (Op == BinaryOp::sub) return a - b;
  else if constexpr (Op == BinaryOp::mul) return a * b;
  else return a / b;
}

// y[j] = a[j * sa] op b[j * sb] for j in [0, n), sa and sb each 0 or 1.
template <class Arch, BinaryOp Op>
void run(float* y, const float* a, const float* b, std::int64_t sa, std::int64_t sb, std::int64_t n) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr std::int64_t S = B::size;
  std::int64_t j = 0;
  if (sa == 1 && sb == 1) {
    for (; j + S <= n; j += S) op<Op>(B::load_unaligned(a + j), B::load_unaligned(b + j)).store_unaligned(y + j);
    for (; j < n; ++j) y[j] = op<Op>(a[j], b[j]);
  } else if (sa == 1) {
    const float bv = b[0];
    const B bb(bv);
    for (; j + S <= n; j += S) op<Op>(B::load_unaligned(a + j), bb).store_unaligned(y + j);
    for (; j < n; ++j) y[j] = op<Op>(a[j], bv);
  } else if (sb == 1) {
    const float av = a[0];
    const B ab(av);
    for (; j + S <= n; j += S) op<Op>(ab, B::load_unaligned(b + j)).store_unaligned(y + j);
    for (; j < n; ++j) y[j] = op<Op>(av, b[j]);
  } else {
    const float v = op<Op>(a[0], b[0]);
    for (; j < n; ++j) y[j] = v;
  }
}

template <class Arch, BinaryOp Op>
void binary(Tensor<float>& y, const Tensor<float>& a, const Tensor<float>& b) noexcept {
  const StridedPlan p = plan_broadcast(y.shape(), a.shape(), b.shape());
  const auto last = static_cast<std::size_t>(p.rank - 1);
  const std::int64_t sa = p.strides[0][last], sb = p.strides[1][last], n = p.inner();
  const float* ad = a.data();
  const float* bd = b.data();
  float* yd = y.data();
  for_row_blocks(p, [&](std::int64_t row, std::int64_t j0, std::int64_t j1) {
    const auto off = row_offsets(p, row);
    run<Arch, Op>(yd + row * n + j0, ad + off[0] + j0 * sa, bd + off[1] + j0 * sb, sa, sb, j1 - j0);
  });
}

// The dimensions of a plan other than `skip`, with dy's row-major strides, for an odometer.
struct Walk {
  int rank = 0;
  std::array<std::int64_t, Shape::kMaxRank> dims{}, dy_strides{}, x_strides{};
  std::int64_t count() const noexcept {
    std::int64_t n = 1;
    for (int i = 0; i < rank; ++i) n *= dims[static_cast<std::size_t>(i)];
    return n;
  }
  // Offset in dy of tuple t (row-major over dims).
  std::int64_t dy_offset(std::int64_t t) const noexcept {
    std::int64_t off = 0;
    for (int d = rank - 1; d >= 0; --d) {
      const auto ud = static_cast<std::size_t>(d);
      off += (t % dims[ud]) * dy_strides[ud];
      t /= dims[ud];
    }
    return off;
  }
};

}  // namespace broadcast_detail

// y = a op b with broadcasting (assigned).
template <class Arch>
void binary(Tensor<float>& y, const Tensor<float>& a, const Tensor<float>& b, BinaryOp op) noexcept {
  switch (op) {
    case BinaryOp::add: broadcast_detail::binary<Arch, BinaryOp::add>(y, a, b); break;
    case BinaryOp::sub: broadcast_detail::binary<Arch, BinaryOp::sub>(y, a, b); break;
    case BinaryOp::mul: broadcast_detail::binary<Arch, BinaryOp::mul>(y, a, b); break;
    case BinaryOp::div: broadcast_detail::binary<Arch, BinaryOp::div>(y, a, b); break;
  }
}

// y = x expanded to y's shape (assigned).
template <class Arch>
void expand(Tensor<float>& y, const Tensor<float>& x) noexcept {
  const StridedPlan p = plan_broadcast(y.shape(), x.shape(), x.shape());
  const auto last = static_cast<std::size_t>(p.rank - 1);
  const std::int64_t s = p.strides[0][last], n = p.inner();
  const float* xd = x.data();
  float* yd = y.data();
  broadcast_detail::for_row_blocks(p, [&](std::int64_t row, std::int64_t j0, std::int64_t j1) {
    const std::int64_t off = broadcast_detail::row_offsets(p, row)[0];
    float* out = yd + row * n + j0;
    if (s == 1)
      std::memcpy(out, xd + off + j0, static_cast<std::size_t>(j1 - j0) * sizeof(float));
    else
      std::fill(out, out + (j1 - j0), xd[off]);
  });
}

// dx = dy summed over the dimensions where dx's shape broadcasts to dy's (assigned).
template <class Arch>
void sum_to(Tensor<float>& dx, const Tensor<float>& dy) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr std::int64_t S = B::size;
  const StridedPlan p = plan_broadcast(dy.shape(), dx.shape(), dx.shape());
  std::array<std::int64_t, Shape::kMaxRank> dy_stride{};
  {
    std::int64_t s = 1;
    for (int d = p.rank - 1; d >= 0; --d) {
      dy_stride[static_cast<std::size_t>(d)] = s;
      s *= p.dims[static_cast<std::size_t>(d)];
    }
  }
  const int last = p.rank - 1;
  const bool inner_reduced = p.strides[0][static_cast<std::size_t>(last)] == 0;
  // kept: the dimensions of dx (in order); reduced: the ones summed, inner excluded.
  broadcast_detail::Walk kept, reduced;
  for (int d = 0; d < p.rank; ++d) {
    const auto ud = static_cast<std::size_t>(d);
    if (d == last) continue;
    broadcast_detail::Walk& w = p.strides[0][ud] == 0 ? reduced : kept;
    const auto at = static_cast<std::size_t>(w.rank++);
    w.dims[at] = p.dims[ud];
    w.dy_strides[at] = dy_stride[ud];
  }
  const std::int64_t n = p.inner(), tuples = reduced.count();
  const float* g = dy.data();
  float* out = dx.data();
  if (inner_reduced) {
    // One output element per kept tuple: the sum of `tuples` contiguous runs of n.
    parallel_for(0, kept.count(), static_cast<double>(tuples * n), [&](std::int64_t o) {
      const float* base = g + kept.dy_offset(o);
      B acc(0.0f);
      float tail = 0.0f;
      for (std::int64_t t = 0; t < tuples; ++t) {
        const float* run = base + reduced.dy_offset(t);
        std::int64_t j = 0;
        for (; j + S <= n; j += S) acc += B::load_unaligned(run + j);
        for (; j < n; ++j) tail += run[j];
      }
      out[o] = xsimd::hadd(acc) + tail;
    });
  } else {
    // Output rows of n contiguous elements, each a lane-wise sum over the reduced tuples in
    // row-major order (the reference's order).
    constexpr std::int64_t kCols = 1024;
    const std::int64_t per_row = (n + kCols - 1) / kCols;
    parallel_for(0, kept.count() * per_row, static_cast<double>(tuples * std::min(n, kCols)), [&](std::int64_t task) {
      const std::int64_t row = task / per_row, j0 = (task % per_row) * kCols, j1 = std::min(n, j0 + kCols);
      const float* base = g + kept.dy_offset(row) + j0;
      float* o = out + row * n + j0;
      std::fill(o, o + (j1 - j0), 0.0f);
      for (std::int64_t t = 0; t < tuples; ++t) {
        const float* run = base + reduced.dy_offset(t);
        std::int64_t j = 0;
        for (; j + S <= j1 - j0; j += S) (B::load_unaligned(o + j) + B::load_unaligned(run + j)).store_unaligned(o + j);
        for (; j < j1 - j0; ++j) o[j] += run[j];
      }
    });
  }
}

}  // namespace gradattr::kernels::fast
