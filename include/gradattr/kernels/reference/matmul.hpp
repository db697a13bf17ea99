#pragma once
// Reference batched matrix product (numpy.matmul on operands the caller has promoted to rank
// >= 2 and aligned to y's rank): y [..., M, N] = a [..., M, K] b [..., K, N], the batch
// dimensions of a and b broadcasting to y's. The backward kernels write full-batch gradients
// (y's batch dimensions); the caller sums them down to a broadcast operand (kernels::sum_to).
#include <cstdint>

#include "gradattr/core/tensor.hpp"
#include "gradattr/kernels/reference/broadcast.hpp"

namespace gradattr::kernels {
namespace matmul_detail {
// The batch dimensions of s (all but the last two).
inline Shape batch_of(const Shape& s) noexcept {
  Shape b;
  for (int i = 0; i + 2 < s.rank(); ++i) b.push(s[i]);
  return b;
}
// Element offset of batch t of y in operand x (a broadcast of its batch dimensions).
inline std::int64_t batch_offset(const Shape& y, const Shape& x, std::int64_t t) noexcept {
  return reference::broadcast_detail::source_offset(batch_of(y), batch_of(x), t) * x[x.rank() - 2] * x[x.rank() - 1];
}
}  // namespace matmul_detail

namespace reference {

// y [..., M, N] = a b per batch, plus bias[n] on every row when bias is given (N values): the
// product rounded, then the sum rounded, as a separate Add would.
template <class T>
void matmul_forward(Tensor<T>& y, const Tensor<T>& a, const Tensor<T>& b, const T* bias = nullptr) noexcept {
  const int r = y.rank();
  const std::int64_t M = y.dim(r - 2), N = y.dim(r - 1), K = a.dim(r - 1), batches = y.numel() / (M * N);
  for (std::int64_t t = 0; t < batches; ++t) {
    const T* ad = a.data() + matmul_detail::batch_offset(y.shape(), a.shape(), t);
    const T* bd = b.data() + matmul_detail::batch_offset(y.shape(), b.shape(), t);
    T* yd = y.data() + t * M * N;
    for (std::int64_t m = 0; m < M; ++m)
      for (std::int64_t n = 0; n < N; ++n) {
        T acc = 0;
        for (std::int64_t k = 0; k < K; ++k) acc += ad[m * K + k] * bd[k * N + n];
        yd[m * N + n] = acc;
        if (bias) yd[m * N + n] += bias[n];
      }
  }
}

// da [batch(y)..., M, K] = dy b^T per batch (assigned)
template <class T>
void matmul_backward_a(Tensor<T>& da, const Tensor<T>& dy, const Tensor<T>& b) noexcept {
  const int r = dy.rank();
  const std::int64_t M = dy.dim(r - 2), N = dy.dim(r - 1), K = b.dim(r - 2), batches = dy.numel() / (M * N);
  for (std::int64_t t = 0; t < batches; ++t) {
    const T* g = dy.data() + t * M * N;
    const T* bd = b.data() + matmul_detail::batch_offset(dy.shape(), b.shape(), t);
    T* d = da.data() + t * M * K;
    for (std::int64_t m = 0; m < M; ++m)
      for (std::int64_t k = 0; k < K; ++k) {
        T acc = 0;
        for (std::int64_t n = 0; n < N; ++n) acc += g[m * N + n] * bd[k * N + n];
        d[m * K + k] = acc;
      }
  }
}

// db [batch(y)..., K, N] = a^T dy per batch (assigned)
template <class T>
void matmul_backward_b(Tensor<T>& db, const Tensor<T>& dy, const Tensor<T>& a) noexcept {
  const int r = dy.rank();
  const std::int64_t M = dy.dim(r - 2), N = dy.dim(r - 1), K = a.dim(r - 1), batches = dy.numel() / (M * N);
  for (std::int64_t t = 0; t < batches; ++t) {
    const T* g = dy.data() + t * M * N;
    const T* ad = a.data() + matmul_detail::batch_offset(dy.shape(), a.shape(), t);
    T* d = db.data() + t * K * N;
    for (std::int64_t k = 0; k < K; ++k)
      for (std::int64_t n = 0; n < N; ++n) {
        T acc = 0;
        for (std::int64_t m = 0; m < M; ++m) acc += ad[m * K + k] * g[m * N + n];
        d[k * N + n] = acc;
      }
  }
}

// db [K, N] = sum over batches of a^T dy, for a b shared by every batch (its batch dimensions
// all 1) and an a with y's batch dimensions (assigned; ad::op::MatMul checks both)
template <class T>
void matmul_backward_b_shared(Tensor<T>& db, const Tensor<T>& dy, const Tensor<T>& a) noexcept {
  const int r = dy.rank();
  const std::int64_t N = dy.dim(r - 1), K = a.dim(r - 1), rows = dy.numel() / N;
  for (std::int64_t k = 0; k < K; ++k)
    for (std::int64_t n = 0; n < N; ++n) {
      T acc = 0;
      for (std::int64_t m = 0; m < rows; ++m) acc += a.data()[m * K + k] * dy.data()[m * N + n];
      db.data()[k * N + n] = acc;
    }
}

}  // namespace reference
}  // namespace gradattr::kernels
