#pragma once
// The maths of the attention methods (docs/methods.md, "Attention methods"), on plain tensors:
// no model, no tape. attribution/attention.hpp feeds them each block's attention probabilities
// (and their gradients).
//
// An attention value of a batch of N images is [N*H, T, T] (nn.MultiheadAttention's layout,
// batch-major: row n*H + h) or [N, H, T, T]; T = k + s*s tokens: k prefix tokens (the class
// token; DeiT adds a distillation token: core/token_grid.hpp), then the s*s patch tokens in
// raster order. Every product is computed in double, per image.
//
//   rollout_map(A_1..A_L, N)        Abnar & Zuidema 2020: Â_l = 0.5 mean_h A_l + 0.5 I, rows
//                                   renormalised to sum 1; R = Â_L ··· Â_1; map = R[0, k:].
//   relevance_map(A_l, ∇A_l, N)     Chefer, Gur & Wolf 2021: R = I; for l = 1..L:
//                                   R ← R + mean_h ReLU(∇A_l ⊙ A_l) · R; map = R[0, k:].
// Both return the raw map [N, s, s]: row 0 (the class token) over the patch tokens, folded into
// the grid as attr_detail::fold_tokens folds a token layer (patch p at row p / s, column p % s).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "gradattr/core/token_grid.hpp"
#include "gradattr/core/error.hpp"
#include "gradattr/core/tensor.hpp"

