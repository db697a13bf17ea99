#pragma once
// Softmax and log-softmax along any axis of x, viewed as [outer, C, inner]. When the axis is the
// last (inner = 1, a ViT's attention rows) this is kernels/softmax.hpp, with its fast float
// path; otherwise a strided loop with the reference's rules (max subtraction, a NaN row stays
// NaN, an infinite maximum gives exp(x - m)), for every element type: not a hot path.
// Outputs assigned; `axis` normalised and checked by the caller.
#include <cmath>
#include <cstdint>
#include <limits>

#include "gradattr/core/tensor.hpp"
#include "gradattr/kernels/softmax.hpp"

namespace gradattr::kernels {
namespace softmax_axis_detail {
struct Layout {
  std::int64_t outer = 1, C = 1, inner = 1;
};
inline Layout layout(const Shape& s, int axis) noexcept {
  Layout l;
  for (int d = 0; d < axis; ++d) l.outer *= s[d];
  l.C = s[axis];
  l.inner = s.stride(axis);
  return l;
}
// For each strided row: f(base) with element c at base + c * inner.
template <class F>
void for_rows(const Layout& l, F&& f) noexcept {
  for (std::int64_t o = 0; o < l.outer; ++o)
    for (std::int64_t k = 0; k < l.inner; ++k) f(o * l.C * l.inner + k);
}
template <class T>
void strided(Tensor<T>& y, const Tensor<T>& x, int axis, bool log) noexcept {
  const Layout l = layout(x.shape(), axis);
  for_rows(l, [&](std::int64_t b) {
    T m = -std::numeric_limits<T>::infinity();
    for (std::int64_t c = 0; c < l.C; ++c) {
      const T v = x[b + c * l.inner];
      m = (v > m || std::isnan(v)) ? v : m;
    }
    if (std::isinf(m)) {
      for (std::int64_t c = 0; c < l.C; ++c) {
        const T d = x[b + c * l.inner] - m;
        y[b + c * l.inner] = log ? d : std::exp(d);
      }
      return;
    }
    T s = 0;
    for (std::int64_t c = 0; c < l.C; ++c) s += std::exp(x[b + c * l.inner] - m);
    const T ls = std::log(s);
    for (std::int64_t c = 0; c < l.C; ++c) {
      const T d = x[b + c * l.inner] - m;
      y[b + c * l.inner] = log ? d - ls : std::exp(d) / s;
    }
  });
}
}  // namespace softmax_axis_detail

template <class T>
void softmax_axis(Tensor<T>& y, const Tensor<T>& x, int axis) noexcept {
  if (axis == x.rank() - 1)
    softmax(y, x);
  else
    softmax_axis_detail::strided(y, x, axis, false);
}
template <class T>
void log_softmax_axis(Tensor<T>& y, const Tensor<T>& x, int axis) noexcept {
  if (axis == x.rank() - 1)
    log_softmax(y, x);
  else
    softmax_axis_detail::strided(y, x, axis, true);
}
// dx = y (dy - Σ_c dy_c y_c) along the axis, y the softmax output.
template <class T>
void softmax_axis_backward(Tensor<T>& dx, const Tensor<T>& dy, const Tensor<T>& y, int axis) noexcept {
  if (axis == y.rank() - 1) return softmax_backward(dx, dy, y);
  const auto l = softmax_axis_detail::layout(y.shape(), axis);
  softmax_axis_detail::for_rows(l, [&](std::int64_t b) {
    T dot = 0;
    for (std::int64_t c = 0; c < l.C; ++c) dot += dy[b + c * l.inner] * y[b + c * l.inner];
    for (std::int64_t c = 0; c < l.C; ++c) dx[b + c * l.inner] = y[b + c * l.inner] * (dy[b + c * l.inner] - dot);
  });
}
// dx = dy - exp(ly) Σ_c dy_c along the axis, ly the log-softmax output.
template <class T>
void log_softmax_axis_backward(Tensor<T>& dx, const Tensor<T>& dy, const Tensor<T>& ly, int axis) noexcept {
  if (axis == ly.rank() - 1) return log_softmax_backward(dx, dy, ly);
  const auto l = softmax_axis_detail::layout(ly.shape(), axis);
  softmax_axis_detail::for_rows(l, [&](std::int64_t b) {
    T s = 0;
    for (std::int64_t c = 0; c < l.C; ++c) s += dy[b + c * l.inner];
    for (std::int64_t c = 0; c < l.C; ++c) dx[b + c * l.inner] = dy[b + c * l.inner] - std::exp(ly[b + c * l.inner]) * s;
  });
}

}  // namespace gradattr::kernels
