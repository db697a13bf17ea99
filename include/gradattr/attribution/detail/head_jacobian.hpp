#pragma once
// The moments of the head's Jacobian under the softmax, for Grad-CAM++'s exact α
// (docs/methods.md §2, "Grad-CAM++: exact"): for each image n and each element u of its
// activation A_n, with J_j = ∂z_nj/∂u (the head's Jacobian at the cut) and y = softmax(z_n),
//
//   l1 = J_c − E_y[J],   k2 = Var_y(J),   k3 = E_y[(J − E_y J)³]        (each A's shape).
//
// They are accumulated about J_c (d_j = J_j − J_c, whose y-weighted sum is small when y_c → 1)
// in double: with m_k = Σ_j y_j d_j^k, l1 = −m1, k2 = m2 − m1², k3 = m3 − 3 m1 m2 + 2 m1³.
//
// How: the class seeds are batched through the head. For image n, its activation (and the values
// its cut carries) is replicated B times, one recorded head pass is made, and row b is seeded
// with e_{j_b}; one backward pass gives B Jacobian rows. Image n's own class c comes first, then
// the other classes in chunks of B = rows_per_pass (1000 classes: ⌈1000/B⌉ passes per image).
// Rows never interact (a head is per-row), so each row's gradient is ∂z_{j_b}/∂A_n.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "gradattr/attribution/detail/engine.hpp"
#include "gradattr/score/policies.hpp"

namespace gradattr::attr_detail {

struct SoftmaxJacobianCumulants {
  Tensor<double> l1, k2, k3;  // A's shape
};

// Row n of t [N, ...] repeated `reps` times: [reps, ...].
template <class T>
Tensor<T> repeat_row(const Tensor<T>& t, std::int64_t n, std::int64_t reps) {
  Shape s;
  s.push(reps);
  for (int i = 1; i < t.rank(); ++i) s.push(t.dim(i));
  auto out = Tensor<T>::uninitialized(s);
  const auto P = t.shape().stride(0);
  for (std::int64_t r = 0; r < reps; ++r) std::copy(t.data() + n * P, t.data() + (n + 1) * P, out.data() + r * P);
  return out;
}

template <class T>
SoftmaxJacobianCumulants softmax_jacobian_cumulants(const ClassifierRef<T>& model, const models::Cut<T>& cut,
                                                    const Tensor<T>& z, const std::vector<std::int64_t>& classes,
                                                    std::int64_t rows_per_pass = 64) {
  const Tensor<T>& A = cut.activation.value();
  const auto N = A.dim(0), P = A.shape().stride(0), C = z.dim(1);
  require_positive(rows_per_pass, "rows_per_pass", "softmax_jacobian_cumulants");
  if (z.rank() != 2 || z.dim(0) != N || static_cast<std::int64_t>(classes.size()) != N)
    throw ShapeError("softmax_jacobian_cumulants: logits " + z.shape().str() + " and " + std::to_string(classes.size()) +
                     " classes do not match the activation " + A.shape().str());
  for (const auto& v : cut.carried)
    if (v.value().rank() < 1 || v.value().dim(0) != N)
      throw ShapeError("softmax_jacobian_cumulants: a carried value " + v.value().shape().str() +
                       " is not batched like the activation " + A.shape().str());
  const Tensor<double> ls = score::LogSoftmax::log_probabilities(z.template cast<double>());
  SoftmaxJacobianCumulants out{Tensor<double>(A.shape()), Tensor<double>(A.shape()), Tensor<double>(A.shape())};
  std::vector<double> jc(static_cast<std::size_t>(P)), m1(static_cast<std::size_t>(P)), m2(static_cast<std::size_t>(P)),
      m3(static_cast<std::size_t>(P));
  for (std::int64_t n = 0; n < N; ++n) {
    const auto c = classes[static_cast<std::size_t>(n)];
    std::vector<std::int64_t> order{c};  // the class first: J_c is the centre of the moments
    for (std::int64_t j = 0; j < C; ++j)
      if (j != c) order.push_back(j);
    std::fill(m1.begin(), m1.end(), 0.0);
    std::fill(m2.begin(), m2.end(), 0.0);
    std::fill(m3.begin(), m3.end(), 0.0);
    for (std::size_t i0 = 0; i0 < order.size(); i0 += static_cast<std::size_t>(rows_per_pass)) {
      const auto B = static_cast<std::int64_t>(std::min(order.size() - i0, static_cast<std::size_t>(rows_per_pass)));
      models::Cut<T> rep;
      rep.layer = cut.layer;
      rep.tokens_folded = cut.tokens_folded;
      for (const auto& v : cut.carried) rep.carried.push_back(ad::Var<T>(repeat_row(v.value(), n, B)));
      ad::Tape<T> tape;
      const ad::Var<T> a = tape.variable(repeat_row(A, n, B));
      rep.activation = a;
      const ad::Var<T> zz = model.forward_from(rep, tape);
      Tensor<T> J(a.shape());  // zero when the logits do not depend on A
      if (zz.tracked()) {
        Tensor<T> seed(zz.shape());
        for (std::int64_t b = 0; b < B; ++b) seed(b, order[i0 + static_cast<std::size_t>(b)]) = T{1};
        J = ad::grad_once(tape, zz, {a}, seed)[0];
      }
      for (std::int64_t b = 0; b < B; ++b) {
        const auto j = order[i0 + static_cast<std::size_t>(b)];
        const T* Jb = J.data() + b * P;
        if (j == c) {
          for (std::int64_t i = 0; i < P; ++i) jc[static_cast<std::size_t>(i)] = Jb[i];
          continue;  // d_c = 0
        }
        const double yj = std::exp(ls(n, j));
        for (std::int64_t i = 0; i < P; ++i) {
          const auto u = static_cast<std::size_t>(i);
          const double d = static_cast<double>(Jb[i]) - jc[u];  // d_j = J_j − J_c
          const double yd = yj * d;
          m1[u] += yd;
          m2[u] += yd * d;
          m3[u] += yd * d * d;
        }
      }
    }
    for (std::int64_t i = 0; i < P; ++i) {
      const auto u = static_cast<std::size_t>(i);
      const double a1 = m1[u], a2 = m2[u], a3 = m3[u];
      out.l1[n * P + i] = -a1;                                  // J_c − E[J] = −E[d]
      out.k2[n * P + i] = a2 - a1 * a1;                         // Var(J) = Var(d)
      out.k3[n * P + i] = a3 - 3 * a1 * a2 + 2 * a1 * a1 * a1;  // κ₃(J) = κ₃(d)
    }
  }
  return out;
}

}  // namespace gradattr::attr_detail
