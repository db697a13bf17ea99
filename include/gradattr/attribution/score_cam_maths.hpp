#pragma once
// Score-CAM's maths (Wang et al. 2020; docs/methods.md §2), as pure functions on a batch:
//
//   masks = scorecam_masks(A, H_in, W_in)          M_k [N, K, H_in, W_in]
//   for each image n and chunk of channels:          x_n ⊙ M_{n,k}  (masked_inputs), one batched
//       s_{n,k} = S(x_n ⊙ M_{n,k}) under the policy    forward per chunk, by the caller
//   w = scorecam_weights(s, variant, s_base)         s_k − S(x_b) (default), softmax_k(s_k) or s_k
//   map = cam::weighted_sum_map(A, w)
//
// Mask conventions (M_k = A_k upsampled to the input size, then min–max normalised per image
// and channel; a constant channel gives an all-zero mask, never a division by zero):
//   default (ScoreCamMaskOptions{}): half-pixel bilinear (kernels::upsample_bilinear, as the
//       displayed map), M = (u − min)/(max − min + 1e-7) — the convention of the reference
//       fixtures (tests/data/attribution/README.md, scorecam_*);
//   ScoreCamMaskOptions::pytorch_grad_cam(): pytorch-grad-cam's exactly
//       (pytorch_grad_cam/score_cam.py): torch.nn.UpsamplingBilinear2d, which is bilinear with
//       ALIGNED CORNERS, then (u − min)/(max − min + 1e-8) (fixtures scorecam_pgc_*).
// Weights (the variants of docs/methods.md §2, rows of GRADATTR_VARIANTS in this order):
//   Increase (default): the paper's channel-wise increase of confidence (Wang et al. 2020, Eq. 5-6),
//       w_k = S(x ⊙ M_k) − S(x_b), with x_b = 0 (the input with every mask zero), no softmax;
//   Softmax: pytorch-grad-cam's torch.nn.Softmax(dim=-1) over the K channel scores of each image
//       (it scores with the raw logit, policy Pre). With LogSoftmax scores the softmax undoes the
//       log: softmax_k(log y_c(x ⊙ M_k)) = y_c(x ⊙ M_k) / Σ_k′ y_c(x ⊙ M_k′) (tested);
//   Raw: the scores themselves, w_k = S(x ⊙ M_k) (tf-keras-vis).
#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

#include "gradattr/attribution/detail/resample.hpp"
#include "gradattr/core/error.hpp"
#include "gradattr/core/parallel.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/kernels/softmax.hpp"
#include "gradattr/kernels/upsample.hpp"

namespace gradattr::cam {

enum class ScoreCamUpsampling {
  HalfPixel,     // interpolate(align_corners=False), as the displayed map (default)
  AlignCorners,  // torch.nn.UpsamplingBilinear2d, as pytorch-grad-cam
};
enum class ScoreCamWeighting {
  Increase,  // w_k = s_k − S(x_b), the paper (default)
  Softmax,   // w = softmax_k(s_k), pytorch-grad-cam
  Raw,       // w_k = s_k, tf-keras-vis
};

struct ScoreCamMaskOptions {
  ScoreCamUpsampling upsampling = ScoreCamUpsampling::HalfPixel;
  double eps = 1e-7;  // added to max − min

