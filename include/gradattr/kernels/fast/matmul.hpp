#pragma once
// Fast float batched matrix product on Eigen's GEMM (semantics of kernels/reference/matmul.hpp).
// Tasks are (batch, block of output rows) pairs, cut by shape only; each output element comes
// from one task and Eigen runs serially inside the OpenMP team (as kernels/fast/dense.hpp), so
// results are bitwise identical for any thread count. The batch offsets of broadcast operands
// are computed before the parallel region.
#include "gradattr/core/detail/intrinsics.hpp"  // first: see there
#include <Eigen/Core>
#include <cstdint>
#include <vector>

#include "gradattr/core/tensor.hpp"
#include "gradattr/kernels/fast/conv_gemm.hpp"
#include "gradattr/kernels/reference/matmul.hpp"

namespace gradattr::kernels::fast {
namespace matmul_fast_detail {
inline std::vector<std::int64_t> offsets(const Shape& y, const Shape& x, std::int64_t batches) {
  std::vector<std::int64_t> o(static_cast<std::size_t>(batches));
  for (std::int64_t t = 0; t < batches; ++t) o[static_cast<std::size_t>(t)] = matmul_detail::batch_offset(y, x, t);
  return o;
}
}  // namespace matmul_fast_detail

// y [..., M, N] = a [..., M, K] b [..., K, N]
inline void matmul_forward(Tensor<float>& y, const Tensor<float>& a, const Tensor<float>& b) {
  using namespace conv_detail;
  const int r = y.rank();
  const std::int64_t M = y.dim(r - 2), N = y.dim(r - 1), K = a.dim(r - 1), batches = y.numel() / (M * N);
  const auto oa = matmul_fast_detail::offsets(y.shape(), a.shape(), batches);
  const auto ob = matmul_fast_detail::offsets(y.shape(), b.shape(), batches);
  const Split s = split(M, 128);
  const float* ad = a.data();
  const float* bd = b.data();
  float* yd = y.data();
#pragma omp parallel for schedule(dynamic, 1)
  for (std::int64_t task = 0; task < batches * s.parts; ++task) {
    const std::int64_t t = task / s.parts, m0 = s.begin(task % s.parts), m1 = s.end(task % s.parts);
    ConstMatMap am(ad + oa[static_cast<std::size_t>(t)] + m0 * K, m1 - m0, K, Stride(K));
    ConstMatMap bm(bd + ob[static_cast<std::size_t>(t)], K, N, Stride(N));
    MatMap ym(yd + t * M * N + m0 * N, m1 - m0, N, Stride(N));
    ym.noalias() = am * bm;
  }
}

// da [batch(y)..., M, K] = dy b^T per batch (assigned)
inline void matmul_backward_a(Tensor<float>& da, const Tensor<float>& dy, const Tensor<float>& b) {
  using namespace conv_detail;
  const int r = dy.rank();
  const std::int64_t M = dy.dim(r - 2), N = dy.dim(r - 1), K = b.dim(r - 2), batches = dy.numel() / (M * N);
  const auto ob = matmul_fast_detail::offsets(dy.shape(), b.shape(), batches);
  const Split s = split(M, 128);
  const float* g = dy.data();
  const float* bd = b.data();
  float* d = da.data();
#pragma omp parallel for schedule(dynamic, 1)
  for (std::int64_t task = 0; task < batches * s.parts; ++task) {
    const std::int64_t t = task / s.parts, m0 = s.begin(task % s.parts), m1 = s.end(task % s.parts);
    ConstMatMap gm(g + t * M * N + m0 * N, m1 - m0, N, Stride(N));
    ConstMatMap bm(bd + ob[static_cast<std::size_t>(t)], K, N, Stride(N));
    MatMap dm(d + t * M * K + m0 * K, m1 - m0, K, Stride(K));
    dm.noalias() = gm * bm.transpose();
  }
}

// db [batch(y)..., K, N] = a^T dy per batch (assigned)
inline void matmul_backward_b(Tensor<float>& db, const Tensor<float>& dy, const Tensor<float>& a) {
  using namespace conv_detail;
  const int r = dy.rank();
  const std::int64_t M = dy.dim(r - 2), N = dy.dim(r - 1), K = a.dim(r - 1), batches = dy.numel() / (M * N);
  const auto oa = matmul_fast_detail::offsets(dy.shape(), a.shape(), batches);
  const Split s = split(K, 128);
  const float* g = dy.data();
  const float* ad = a.data();
  float* d = db.data();
#pragma omp parallel for schedule(dynamic, 1)
  for (std::int64_t task = 0; task < batches * s.parts; ++task) {
    const std::int64_t t = task / s.parts, k0 = s.begin(task % s.parts), k1 = s.end(task % s.parts);
    ConstMatMap am(ad + oa[static_cast<std::size_t>(t)] + k0, M, k1 - k0, Stride(K));
    ConstMatMap gm(g + t * M * N, M, N, Stride(N));
    MatMap dm(d + t * K * N + k0 * N, k1 - k0, N, Stride(N));
    dm.noalias() = am.transpose() * gm;
  }
}

}  // namespace gradattr::kernels::fast
