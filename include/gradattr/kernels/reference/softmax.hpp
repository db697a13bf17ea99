#pragma once
// Reference row-wise softmax and log-softmax over the last dimension of x [N, C], with
// max-subtraction (log-sum-exp); never log(softmax). A row of all -inf gives NaN as PyTorch.
#include <cmath>
#include <limits>

#include "gradattr/core/tensor.hpp"

namespace gradattr::kernels::reference {

namespace detail {
// The row maximum; NaN wins (so a NaN row stays NaN).
template <class T>
T row_max(const T* x, std::int64_t C) noexcept {
  T m = -std::numeric_limits<T>::infinity();
  for (std::int64_t c = 0; c < C; ++c) m = (x[c] > m || std::isnan(x[c])) ? x[c] : m;
  return m;
}
}  // namespace detail

// (x − m) − log Σ exp(x − m), never x − (m + log Σ): at |x| ~ 1e30, m + log Σ rounds to m and
// the row would no longer sum to one.
template <class T>
void log_softmax(Tensor<T>& y, const Tensor<T>& x) noexcept {
  const auto C = x.shape().dim(-1), N = x.numel() / C;
  for (std::int64_t n = 0; n < N; ++n) {
    const T* row = x.data() + n * C;
    const T m = detail::row_max(row, C);
    if (std::isinf(m)) {  // all -inf (NaN, as PyTorch) or a +inf logit
      for (std::int64_t c = 0; c < C; ++c) y[n * C + c] = row[c] - m;
      continue;
    }
    T s = 0;
    for (std::int64_t c = 0; c < C; ++c) s += std::exp(row[c] - m);
    const T log_s = std::log(s);
    for (std::int64_t c = 0; c < C; ++c) y[n * C + c] = (row[c] - m) - log_s;
  }
}

template <class T>
void softmax(Tensor<T>& y, const Tensor<T>& x) noexcept {
  const auto C = x.shape().dim(-1), N = x.numel() / C;
  for (std::int64_t n = 0; n < N; ++n) {
    const T* row = x.data() + n * C;
    const T m = detail::row_max(row, C);
    if (std::isinf(m)) {  // as PyTorch: 0 for finite entries, NaN for the +inf ones (or all -inf)
      for (std::int64_t c = 0; c < C; ++c) y[n * C + c] = std::exp(row[c] - m);
      continue;
    }
    T s = 0;
    for (std::int64_t c = 0; c < C; ++c) s += std::exp(row[c] - m);
    for (std::int64_t c = 0; c < C; ++c) y[n * C + c] = std::exp(row[c] - m) / s;
  }
}

// dx = y ⊙ (dy − Σ_c dy_c y_c) per row, y the softmax output (assigned).
template <class T>
void softmax_backward(Tensor<T>& dx, const Tensor<T>& dy, const Tensor<T>& y) noexcept {
  const auto C = y.shape().dim(-1), N = y.numel() / C;
  for (std::int64_t n = 0; n < N; ++n) {
    T dot = 0;
    for (std::int64_t c = 0; c < C; ++c) dot += dy[n * C + c] * y[n * C + c];
    for (std::int64_t c = 0; c < C; ++c) dx[n * C + c] = y[n * C + c] * (dy[n * C + c] - dot);
  }
}

// dx = dy − y ⊙ Σ_c dy_c per row (y = exp(ly)), assigned, computed as
// dx_j = dy_j (1 − y_j) − y_j Σ_{k≠j} dy_k with 1 − y_j of the most probable class formed as
// Σ_{k≠j} y_k: for a saturated row (y_j → 1) the subtraction would keep only a few bits, and the
// cross-entropy gradient −(1 − y_c) would disagree with the LogSoftmax seed (score/policies.hpp),
// which is formed the same careful way (docs/methods.md §1, information gain).
template <class T>
void log_softmax_backward(Tensor<T>& dx, const Tensor<T>& dy, const Tensor<T>& ly) noexcept {
  const auto C = ly.shape().dim(-1), N = ly.numel() / C;
  for (std::int64_t n = 0; n < N; ++n) {
    const T* g = dy.data() + n * C;
    const T* l = ly.data() + n * C;
    T* d = dx.data() + n * C;
    T sum_dy = 0;
    std::int64_t top = 0;
    for (std::int64_t c = 0; c < C; ++c) {
      sum_dy += g[c];
      if (l[c] > l[top]) top = c;
    }
    T rest_top = 0;  // Σ_{k≠top} y_k
    for (std::int64_t c = 0; c < C; ++c)
      if (c != top) rest_top += std::exp(l[c]);
    for (std::int64_t c = 0; c < C; ++c) {
      const T y = std::exp(l[c]);
      const T one_minus_y = c == top ? rest_top : T{1} - y;
      d[c] = g[c] * one_minus_y - y * (sum_dy - g[c]);
    }
  }
}

}  // namespace gradattr::kernels::reference
