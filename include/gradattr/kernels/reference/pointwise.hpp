#pragma once
// Reference per-channel affine map and the graph activations whose fast twins are in
// kernels/fast/pointwise.hpp: clip, sigmoid, hard_sigmoid, hard_swish, erf, gelu, silu. Outputs are
// assigned.
//
// Gradients at the kinks follow PyTorch (docs/architecture.md: torch is the value reference):
//  - clip(x, lo, hi) is torch's hardtanh (relu6 = clip(x, 0, 6)): the gradient is 1 strictly
//    inside (lo, hi) and 0 at x == lo, x == hi and outside (hardtanh_backward uses
//    x <= lo || x >= hi), as relu's gradient is 0 at 0;
//  - hard_sigmoid: alpha where 0 < alpha x + beta < 1 strictly, else 0 (torch's hardsigmoid
//    backward at alpha = 1/6, beta = 1/2 is 1/6 on (-3, 3) only);
//  - hard_swish, x * hard_sigmoid(x, 1/6, 1/2): 0 for x < -3, x/3 + 1/2 for -3 <= x <= 3, 1
//    above (torch's hardswish_backward, both ends inclusive in the middle branch).
// NaN propagates through every forward (comparisons with NaN are false).
#include <cmath>
#include <cstdint>
#include <numbers>

#include "gradattr/core/tensor.hpp"

namespace gradattr::kernels::reference {

// y[n, c, ...] = x[n, c, ...] * scale[c] + shift[c], x [N, C, ...].
template <class T>
void channel_affine_forward(Tensor<T>& y, const Tensor<T>& x, const Tensor<T>& scale, const Tensor<T>& shift) noexcept {
  const std::int64_t N = x.dim(0), C = x.dim(1), inner = x.shape().stride(1);
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t c = 0; c < C; ++c)
      for (std::int64_t k = 0; k < inner; ++k) {
        const std::int64_t i = (n * C + c) * inner + k;
        const T p = x[i] * scale[c];
        y[i] = p + shift[c];
      }
}
// dx = dy * scale[c]
template <class T>
void channel_affine_backward_data(Tensor<T>& dx, const Tensor<T>& dy, const Tensor<T>& scale) noexcept {
  const std::int64_t N = dy.dim(0), C = dy.dim(1), inner = dy.shape().stride(1);
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t c = 0; c < C; ++c)
      for (std::int64_t k = 0; k < inner; ++k) dx[(n * C + c) * inner + k] = dy[(n * C + c) * inner + k] * scale[c];
}
// dscale[c] = sum dy * x, dshift[c] = sum dy over n and the trailing dimensions (either may be empty).
template <class T>
void channel_affine_backward_params(Tensor<T>& dscale, Tensor<T>& dshift, const Tensor<T>& dy,
                                    const Tensor<T>& x) noexcept {
  const std::int64_t N = dy.dim(0), C = dy.dim(1), inner = dy.shape().stride(1);
  for (std::int64_t c = 0; c < C; ++c) {
    T ds = 0, db = 0;
    for (std::int64_t n = 0; n < N; ++n)
      for (std::int64_t k = 0; k < inner; ++k) {
        const std::int64_t i = (n * C + c) * inner + k;
        if (!dscale.empty()) ds += dy[i] * x[i];
        db += dy[i];
      }
    if (!dscale.empty()) dscale[c] = ds;
    if (!dshift.empty()) dshift[c] = db;
  }
}

template <class T>
void clip_forward(Tensor<T>& y, const Tensor<T>& x, T lo, T hi) noexcept {
  for (std::int64_t i = 0; i < x.numel(); ++i) y[i] = x[i] < lo ? lo : (x[i] > hi ? hi : x[i]);
}
template <class T>
void clip_backward(Tensor<T>& dx, const Tensor<T>& dy, const Tensor<T>& x, T lo, T hi) noexcept {
  for (std::int64_t i = 0; i < x.numel(); ++i) dx[i] = (x[i] > lo && x[i] < hi) ? dy[i] : T{0};
}

