#pragma once
// Reference fully-connected layer, torch layout: w [Out, In].
#include "gradattr/core/tensor.hpp"

namespace gradattr::kernels::reference {

// y [N, Out] = x [N, In] w^T + b (b [Out] or empty)
template <class T>
void linear_forward(Tensor<T>& y, const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& b) noexcept {
  const auto N = x.dim(0), In = x.dim(1), Out = w.dim(0);
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t o = 0; o < Out; ++o) {
      T acc = b.empty() ? T{0} : b[o];
      for (std::int64_t i = 0; i < In; ++i) acc += x[n * In + i] * w[o * In + i];
      y[n * Out + o] = acc;
    }
}

// dx [N, In] = dy [N, Out] w (assigned)
template <class T>
void linear_backward_data(Tensor<T>& dx, const Tensor<T>& dy, const Tensor<T>& w) noexcept {
  const auto N = dx.dim(0), In = dx.dim(1), Out = w.dim(0);
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t i = 0; i < In; ++i) {
      T acc = 0;
      for (std::int64_t o = 0; o < Out; ++o) acc += dy[n * Out + o] * w[o * In + i];
      dx[n * In + i] = acc;
    }
}

// dw [Out, In] = dy^T x, db [Out] = column sums of dy (db may be empty); both assigned.
template <class T>
void linear_backward_weights(Tensor<T>& dw, Tensor<T>& db, const Tensor<T>& dy, const Tensor<T>& x) noexcept {
  const auto N = x.dim(0), In = x.dim(1), Out = dw.dim(0);
  for (std::int64_t o = 0; o < Out; ++o) {
    for (std::int64_t i = 0; i < In; ++i) {
      T acc = 0;
      for (std::int64_t n = 0; n < N; ++n) acc += dy[n * Out + o] * x[n * In + i];
      dw[o * In + i] = acc;
    }
    if (!db.empty()) {
      T acc = 0;
      for (std::int64_t n = 0; n < N; ++n) acc += dy[n * Out + o];
      db[o] = acc;
    }
  }
}

}  // namespace gradattr::kernels::reference
