#pragma once
// Structural similarity (SSIM; Wang, Bovik, Sheikh & Simoncelli, "Image Quality Assessment: From
// Error Visibility to Structural Similarity", IEEE TIP 2004), single scale, as their reference
// implementation (ssim_index.m) and scikit-image's structural_similarity(gaussian_weights=True,
// sigma=1.5, use_sample_covariance=False):
//   - an 11×11 Gaussian window, σ = 1.5, normalised to sum 1;
//   - local means μ, variances σ² and covariance σ_ab weighted by the window (population form);
//   - SSIM(p) = (2 μa μb + C1)(2 σab + C2) / ((μa² + μb² + C1)(σa² + σb² + C2)),
//     C1 = (K1 L)², C2 = (K2 L)², K1 = 0.01, K2 = 0.03, L = the data range;
//   - the mean of SSIM(p) over every window position fully inside the image ("valid": the
//     (H − 10) × (W − 10) centres; scikit-image crops the same border after filtering).
// Used by E8 (Adebayo et al. 2018's sanity checks) on attribution maps normalised to [0, 1]
// (L = 1). Sums run in double.
// Errors: ShapeError for maps that are not 2-D ([H, W], [1, H, W] or [1, 1, H, W]), of different
// shapes, or smaller than the window; ArgumentError for NaN, data_range <= 0, an even or
// non-positive window, sigma <= 0.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "gradattr/core/error.hpp"
#include "gradattr/core/tensor.hpp"

namespace gradattr::metrics {

struct SsimOptions {
  double data_range = 1.0;  // L
  int window = 11;
  double sigma = 1.5;
  double k1 = 0.01, k2 = 0.03;
};

namespace detail {
template <class T>
void ssim_hw(const Tensor<T>& a, std::int64_t& H, std::int64_t& W) {
  if (a.rank() == 2) H = a.dim(0), W = a.dim(1);
  else if (a.rank() == 3 && a.dim(0) == 1) H = a.dim(1), W = a.dim(2);
  else if (a.rank() == 4 && a.dim(0) == 1 && a.dim(1) == 1) H = a.dim(2), W = a.dim(3);
  else throw ShapeError("metrics::ssim: a map must be [H, W], [1, H, W] or [1, 1, H, W], got " + a.shape().str());
}
}  // namespace detail

template <class T, class U>
double ssim(const Tensor<T>& a, const Tensor<U>& b, const SsimOptions& o = {}) {
  std::int64_t H = 0, W = 0, Hb = 0, Wb = 0;
  detail::ssim_hw(a, H, W);
  detail::ssim_hw(b, Hb, Wb);
  if (H != Hb || W != Wb) throw ShapeError("metrics::ssim: maps " + a.shape().str() + " and " + b.shape().str() + " differ in shape");
  if (!(o.data_range > 0)) throw ArgumentError("metrics::ssim: data_range must be > 0");
  if (o.window < 1 || o.window % 2 == 0) throw ArgumentError("metrics::ssim: window must be odd and >= 1, got " + std::to_string(o.window));
  if (!(o.sigma > 0)) throw ArgumentError("metrics::ssim: sigma must be > 0");
  if (H < o.window || W < o.window)
    throw ShapeError("metrics::ssim: maps " + std::to_string(H) + "x" + std::to_string(W) + " are smaller than the " +
                     std::to_string(o.window) + "x" + std::to_string(o.window) + " window");
  for (std::int64_t i = 0; i < H * W; ++i)
    if (std::isnan(static_cast<double>(a[i])) || std::isnan(static_cast<double>(b[i])))
      throw ArgumentError("metrics::ssim: NaN at element " + std::to_string(i));
  const int w = o.window, r = w / 2;
  std::vector<double> g(static_cast<std::size_t>(w));
  double gs = 0;
  for (int d = -r; d <= r; ++d) gs += g[static_cast<std::size_t>(d + r)] = std::exp(-0.5 * d * d / (o.sigma * o.sigma));
  const double c1 = (o.k1 * o.data_range) * (o.k1 * o.data_range), c2 = (o.k2 * o.data_range) * (o.k2 * o.data_range);
  // Separable filtering, valid region: first along rows ([H, W − 2r]), then along columns.
  const std::int64_t Wv = W - 2 * r, Hv = H - 2 * r;
  for (auto& v : g) v /= gs;
  std::vector<double> rows(static_cast<std::size_t>(5 * H * Wv));  // a, b, a², b², ab filtered along rows
  for (std::int64_t i = 0; i < H; ++i)
    for (std::int64_t j = 0; j < Wv; ++j) {
      double s[5] = {0, 0, 0, 0, 0};
      for (int d = 0; d < w; ++d) {
        const std::int64_t p = i * W + j + d;
        const double va = static_cast<double>(a[p]), vb = static_cast<double>(b[p]), wt = g[static_cast<std::size_t>(d)];
        s[0] += wt * va;
        s[1] += wt * vb;
        s[2] += wt * va * va;
        s[3] += wt * vb * vb;
        s[4] += wt * va * vb;
      }
      for (int k = 0; k < 5; ++k) rows[static_cast<std::size_t>((k * H + i) * Wv + j)] = s[k];
    }
  double total = 0;
  for (std::int64_t i = 0; i < Hv; ++i)
    for (std::int64_t j = 0; j < Wv; ++j) {
      double s[5] = {0, 0, 0, 0, 0};
      for (int d = 0; d < w; ++d)
        for (int k = 0; k < 5; ++k) s[k] += g[static_cast<std::size_t>(d)] * rows[static_cast<std::size_t>((k * H + i + d) * Wv + j)];
      const double ma = s[0], mb = s[1], va = s[2] - ma * ma, vb = s[3] - mb * mb, cov = s[4] - ma * mb;
      total += (2 * ma * mb + c1) * (2 * cov + c2) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
    }
  const std::int64_t count = Hv * Wv;
  return total / static_cast<double>(count);
}

}  // namespace gradattr::metrics
