#pragma once
// The maths of the gradient CAM methods (docs/methods.md §2), as pure functions on a batch.
//
//   A [N, K, H, W]  the target layer's activations,
//   g [N, K, H, W]  ∂S/∂A for the chosen score policy (one image's own score per row),
//   weights [N, K], raw map [N, H, W]: signed, at the layer's resolution, before any ReLU.
//
// Sums run in double whatever T is, then round once to T. Shapes are checked (ShapeError)
// before any parallel region. The functors (GradCam<Score>, ...) call these after their
// forward/backward passes; Score-CAM's and RSI Grad-CAM's maths live in score_cam_maths.hpp
// and rsi_accumulator.hpp.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "gradattr/core/error.hpp"
#include "gradattr/core/parallel.hpp"
#include "gradattr/core/tensor.hpp"

namespace gradattr::cam {

// Grad-CAM++'s ε in α's denominator (pytorch-grad-cam, docs/methods.md §2).
inline constexpr double kGradCamPPEps = 1e-6;
// XGrad-CAM's ε in the activation sum (pytorch-grad-cam, docs/methods.md §2).
inline constexpr double kXGradCamEps = 1e-7;

namespace detail {
inline void require_nkhw(const Shape& s, const char* who, const char* what) {
  if (s.rank() != 4)
    throw ShapeError(std::string(who) + ": " + what + " must be [N, K, H, W], got " + s.str());
}
template <class T>
void check_activations_gradients(const Tensor<T>& A, const Tensor<T>& g, const char* who) {
  require_nkhw(A.shape(), who, "activations");
  require_same_shape(A, g, std::string(who) + " (activations vs gradients)");
}
// out[n, k] = f(a_nk, g_nk, Z) for each channel plane, over N·K planes in parallel.
template <class T, class F>
Tensor<T> per_channel(const Tensor<T>& A, const Tensor<T>& g, F&& f) {
  const auto N = A.dim(0), K = A.dim(1), Z = A.dim(2) * A.dim(3);
  auto w = Tensor<T>::uninitialized({N, K});
  parallel_for(0, N * K, 2.0 * static_cast<double>(Z), [&](std::int64_t nk) { w[nk] = static_cast<T>(f(A.data() + nk * Z, g.data() + nk * Z, Z)); });
  return w;
}
// map[n] = Σ_k f(a_nk, g_nk) element-wise over planes.
template <class T, class F>
Tensor<T> sum_over_channels(const Tensor<T>& A, const Tensor<T>& g, F&& f) {
  const auto N = A.dim(0), K = A.dim(1), H = A.dim(2), W = A.dim(3), Z = H * W;
  auto m = Tensor<T>::uninitialized({N, H, W});
  parallel_for(0, N, 2.0 * static_cast<double>(K * Z), [&](std::int64_t n) {
    for (std::int64_t ij = 0; ij < Z; ++ij) {
      double s = 0;
      for (std::int64_t k = 0; k < K; ++k) {
        const auto o = (n * K + k) * Z + ij;
        s += f(static_cast<double>(A[o]), static_cast<double>(g[o]));
      }
      m[n * Z + ij] = static_cast<T>(s);
    }
  });
  return m;
}
inline double relu(double v) noexcept { return v > 0 ? v : 0.0; }
}  // namespace detail

// map[n] = Σ_k w[n, k] A[n, k]: the map of every weight-based CAM.   A [N,K,H,W], w [N,K] -> [N,H,W]
template <class T>
Tensor<T> weighted_sum_map(const Tensor<T>& A, const Tensor<T>& w) {
  detail::require_nkhw(A.shape(), "cam::weighted_sum_map", "activations");
  if (w.shape() != Shape{A.dim(0), A.dim(1)})
    throw ShapeError("cam::weighted_sum_map: weights " + w.shape().str() + " do not match activations " +
                     A.shape().str());
  const auto N = A.dim(0), K = A.dim(1), Z = A.dim(2) * A.dim(3);
  auto m = Tensor<T>::uninitialized({N, A.dim(2), A.dim(3)});
  parallel_for(0, N, 2.0 * static_cast<double>(K * Z), [&](std::int64_t n) {
    for (std::int64_t ij = 0; ij < Z; ++ij) {
      double s = 0;
      for (std::int64_t k = 0; k < K; ++k)
        s += static_cast<double>(w[n * K + k]) * static_cast<double>(A[(n * K + k) * Z + ij]);  // Σ_k w_k A_k
      m[n * Z + ij] = static_cast<T>(s);
    }
  });
  return m;
}

// Grad-CAM: w_k = (1/Z) Σ_ij g_kij (docs/methods.md §2).                    g [N,K,H,W] -> [N,K]
template <class T>
Tensor<T> gradcam_weights(const Tensor<T>& g) {
  detail::require_nkhw(g.shape(), "cam::gradcam_weights", "gradients");
  return detail::per_channel(g, g, [](const T*, const T* gk, std::int64_t Z) {
    double s = 0;
    for (std::int64_t i = 0; i < Z; ++i) s += gk[i];
    return s / static_cast<double>(Z);  // METHODS §2 Grad-CAM: mean of g over ij
  });
}

// Grad-CAM+ (positive gradients, Lerma & Lucas): w_k = Σ_ij ReLU(g_kij) (docs/methods.md §2).
template <class T>
Tensor<T> gradcam_plus_weights(const Tensor<T>& g) {
  detail::require_nkhw(g.shape(), "cam::gradcam_plus_weights", "gradients");
  return detail::per_channel(g, g, [](const T*, const T* gk, std::int64_t Z) {
    double s = 0;
    for (std::int64_t i = 0; i < Z; ++i) s += detail::relu(gk[i]);  // METHODS §2 Grad-CAM+: Σ ReLU(g)
    return s;
  });
}

// Grad-CAM++ as pytorch-grad-cam (the variant `closed-form`, docs/methods.md §2):
//   s_k = Σ_ab A_kab, α_kij = g² / (2g² + s_k g³ + 1e-6), α = 0 where g = 0,
//   w_k = Σ_ij α_kij ReLU(g_kij).                                       -> [N,K]
// The closed form is exact only for S = exp(piecewise-linear score); with Post/LogSoftmax it
// is the common heuristic, and it is not scale-invariant in g (so Post ≠ LogSoftmax).
template <class T>
Tensor<T> gradcam_pp_weights(const Tensor<T>& A, const Tensor<T>& g) {
  detail::check_activations_gradients(A, g, "cam::gradcam_pp_weights");
  return detail::per_channel(A, g, [](const T* ak, const T* gk, std::int64_t Z) {
    double sk = 0;
    for (std::int64_t i = 0; i < Z; ++i) sk += ak[i];  // s_k = Σ_ab A_kab
    double w = 0;
    for (std::int64_t i = 0; i < Z; ++i) {
      const double gi = gk[i], g2 = gi * gi, g3 = g2 * gi;
      if (gi == 0) continue;                                // α = 0 where g = 0
      const double alpha = g2 / (2 * g2 + sk * g3 + kGradCamPPEps);  // METHODS §2 Grad-CAM++ α
      w += alpha * detail::relu(gi);                        // w_k = Σ α ReLU(g)
    }
    return w;
  });
}

// Grad-CAM++'s relative ε of the exact α (docs/methods.md §2): a fraction of the size of the terms.
inline constexpr double kGradCamPPRelativeEps = 1e-6;

// Grad-CAM++ with the exact α (the default, docs/methods.md §2 "Grad-CAM++: exact"). With Y = exp(S)
// and S', S'', S''' the derivatives of the policy's score along each element A_kij:
//   Y'' = Y (S'² + S''),  Y''' = Y (S'³ + 3 S' S'' + S'''),  s_k = Σ_ab A_kab,
//   α = Y'' / (2 Y'' + s_k Y''')   (Y cancels) = num / den,  num = S'² + S'',
//       den = 2 num + s_k (S'³ + 3 S' S'' + S'''),
//   α = 0 where the denominator vanishes relative to the size of its terms,
//   |den| ≤ ε·(2|num| + |s_k Y'''/Y|), ε = 1e-6 (so no absolute ε: scaling S leaves α alone
//   wherever it is defined, and a tiny gradient does not turn α into g²/ε);
//   w_k = Σ_ij α ReLU(S')    (the per-image factor Y = e^S dropped, as in the closed form).
// d1 = S' (the gradient g), d2 = S'', d3 = S''' (A's shape; empty d2, d3 mean 0: a score linear in
// the logits, where α is the closed form g²/(2g² + s_k g³) up to the relative ε).   -> [N,K]
template <class T>
Tensor<T> gradcam_pp_exact_weights(const Tensor<T>& A, const Tensor<T>& d1, const Tensor<double>& d2 = {},
                                   const Tensor<double>& d3 = {}) {
  detail::check_activations_gradients(A, d1, "cam::gradcam_pp_exact_weights");
  const bool curved = !d2.empty() || !d3.empty();
  if (curved && (d2.shape() != A.shape() || d3.shape() != A.shape()))
    throw ShapeError("cam::gradcam_pp_exact_weights: second and third derivatives " + d2.shape().str() + ", " +
                     d3.shape().str() + " must both have the activations' shape " + A.shape().str());
  const auto N = A.dim(0), K = A.dim(1), Z = A.dim(2) * A.dim(3);
  auto w = Tensor<T>::uninitialized({N, K});
  parallel_for(0, N * K, 4.0 * static_cast<double>(Z), [&](std::int64_t nk) {
    const T* ak = A.data() + nk * Z;
    const T* gk = d1.data() + nk * Z;
    double sk = 0;
    for (std::int64_t i = 0; i < Z; ++i) sk += ak[i];  // s_k = Σ_ab A_kab
    double wk = 0;
    for (std::int64_t i = 0; i < Z; ++i) {
      const double s1 = gk[i];
      if (!(s1 > 0)) continue;  // ReLU(S') = 0: no contribution
      const double s2 = curved ? d2[nk * Z + i] : 0.0, s3 = curved ? d3[nk * Z + i] : 0.0;
      const double num = s1 * s1 + s2;                              // Y''/Y
      const double third = sk * (s1 * s1 * s1 + 3 * s1 * s2 + s3);  // s_k Y'''/Y
      const double den = 2 * num + third, scale = 2 * std::abs(num) + std::abs(third);
      if (!(std::abs(den) > kGradCamPPRelativeEps * scale)) continue;  // α = 0: a vanishing denominator
      const double alpha = num / den;                                   // METHODS §2 exact α
      wk += alpha * s1;  // w_k = Σ α ReLU(S')
    }
    w[nk] = static_cast<T>(wk);
  });
  return w;
}

// Grad-CAM++ as the original paper's code (Chattopadhay et al. 2018, adityac94/Grad_CAM_plus_plus),
// the "paper" option of docs/methods.md §2, with the policy's score S_n in the role of the paper's
// Y^c (tests/data/attribution/README.md, gradcampp_paper_*). The paper differentiates exp(S):
// the first, second and third derivatives are e^S·g, e^S·g², e^S·g³, so
//   α_kij = e^S g² / (2 e^S g² + s_k e^S g³) = g² / (2g² + s_k g³)   (e^S cancels; no ε;
//           α = 0 where the denominator is exactly 0, which includes g = 0),
//   normalised per channel over the positions where ReLU(e^S g) > 0, i.e. g > 0:
//           c_k = Σ_{ij: g > 0} α_kij (c_k := 1 when it is 0),
//   ŵ_k = Σ_ij (α_kij / c_k) ReLU(g_kij)           gradcam_pp_paper_unscaled_weights   [N,K]
//   w_k = e^{S_n} ŵ_k                              gradcam_pp_paper_weights            [N,K]
// The exponential is applied once at the end, in double as exp(S + log ŵ) ("log space"): it is
// a positive per-image factor, so it never changes the displayed map; in float32 e^S overflows
// for S > 88, where the caller should keep S and the unscaled weights instead.
template <class T>
Tensor<T> gradcam_pp_paper_unscaled_weights(const Tensor<T>& A, const Tensor<T>& g) {
  detail::check_activations_gradients(A, g, "cam::gradcam_pp_paper_unscaled_weights");
  return detail::per_channel(A, g, [](const T* ak, const T* gk, std::int64_t Z) {
    double sk = 0;
    for (std::int64_t i = 0; i < Z; ++i) sk += ak[i];  // s_k = Σ_ab A_kab
    double alpha_sum = 0, raw = 0;
    for (std::int64_t i = 0; i < Z; ++i) {
      const double gi = gk[i];
      if (!(gi > 0)) continue;  // only where ReLU(g) > 0
      const double g2 = gi * gi, den = 2 * g2 + sk * g2 * gi;
      const double alpha = den != 0 ? g2 / den : 0.0;  // α = g² / (2g² + s_k g³)
      alpha_sum += alpha;
      raw += alpha * gi;  // Σ α ReLU(g)
    }
    return raw / (alpha_sum != 0 ? alpha_sum : 1.0);  // ŵ_k = Σ (α / c_k) ReLU(g)
  });
}

//   A, g [N,K,H,W], S [N] (each image's score under the policy) -> [N,K]
template <class T>
Tensor<T> gradcam_pp_paper_weights(const Tensor<T>& A, const Tensor<T>& g, const Tensor<T>& S) {
  detail::check_activations_gradients(A, g, "cam::gradcam_pp_paper_weights");
  if (S.numel() != A.dim(0) || S.rank() != 1)
    throw ShapeError("cam::gradcam_pp_paper_weights: scores " + S.shape().str() + " must be [N] for activations " +
                     A.shape().str());
  auto w = gradcam_pp_paper_unscaled_weights(A, g);
  const auto K = A.dim(1);
  for (std::int64_t nk = 0; nk < w.numel(); ++nk) {
    const double u = w[nk];
    w[nk] = static_cast<T>(u > 0 ? std::exp(static_cast<double>(S[nk / K]) + std::log(u)) : u);  // w = e^S ŵ
  }
  return w;
}

// XGrad-CAM: w_k = Σ_ij g_kij A_kij / (Σ_ij A_kij + 1e-7) (docs/methods.md §2).   -> [N,K]
template <class T>
Tensor<T> xgradcam_weights(const Tensor<T>& A, const Tensor<T>& g) {
  detail::check_activations_gradients(A, g, "cam::xgradcam_weights");
  return detail::per_channel(A, g, [](const T* ak, const T* gk, std::int64_t Z) {
    double ga = 0, sa = 0;
    for (std::int64_t i = 0; i < Z; ++i) {
      ga += static_cast<double>(gk[i]) * static_cast<double>(ak[i]);
      sa += ak[i];
    }
    return ga / (sa + kXGradCamEps);  // METHODS §2 XGrad-CAM
  });
}

// HiResCAM: map = Σ_k g_k ⊙ A_k (docs/methods.md §2).                       -> [N,H,W]
template <class T>
Tensor<T> hirescam_map(const Tensor<T>& A, const Tensor<T>& g) {
  detail::check_activations_gradients(A, g, "cam::hirescam_map");
  return detail::sum_over_channels(A, g, [](double a, double gi) { return gi * a; });  // METHODS §2 HiResCAM
}

// LayerCAM: map = Σ_k ReLU(g_k) ⊙ A_k (docs/methods.md §2).                 -> [N,H,W]
template <class T>
Tensor<T> layercam_map(const Tensor<T>& A, const Tensor<T>& g) {
  detail::check_activations_gradients(A, g, "cam::layercam_map");
  return detail::sum_over_channels(A, g, [](double a, double gi) { return detail::relu(gi) * a; });  // METHODS §2 LayerCAM
}

// The raw maps of the weight-based methods: Σ_k w_k A_k with their weights.
template <class T>
Tensor<T> gradcam_map(const Tensor<T>& A, const Tensor<T>& g) {
  detail::check_activations_gradients(A, g, "cam::gradcam_map");
  return weighted_sum_map(A, gradcam_weights(g));
}
template <class T>
Tensor<T> gradcam_plus_map(const Tensor<T>& A, const Tensor<T>& g) {
  detail::check_activations_gradients(A, g, "cam::gradcam_plus_map");
  return weighted_sum_map(A, gradcam_plus_weights(g));
}
template <class T>
Tensor<T> gradcam_pp_map(const Tensor<T>& A, const Tensor<T>& g) {
  return weighted_sum_map(A, gradcam_pp_weights(A, g));
}
template <class T>
Tensor<T> gradcam_pp_paper_unscaled_map(const Tensor<T>& A, const Tensor<T>& g) {
  return weighted_sum_map(A, gradcam_pp_paper_unscaled_weights(A, g));
}
template <class T>
Tensor<T> gradcam_pp_paper_map(const Tensor<T>& A, const Tensor<T>& g, const Tensor<T>& S) {
  return weighted_sum_map(A, gradcam_pp_paper_weights(A, g, S));
}
template <class T>
Tensor<T> xgradcam_map(const Tensor<T>& A, const Tensor<T>& g) {
  return weighted_sum_map(A, xgradcam_weights(A, g));
}

}  // namespace gradattr::cam