  // pytorch-grad-cam's exact convention: aligned corners, ε = 1e-8.
  static constexpr ScoreCamMaskOptions pytorch_grad_cam() noexcept {
    return {ScoreCamUpsampling::AlignCorners, 1e-8};
  }
};

// M [N, K, out_h, out_w] from A [N, K, H, W]: upsampled, then min–max normalised per channel.
template <class T>
Tensor<T> scorecam_masks(const Tensor<T>& A, std::int64_t out_h, std::int64_t out_w,
                         const ScoreCamMaskOptions& options = {}) {
  if (A.rank() != 4 || A.dim(2) < 1 || A.dim(3) < 1)
    throw ShapeError("cam::scorecam_masks: activations must be [N, K, H, W] with H, W >= 1, got " + A.shape().str());
  if (out_h < 1 || out_w < 1)
    throw ArgumentError("cam::scorecam_masks: output size " + std::to_string(out_h) + "x" + std::to_string(out_w) +
                        " must be positive");
  auto M = Tensor<T>::uninitialized({A.dim(0), A.dim(1), out_h, out_w});
  if (options.upsampling == ScoreCamUpsampling::AlignCorners)
    detail::upsample_bilinear_align_corners(M, A);  // pytorch-grad-cam: UpsamplingBilinear2d
  else
    kernels::upsample_bilinear(M, A);  // half-pixel centres
  const auto planes = A.dim(0) * A.dim(1), P = out_h * out_w;
  const double eps = options.eps;
  parallel_for(0, planes, 2.0 * static_cast<double>(P), [&](std::int64_t p) {
    T* m = M.data() + p * P;
    const auto [lo, hi] = std::minmax_element(m, m + P);
    const double mn = *lo, range = static_cast<double>(*hi) - mn + eps;
    for (std::int64_t i = 0; i < P; ++i) m[i] = static_cast<T>((m[i] - mn) / range);  // METHODS §2 Score-CAM: (u − min)/(max − min + ε)
  });
  return M;
}

// The inputs of one batched forward: x_n ⊙ M_{n,k} for k in [k_begin, k_begin + count),
// broadcast over x's channels.   x [N, C, H, W], masks [N, K, H, W] -> [count, C, H, W]
template <class T>
Tensor<T> masked_inputs(const Tensor<T>& x, const Tensor<T>& masks, std::int64_t n, std::int64_t k_begin,
                        std::int64_t count) {
  if (x.rank() != 4 || masks.rank() != 4 || x.dim(0) != masks.dim(0) || x.dim(2) != masks.dim(2) ||
      x.dim(3) != masks.dim(3))
    throw ShapeError("cam::masked_inputs: input " + x.shape().str() + " and masks " + masks.shape().str() +
                     " must be [N, C, H, W] and [N, K, H, W]");
  if (n < 0 || n >= x.dim(0) || k_begin < 0 || count < 0 || k_begin + count > masks.dim(1))
    throw ArgumentError("cam::masked_inputs: image " + std::to_string(n) + ", channels [" + std::to_string(k_begin) +
                        ", " + std::to_string(k_begin + count) + ") out of range for masks " + masks.shape().str());
  const auto C = x.dim(1), P = x.dim(2) * x.dim(3), K = masks.dim(1);
  auto out = Tensor<T>::uninitialized({count, C, x.dim(2), x.dim(3)});
  parallel_for(0, count * C, static_cast<double>(P), [&](std::int64_t jc) {
    const auto j = jc / C, c = jc % C;
    const T* xs = x.data() + (n * C + c) * P;
    const T* ms = masks.data() + (n * K + k_begin + j) * P;
    T* o = out.data() + jc * P;
    for (std::int64_t i = 0; i < P; ++i) o[i] = xs[i] * ms[i];  // x ⊙ M_k
  });
  return out;
}

// w [N, K] from the channel scores s [N, K]: s_k − s_base[n] (Increase; s_base [N] = S(x_b)),
// softmax over k, or s itself.
template <class T>
Tensor<T> scorecam_weights(const Tensor<T>& s, ScoreCamWeighting weighting, const Tensor<T>& s_base = {}) {
  if (s.rank() != 2 || s.dim(1) < 1)
    throw ShapeError("cam::scorecam_weights: scores must be [N, K], got " + s.shape().str());
  if (weighting == ScoreCamWeighting::Raw) return s.clone();  // w_k = s_k
  if (weighting == ScoreCamWeighting::Increase) {
    if (s_base.shape() != Shape{s.dim(0)})
      throw ShapeError("cam::scorecam_weights: the baseline scores " + s_base.shape().str() + " must be [N] for scores " +
                       s.shape().str());
    auto w = Tensor<T>::uninitialized(s.shape());
    for (std::int64_t n = 0; n < s.dim(0); ++n)
      for (std::int64_t k = 0; k < s.dim(1); ++k)
        w(n, k) = static_cast<T>(static_cast<double>(s(n, k)) - static_cast<double>(s_base[n]));  // s_k − S(x_b)
    return w;
  }
  auto w = Tensor<T>::uninitialized(s.shape());
  kernels::softmax(w, s);  // w = softmax_k(s_k), stable
  return w;
}

}  // namespace gradattr::cam
