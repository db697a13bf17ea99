#pragma once
// Reference row-wise softmax and log-softmax over the last dimension of x [N, C], with
// max-subtraction (log-sum-exp); never log(softmax). A row of all -inf gives NaN as PyTorch.
#include <cmath>
#include <limits>

#include "gradattr/core/tensor.hpp"

namespace gradattr::kernels::reference {

namespace detail {
template <class T>
T row_logsumexp(const T* x, std::int64_t C) noexcept {
  T m = -std::numeric_limits<T>::infinity();
  for (std::int64_t c = 0; c < C; ++c) m = (x[c] > m || std::isnan(x[c])) ? x[c] : m;
  if (std::isinf(m)) return m;  // all -inf (-> NaN downstream) or a +inf logit
  T s = 0;
  for (std::int64_t c = 0; c < C; ++c) s += std::exp(x[c] - m);
  return m + std::log(s);
}
}  // namespace detail

template <class T>
void log_softmax(Tensor<T>& y, const Tensor<T>& x) noexcept {
  const auto C = x.shape().dim(-1), N = x.numel() / C;
  for (std::int64_t n = 0; n < N; ++n) {
    const T lse = detail::row_logsumexp(x.data() + n * C, C);
    for (std::int64_t c = 0; c < C; ++c) y[n * C + c] = x[n * C + c] - lse;
  }
}

template <class T>
void softmax(Tensor<T>& y, const Tensor<T>& x) noexcept {
  log_softmax(y, x);
  for (std::int64_t i = 0; i < y.numel(); ++i) y[i] = std::exp(y[i]);
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
