#pragma once
// Fast float batched matrix product (semantics of kernels/reference/matmul.hpp): the forward and
// a's gradient on the packed GEMM of kernels/fast/gemm.hpp, one task per (batch, column panel);
// b's gradient (a weight gradient, or the second operand of an attention product) on Eigen's
// GEMM in tiles of rows x columns, Eigen running serially inside the OpenMP team (as
// kernels/fast/dense.hpp). Tasks are cut by shape only and each output element comes from one
// task, so results are bitwise identical for any thread count. The batch offsets of broadcast
// operands are computed before the parallel region.
#include "gradattr/core/detail/intrinsics.hpp"  // first: see there
#include "gradattr/core/detail/eigen.hpp"
#include <cstdint>
#include <vector>

#include "gradattr/core/tensor.hpp"
#include "gradattr/kernels/fast/conv_gemm.hpp"
#include "gradattr/kernels/fast/gemm.hpp"
#include "gradattr/kernels/reference/matmul.hpp"

namespace gradattr::kernels::fast {
namespace matmul_fast_detail {
inline std::vector<std::int64_t> offsets(const Shape& y, const Shape& x, std::int64_t batches) {
  std::vector<std::int64_t> o(static_cast<std::size_t>(batches));
  for (std::int64_t t = 0; t < batches; ++t) o[static_cast<std::size_t>(t)] = matmul_detail::batch_offset(y, x, t);
  return o;
}
// A batch of products folds into one GEMM of (batches * M) rows when b is one matrix shared by
// every batch (all its offsets 0) and a's batches are stored one after the other: what a Linear
// layer exported as MatMul on [T, 1, D] tokens needs (ViT-B/16's in-projection: 197 one-row
// products, each re-reading b from memory, ran at 35 GFLOP/s on Eigen against 200 folded).
inline bool one_matrix(const std::vector<std::int64_t>& o) {
  for (const std::int64_t x : o)
    if (x != 0) return false;
  return true;
}
inline bool stacked(const std::vector<std::int64_t>& o, std::int64_t batch_size) {
  for (std::size_t t = 0; t < o.size(); ++t)
    if (o[t] != static_cast<std::int64_t>(t) * batch_size) return false;
  return true;
}
}  // namespace matmul_fast_detail

// Work of `batches` products [M x K] [K x N] (core/parallel.hpp's units): the multiply-adds, and
// B read once per product (what dominates when M is a few rows).
inline double gemm_work(std::int64_t batches, std::int64_t M, std::int64_t N, std::int64_t K) noexcept {
  return static_cast<double>(batches) * (kMacWork * static_cast<double>(M) * static_cast<double>(N * K) + static_cast<double>(N * K));
}

// Runs f(t, n0, width, scratch) over the column panels of `batches` products of `rows` rows,
// `cols` output columns and a reduction of `depth` (kernels/fast/gemm.hpp), scratch private to
// the thread.
template <class F>
void for_each_panel(std::int64_t batches, std::int64_t rows, std::int64_t cols, std::int64_t depth, F&& f) {
  const std::int64_t panels = (cols + detail::kPanelWidth - 1) / detail::kPanelWidth;
#pragma omp parallel for schedule(dynamic, 1) if (worth_parallel(batches * panels, gemm_work(batches, rows, cols, depth)))
  for (std::int64_t task = 0; task < batches * panels; ++task) {
    const std::int64_t t = task / panels, n0 = task % panels * detail::kPanelWidth;
    float* scratch = conv_detail::workspace(gemm_panel_scratch(depth), conv_detail::kPrivate);
    f(t, n0, std::min(detail::kPanelWidth, cols - n0), scratch);
  }
}

// Runs f(t, r0, r1, c0, c1) over the output tiles of `batches` products of [rows x cols]: rows
// in parts of at most 256, columns of at most 384, cut by shape only. Column tiles keep both
// threads busy on a ViT's 197-row products (row parts alone split them 112 + 85): Eigen's GEMM
// on ViT-B/16's shapes at 2 threads went from 200-220 to 255-295 GFLOP/s.
// `depth`: the reduction, for the work estimate.
template <class F>
void for_each_tile(std::int64_t batches, std::int64_t rows, std::int64_t cols, std::int64_t depth, F&& f) {
  using conv_detail::split;
  const conv_detail::Split rs = split(rows, 256), cs = split(cols, 384);
  const std::int64_t per_batch = rs.parts * cs.parts;
#pragma omp parallel for schedule(dynamic, 1) if (worth_parallel(batches * per_batch, gemm_work(batches, rows, cols, depth)))
  for (std::int64_t task = 0; task < batches * per_batch; ++task) {
    const std::int64_t t = task / per_batch, i = task % per_batch / cs.parts, j = task % cs.parts;
    f(t, rs.begin(i), rs.end(i), cs.begin(j), cs.end(j));
  }
}

// gemm_panel's store with a bias epilogue: y_row = tile_row + bias (bias at the panel's column).
struct AddBiasRow {
  const float* bias;
  void operator()(std::int64_t /*row*/, const float* tile_row, float* y_row, std::int64_t width) const noexcept {
    for (std::int64_t j = 0; j < width; ++j) y_row[j] = tile_row[j] + bias[j];
  }
};

// y [..., M, N] = a [..., M, K] b [..., K, N] (+ bias [N] on every row, fused into the store:
// the same roundings as the product followed by an Add)
inline void matmul_forward(Tensor<float>& y, const Tensor<float>& a, const Tensor<float>& b,
                           const float* bias = nullptr) {
  using namespace conv_detail;
  const int r = y.rank();
  std::int64_t M = y.dim(r - 2), batches = y.numel() / (M * y.dim(r - 1));
  const std::int64_t N = y.dim(r - 1), K = a.dim(r - 1);
  auto oa = matmul_fast_detail::offsets(y.shape(), a.shape(), batches);
  auto ob = matmul_fast_detail::offsets(y.shape(), b.shape(), batches);
  if (batches > 1 && matmul_fast_detail::one_matrix(ob) && matmul_fast_detail::stacked(oa, M * K)) {
    M *= batches;
    batches = 1;
    oa.assign(1, 0);
    ob.assign(1, 0);
  }
  const float* ad = a.data();
  const float* bd = b.data();
  float* yd = y.data();
  for_each_panel(batches, M, N, K, [&](std::int64_t t, std::int64_t n0, std::int64_t width, float* scratch) {
    const float* at = ad + oa[static_cast<std::size_t>(t)];
    const float* bt = bd + ob[static_cast<std::size_t>(t)];
    if (bias)
      gemm_panel<xsimd::default_arch>(M, K, at, K, bt, N, 1, n0, width, yd + t * M * N, N, scratch, AddBiasRow{bias + n0});
    else
      gemm_panel<xsimd::default_arch>(M, K, at, K, bt, N, 1, n0, width, yd + t * M * N, N, scratch);
  });
}

// da [batch(y)..., M, K] = dy b^T per batch (assigned)
inline void matmul_backward_a(Tensor<float>& da, const Tensor<float>& dy, const Tensor<float>& b) {
  using namespace conv_detail;
  const int r = dy.rank();
  std::int64_t M = dy.dim(r - 2), batches = dy.numel() / (M * dy.dim(r - 1));
  const std::int64_t N = dy.dim(r - 1), K = b.dim(r - 2);
  auto ob = matmul_fast_detail::offsets(dy.shape(), b.shape(), batches);
  if (batches > 1 && matmul_fast_detail::one_matrix(ob)) {  // da and dy are full-batch: stacked
    M *= batches;
    batches = 1;
    ob.assign(1, 0);
  }
  const float* g = dy.data();
  const float* bd = b.data();
  float* d = da.data();
  // da = dy b^T: B(c, k) = b[k * N + c]
  for_each_panel(batches, M, K, N, [&](std::int64_t t, std::int64_t k0, std::int64_t width, float* scratch) {
    gemm_panel<xsimd::default_arch>(M, N, g + t * M * N, N, bd + ob[static_cast<std::size_t>(t)], 1, N, k0, width,
                                    d + t * M * K, K, scratch);
  });
}

// db [batch(y)..., K, N] = a^T dy per batch (assigned)
inline void matmul_backward_b(Tensor<float>& db, const Tensor<float>& dy, const Tensor<float>& a) {
  using namespace conv_detail;
  const int r = dy.rank();
  const std::int64_t M = dy.dim(r - 2), N = dy.dim(r - 1), K = a.dim(r - 1), batches = dy.numel() / (M * N);
  const auto oa = matmul_fast_detail::offsets(dy.shape(), a.shape(), batches);
  const float* g = dy.data();
  const float* ad = a.data();
  float* d = db.data();
  for_each_tile(batches, K, N, M, [&](std::int64_t t, std::int64_t k0, std::int64_t k1, std::int64_t n0, std::int64_t n1) {
    ConstMatMap am(ad + oa[static_cast<std::size_t>(t)] + k0, M, k1 - k0, Stride(K));
    ConstMatMap gm(g + t * M * N + n0, M, n1 - n0, Stride(N));
    MatMap dm(d + t * K * N + k0 * N + n0, k1 - k0, n1 - n0, Stride(N));
    dm.noalias() = am.transpose() * gm;
  });
}

// db [K, N] = sum over batches of a^T dy, for a b shared by every batch and an a stored batch
// after batch (ad::op::MatMul checks both): one GEMM over all batches' rows instead of a
// full-batch gradient summed down afterwards.
inline void matmul_backward_b_shared(Tensor<float>& db, const Tensor<float>& dy, const Tensor<float>& a) {
  using namespace conv_detail;
  const int r = dy.rank();
  const std::int64_t N = dy.dim(r - 1), K = a.dim(r - 1), rows = dy.numel() / N;
  const float* g = dy.data();
  const float* ad = a.data();
  float* d = db.data();
  for_each_tile(1, K, N, rows, [&](std::int64_t, std::int64_t k0, std::int64_t k1, std::int64_t n0, std::int64_t n1) {
    ConstMatMap am(ad + k0, rows, k1 - k0, Stride(K));
    ConstMatMap gm(g + n0, rows, n1 - n0, Stride(N));
    MatMap dm(d + k0 * N + n0, k1 - k0, n1 - n0, Stride(N));
    dm.noalias() = am.transpose() * gm;
  });
}

}  // namespace gradattr::kernels::fast
