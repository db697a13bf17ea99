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

// dx = dy − softmax ⊙ Σ_c dy_c per row, ly the log-softmax output (assigned).
template <class T>
void log_softmax_backward(Tensor<T>& dx, const Tensor<T>& dy, const Tensor<T>& ly) noexcept {
  const auto C = ly.shape().dim(-1), N = ly.numel() / C;
  for (std::int64_t n = 0; n < N; ++n) {
    T sum = 0;
    for (std::int64_t c = 0; c < C; ++c) sum += dy[n * C + c];
    for (std::int64_t c = 0; c < C; ++c) dx[n * C + c] = dy[n * C + c] - std::exp(ly[n * C + c]) * sum;
  }
}

}  // namespace gradattr::kernels::reference