template <class T>
void sigmoid_forward(Tensor<T>& y, const Tensor<T>& x) noexcept {
  for (std::int64_t i = 0; i < x.numel(); ++i) y[i] = T{1} / (T{1} + std::exp(-x[i]));
}
// dx = dy * y (1 - y), y the forward output
template <class T>
void sigmoid_backward(Tensor<T>& dx, const Tensor<T>& dy, const Tensor<T>& y) noexcept {
  for (std::int64_t i = 0; i < y.numel(); ++i) dx[i] = dy[i] * (y[i] * (T{1} - y[i]));
}

template <class T>
void hard_sigmoid_forward(Tensor<T>& y, const Tensor<T>& x, T alpha, T beta) noexcept {
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    const T v = alpha * x[i] + beta;
    y[i] = v < T{0} ? T{0} : (v > T{1} ? T{1} : v);
  }
}
template <class T>
void hard_sigmoid_backward(Tensor<T>& dx, const Tensor<T>& dy, const Tensor<T>& x, T alpha, T beta) noexcept {
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    const T v = alpha * x[i] + beta;
    dx[i] = (v > T{0} && v < T{1}) ? dy[i] * alpha : T{0};
  }
}

template <class T>
void hard_swish_forward(Tensor<T>& y, const Tensor<T>& x) noexcept {
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    const T v = x[i] / T{6} + T{0.5};
    y[i] = x[i] * (v < T{0} ? T{0} : (v > T{1} ? T{1} : v));
  }
}
template <class T>
void hard_swish_backward(Tensor<T>& dx, const Tensor<T>& dy, const Tensor<T>& x) noexcept {
  for (std::int64_t i = 0; i < x.numel(); ++i)
    dx[i] = x[i] < T{-3} ? T{0} : (x[i] <= T{3} ? dy[i] * (x[i] / T{3} + T{0.5}) : dy[i]);
}

// erf; dx = dy * 2/sqrt(pi) * exp(-x^2)
template <class T>
void erf_forward(Tensor<T>& y, const Tensor<T>& x) noexcept {
  for (std::int64_t i = 0; i < x.numel(); ++i) y[i] = std::erf(x[i]);
}
template <class T>
void erf_backward(Tensor<T>& dx, const Tensor<T>& dy, const Tensor<T>& x) noexcept {
  const T c = T{2} / std::sqrt(std::numbers::pi_v<T>);
  for (std::int64_t i = 0; i < x.numel(); ++i) dx[i] = dy[i] * (c * std::exp(-x[i] * x[i]));
}

// gelu (exact erf form, torch.nn.GELU()): y = x Phi(x) = x (1 + erf(x / sqrt 2)) / 2;
// dx = dy * (Phi(x) + x phi(x)), phi the standard normal density
template <class T>
void gelu_forward(Tensor<T>& y, const Tensor<T>& x) noexcept {
  for (std::int64_t i = 0; i < x.numel(); ++i) y[i] = x[i] * (T{0.5} * (T{1} + std::erf(x[i] / std::numbers::sqrt2_v<T>)));
}
template <class T>
void gelu_backward(Tensor<T>& dx, const Tensor<T>& dy, const Tensor<T>& x) noexcept {
  const T inv_sqrt_2pi = T{1} / std::sqrt(T{2} * std::numbers::pi_v<T>);
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    const T cdf = T{0.5} * (T{1} + std::erf(x[i] / std::numbers::sqrt2_v<T>));
    const T pdf = inv_sqrt_2pi * std::exp(T{-0.5} * x[i] * x[i]);
    dx[i] = dy[i] * (cdf + x[i] * pdf);
  }
}

// silu (x sigmoid(x), torch.nn.SiLU: EfficientNet's activation): y = x s, s = 1 / (1 + e^-x);
// dx = dy s + (dy x) (s (1 - s)): the product rule's two terms as the unfused Mul and Sigmoid
// give them, the Mul's direct term first.
template <class T>
void silu_forward(Tensor<T>& y, const Tensor<T>& x) noexcept {
  for (std::int64_t i = 0; i < x.numel(); ++i) y[i] = x[i] * (T{1} / (T{1} + std::exp(-x[i])));
}
template <class T>
void silu_backward(Tensor<T>& dx, const Tensor<T>& dy, const Tensor<T>& x) noexcept {
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    const T s = T{1} / (T{1} + std::exp(-x[i]));
    dx[i] = dy[i] * s + (dy[i] * x[i]) * (s * (T{1} - s));
  }
}

}  // namespace gradattr::kernels::reference