namespace gradattr::attn {

struct AttentionLayout {
  std::int64_t N = 0, H = 0, T = 0, side = 0, prefix = 0;
};

// The layout of attention value `a` (at layer `layer`) for N images; ArgumentError naming the
// method (`who`), the layer and the shape when it is not [N*H, T, T] / [N, H, T, T] with T = k + s².
inline AttentionLayout attention_layout(const Shape& a, std::int64_t N, const std::string& layer,
                                        const std::string& who) {
  const int r = a.rank();
  auto bad = [&](const std::string& why) {
    return ArgumentError(who + ": attention layer '" + layer + "' holds " + a.str() + ": " + why);
  };
  if (r != 3 && r != 4) throw bad("attention probabilities must be [N*heads, T, T] or [N, heads, T, T]");
  const std::int64_t T = a[r - 1];
  if (a[r - 2] != T || T < 2) throw bad("the last two dimensions must be the same token count T >= 2");
  if (a.numel() % (N * T * T) != 0)
    throw bad("its size is not a whole number of heads for " + std::to_string(N) + " images");
  const std::int64_t H = a.numel() / (N * T * T);
  if (r == 4 && a[0] != N) throw bad("the first dimension must be the batch, " + std::to_string(N));
  const TokenGrid g = token_grid(T);
  if (g.side == 0) throw bad(std::to_string(T) + " tokens do not fold into a square grid: " + token_grid_rule());
  return {N, H, T, g.side, g.prefix};
}

namespace detail {

// mean_h f(A[n, h]) as a T×T row-major matrix, f = identity (G null) or ReLU(G ⊙ A).
template <class T>
std::vector<double> head_mean(const Tensor<T>& A, const Tensor<T>* G, const AttentionLayout& L, std::int64_t n) {
  const std::int64_t TT = L.T * L.T;
  std::vector<double> m(static_cast<std::size_t>(TT), 0.0);
  for (std::int64_t h = 0; h < L.H; ++h) {
    const std::int64_t off = (n * L.H + h) * TT;
    for (std::int64_t i = 0; i < TT; ++i) {
      const double a = static_cast<double>(A[off + i]);
      m[static_cast<std::size_t>(i)] += G ? std::max(0.0, static_cast<double>((*G)[off + i]) * a) : a;
    }
  }
  for (double& v : m) v /= static_cast<double>(L.H);
  return m;
}

// C = A · B for T×T row-major matrices.
inline std::vector<double> matmul(const std::vector<double>& a, const std::vector<double>& b, std::int64_t T) {
  std::vector<double> c(static_cast<std::size_t>(T * T), 0.0);
  for (std::int64_t i = 0; i < T; ++i)
    for (std::int64_t k = 0; k < T; ++k) {
      const double aik = a[static_cast<std::size_t>(i * T + k)];
      if (aik == 0) continue;
      for (std::int64_t j = 0; j < T; ++j)
        c[static_cast<std::size_t>(i * T + j)] += aik * b[static_cast<std::size_t>(k * T + j)];
    }
  return c;
}

inline std::vector<double> identity(std::int64_t T) {
  std::vector<double> e(static_cast<std::size_t>(T * T), 0.0);
  for (std::int64_t i = 0; i < T; ++i) e[static_cast<std::size_t>(i * T + i)] = 1;
  return e;
}

// Row 0 of R (the class token) without the prefix tokens' entries, folded into out's image n ([N, s, s]).
template <class T>
void write_class_row(Tensor<T>& out, const std::vector<double>& R, const AttentionLayout& L, std::int64_t n) {
  const std::int64_t P = L.T - L.prefix;
  for (std::int64_t p = 0; p < P; ++p) out[n * P + p] = static_cast<T>(R[static_cast<std::size_t>(L.prefix + p)]);
}

template <class T>
std::vector<AttentionLayout> layouts(const std::vector<Tensor<T>>& attn, std::int64_t N,
                                     const std::vector<std::string>& layers, const std::string& who) {
  if (attn.empty()) throw ArgumentError(who + ": no attention layers");
  std::vector<AttentionLayout> out;
  for (std::size_t l = 0; l < attn.size(); ++l) {
    out.push_back(attention_layout(attn[l].shape(), N, layers[l], who));
    if (out.back().T != out.front().T)
      throw ArgumentError(who + ": attention layer '" + layers[l] + "' has " + std::to_string(out.back().T) +
                          " tokens, the first has " + std::to_string(out.front().T));
  }
  return out;
}

}  // namespace detail

// Attention rollout [N, s, s]. attn[l]: block l's attention probabilities (network order);
// layers[l] its name (for errors).
template <class T>
Tensor<T> rollout_map(const std::vector<Tensor<T>>& attn, std::int64_t N, const std::vector<std::string>& layers,
                      const std::string& who) {
  const auto L = detail::layouts(attn, N, layers, who);
  const std::int64_t Tk = L[0].T, s = L[0].side;
  auto out = Tensor<T>::uninitialized({N, s, s});
  for (std::int64_t n = 0; n < N; ++n) {
    std::vector<double> R = detail::identity(Tk);
    for (std::size_t l = 0; l < attn.size(); ++l) {
      std::vector<double> a = detail::head_mean<T>(attn[l], nullptr, L[l], n);
      for (std::int64_t i = 0; i < Tk; ++i) {
        double row = 0;
        for (std::int64_t j = 0; j < Tk; ++j) {
          double& v = a[static_cast<std::size_t>(i * Tk + j)];
          v = 0.5 * v + (i == j ? 0.5 : 0.0);
          row += v;
        }
        for (std::int64_t j = 0; j < Tk; ++j) a[static_cast<std::size_t>(i * Tk + j)] /= row;
      }
      R = detail::matmul(a, R, Tk);
    }
    detail::write_class_row(out, R, L[0], n);
  }
  return out;
}

// Gradient-weighted attention relevance [N, s, s]. grads[l] = ∂S/∂attn[l], attn[l]'s shape.
template <class T>
Tensor<T> relevance_map(const std::vector<Tensor<T>>& attn, const std::vector<Tensor<T>>& grads, std::int64_t N,
                        const std::vector<std::string>& layers, const std::string& who) {
  const auto L = detail::layouts(attn, N, layers, who);
  if (grads.size() != attn.size()) throw ArgumentError(who + ": one gradient per attention layer is needed");
  for (std::size_t l = 0; l < attn.size(); ++l)
    if (grads[l].shape() != attn[l].shape())
      throw ShapeError(who + ": the gradient " + grads[l].shape().str() + " of attention layer '" + layers[l] +
                       "' does not match its value " + attn[l].shape().str());
  const std::int64_t Tk = L[0].T, s = L[0].side;
  auto out = Tensor<T>::uninitialized({N, s, s});
  for (std::int64_t n = 0; n < N; ++n) {
    std::vector<double> R = detail::identity(Tk);
    for (std::size_t l = 0; l < attn.size(); ++l) {
      const std::vector<double> a = detail::head_mean<T>(attn[l], &grads[l], L[l], n);
      const std::vector<double> aR = detail::matmul(a, R, Tk);
      for (std::size_t i = 0; i < R.size(); ++i) R[i] += aR[i];
    }
    detail::write_class_row(out, R, L[0], n);
  }
  return out;
}

}  // namespace gradattr::attn
