#pragma once
// RsiAccumulator: the Riemann–Stieltjes (trapezoid) sum of RSI Grad-CAM (Lucas, Lerma, Furst &
// Raicu 2022; docs/methods.md §2), fed one path point at a time so that the M + 1 activations and
// gradients never need to be held together.
//
//   acc.add(A_0, g_0); acc.add(A_1, g_1); ... acc.add(A_M, g_M);   // in path order, m = 0..M
//   G = Σ_{m=1..M} ½ (g_{m−1} + g_m) ⊙ (A_m − A_{m−1})          integrated()   [N,K,H,W]
//   w_k = (1/Z) Σ_ij G_kij                                     weights()      [N,K]
//   Σ_kij G_kij  (≈ S(x) − S(x′), layer completeness)          completeness() [N]
// With relu_gradients, g is replaced by ReLU(g) before integrating (an option of the authors'
// code). The map is then cam::weighted_sum_map(A(x), weights()), with A(x) = A_M.
//
// Promises: G is accumulated in double. Each term ½(g_{m−1}+g_m)⊙(A_m−A_{m−1}) is the exact
// line integral of g along the straight segment from A_{m−1} to A_m whenever g is affine in A,
// so for S linear or quadratic in A the sum telescopes: Σ G = S(A_M) − S(A_0) exactly, whatever
// the path of the A_m (tested). For a real network the gap measures the discretisation.
// add() copies what it needs, so callers may reuse their buffers. Not thread-safe: one
// accumulator per call.
#include <cstdint>
#include <string>

#include "gradattr/core/error.hpp"
#include "gradattr/core/tensor.hpp"

namespace gradattr::cam {

template <class T>
class RsiAccumulator {
 public:
  explicit RsiAccumulator(bool relu_gradients = false) : relu_(relu_gradients) {}

  // Feeds path point m = points(): activations A_m and gradients g_m = ∂S/∂A at x_m.
  void add(const Tensor<T>& A, const Tensor<T>& g) {
    if (A.rank() != 4) throw ShapeError("RsiAccumulator::add: activations must be [N, K, H, W], got " + A.shape().str());
    require_same_shape(A, g, "RsiAccumulator::add (activations vs gradients)");
    if (points_ > 0 && A.shape() != prev_a_.shape())
      throw ShapeError("RsiAccumulator::add: path point " + std::to_string(points_) + " has shape " + A.shape().str() +
                       ", earlier points " + prev_a_.shape().str());
    if (points_ == 0) {
      prev_a_ = A.template cast<double>();
      prev_g_ = gradient(g);
      sum_ = Tensor<double>(A.shape());
    } else {
      const auto n = A.numel();
      for (std::int64_t i = 0; i < n; ++i) {
        const double a = A[i], gi = relu_ && !(g[i] > 0) ? 0.0 : static_cast<double>(g[i]);
        sum_[i] += 0.5 * (prev_g_[i] + gi) * (a - prev_a_[i]);  // METHODS §2 RSI: ½(g_{m−1}+g_m)⊙(A_m−A_{m−1})
        prev_a_[i] = a;
        prev_g_[i] = gi;
      }
    }
    ++points_;
  }

  std::int64_t points() const noexcept { return points_; }      // M + 1 so far
  std::int64_t intervals() const noexcept { return points_ > 0 ? points_ - 1 : 0; }  // M so far
  bool relu_gradients() const noexcept { return relu_; }

  // G [N,K,H,W]. Throws ArgumentError before two points were given.
  Tensor<T> integrated() const {
    require_interval("integrated");
    return sum_.template cast<T>();
  }
  // w_k = (1/Z) Σ_ij G_kij [N,K] (docs/methods.md §2 RSI Grad-CAM).
  Tensor<T> weights() const {
    require_interval("weights");
    const auto N = sum_.dim(0), K = sum_.dim(1), Z = sum_.dim(2) * sum_.dim(3);
    auto w = Tensor<T>::uninitialized({N, K});
    for (std::int64_t nk = 0; nk < N * K; ++nk) {
      double s = 0;
      for (std::int64_t i = 0; i < Z; ++i) s += sum_[nk * Z + i];
      w[nk] = static_cast<T>(s / static_cast<double>(Z));  // mean over ij of G
    }
    return w;
  }
  // The guided weights of the authors' notebooks (docs/methods.md §2, RSI Grad-CAM `guided`):
  // w_k = (1/Z) Σ_ij G_kij · [A(x)_kij > 0] · [G_kij > 0] · [A(x)_kij − A(x′)_kij > 0], with
  // A(x) = A_M and A(x′) = A_0 given by the caller (A's shape).                        [N,K]
  Tensor<T> guided_weights(const Tensor<T>& A_x, const Tensor<T>& A_base) const {
    require_interval("guided_weights");
    require_same_shape(A_x, sum_, "RsiAccumulator::guided_weights (A(x) vs G)");
    require_same_shape(A_base, sum_, "RsiAccumulator::guided_weights (A(x') vs G)");
    const auto N = sum_.dim(0), K = sum_.dim(1), Z = sum_.dim(2) * sum_.dim(3);
    auto w = Tensor<T>::uninitialized({N, K});
    for (std::int64_t nk = 0; nk < N * K; ++nk) {
      double s = 0;
      for (std::int64_t i = 0; i < Z; ++i) {
        const auto o = nk * Z + i;
        const double G = sum_[o], ax = A_x[o], ab = A_base[o];
        if (ax > 0 && G > 0 && ax - ab > 0) s += G;  // [A(x) > 0]·[G > 0]·[A(x) − A(x′) > 0]
      }
      w[nk] = static_cast<T>(s / static_cast<double>(Z));
    }
    return w;
  }
  // Σ_kij G per image [N]: compare with S(x) − S(x′) (layer completeness).
  Tensor<T> completeness() const {
    require_interval("completeness");
    const auto N = sum_.dim(0), P = sum_.numel() / N;
    auto c = Tensor<T>::uninitialized({N});
    for (std::int64_t n = 0; n < N; ++n) {
      double s = 0;
      for (std::int64_t i = 0; i < P; ++i) s += sum_[n * P + i];
      c[n] = static_cast<T>(s);  // Σ G
    }
    return c;
  }

  void reset() noexcept {
    points_ = 0;
    prev_a_ = {};
    prev_g_ = {};
    sum_ = {};
  }

 private:
  Tensor<double> gradient(const Tensor<T>& g) const {
    auto d = g.template cast<double>();
    if (relu_)
      for (auto& v : d) v = v > 0 ? v : 0.0;
    return d;
  }
  void require_interval(const char* what) const {
    if (points_ < 2)
      throw ArgumentError(std::string("RsiAccumulator::") + what + ": needs at least two path points, got " +
                          std::to_string(points_));
  }

  bool relu_;
  std::int64_t points_ = 0;
  Tensor<double> prev_a_, prev_g_, sum_;
};

}  // namespace gradattr::cam
