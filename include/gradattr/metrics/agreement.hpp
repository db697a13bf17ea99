#pragma once
// Agreement between two attribution maps (docs/methods.md §5): Spearman rank correlation, Pearson
// correlation and top-k% intersection over union, over all elements of two maps of the same
// shape (any rank; e.g. two displayed maps [H, W], or raw maps [1, H, W]).
//
// Degenerate inputs, by choice and tested:
//  - pearson / spearman return NaN when either map is constant (zero variance, or for
//    spearman all ranks tied) or has fewer than two elements: the correlation is undefined,
//    and NaN (as scipy.stats) keeps it from passing for agreement in an average — callers
//    aggregate with a NaN-aware mean or report the count of undefined pairs;
//  - top_k_iou is always defined: it selects every element at least as large as the k-th
//    largest, so ties at the threshold are all included (a constant map selects everything)
//    and the result does not depend on element order.
// A NaN in either map throws ArgumentError; different shapes throw ShapeError. Sums run in
// double.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "gradattr/core/error.hpp"
#include "gradattr/core/tensor.hpp"

namespace gradattr::metrics {

namespace detail {
template <class T, class U>
void check_pair(const Tensor<T>& a, const Tensor<U>& b, const char* who) {
  if (a.shape() != b.shape())
    throw ShapeError(std::string(who) + ": maps " + a.shape().str() + " and " + b.shape().str() + " differ in shape");
  for (std::int64_t i = 0; i < a.numel(); ++i)
    if (std::isnan(static_cast<double>(a[i])) || std::isnan(static_cast<double>(b[i])))
      throw ArgumentError(std::string(who) + ": NaN at element " + std::to_string(i));
}

inline double pearson_of(const std::vector<double>& x, const std::vector<double>& y) {
  const auto n = x.size();
  if (n < 2) return std::numeric_limits<double>::quiet_NaN();
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / static_cast<double>(n);
  const double my = std::accumulate(y.begin(), y.end(), 0.0) / static_cast<double>(n);
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double dx = x[i] - mx, dy = y[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx == 0 || syy == 0) return std::numeric_limits<double>::quiet_NaN();  // a constant map
  return std::clamp(sxy / std::sqrt(sxx * syy), -1.0, 1.0);                // r = Σ dx dy / √(Σdx² Σdy²)
}

template <class T>
std::vector<double> values(const Tensor<T>& a) {
  return std::vector<double>(a.begin(), a.end());
}
}  // namespace detail

// 1-based ranks of the elements of a, ties given their average rank.
template <class T>
std::vector<double> average_ranks(const Tensor<T>& a) {
  const auto n = static_cast<std::size_t>(a.numel());
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t i, std::size_t j) { return a[i] < a[j]; });
  std::vector<double> rank(n);
  for (std::size_t s = 0; s < n;) {
    std::size_t e = s + 1;
    while (e < n && a[order[e]] == a[order[s]]) ++e;
    const double r = 0.5 * static_cast<double>(s + 1 + e);  // mean of ranks s+1 .. e
    for (std::size_t i = s; i < e; ++i) rank[order[i]] = r;
    s = e;
  }
  return rank;
}

// Pearson correlation of the elements of a and b; NaN when either is constant.
template <class T, class U>
double pearson(const Tensor<T>& a, const Tensor<U>& b) {
  detail::check_pair(a, b, "metrics::pearson");
  return detail::pearson_of(detail::values(a), detail::values(b));
}

// Spearman rank correlation (Pearson of average ranks); NaN when either is constant.
template <class T, class U>
double spearman(const Tensor<T>& a, const Tensor<U>& b) {
  detail::check_pair(a, b, "metrics::spearman");
  return detail::pearson_of(average_ranks(a), average_ranks(b));
}

// The elements of a in its top `fraction` (0 < fraction <= 1): k = ceil(fraction · n), and
// every element >= the k-th largest value (ties included).
template <class T>
std::vector<bool> top_fraction_mask(const Tensor<T>& a, double fraction) {
  if (!(fraction > 0 && fraction <= 1))
    throw ArgumentError("metrics::top_k_iou: fraction " + std::to_string(fraction) + " must be in (0, 1]");
  const auto n = static_cast<std::size_t>(a.numel());
  std::vector<bool> mask(n, false);
  if (n == 0) return mask;
  auto k = static_cast<std::size_t>(std::ceil(fraction * static_cast<double>(n) - 1e-9));
  k = std::clamp<std::size_t>(k, 1, n);
  std::vector<double> v = detail::values(a);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k - 1), v.end(), std::greater<>());
  const double threshold = v[k - 1];
  for (std::size_t i = 0; i < n; ++i) mask[i] = static_cast<double>(a[i]) >= threshold;
  return mask;
}

// |top(a) ∩ top(b)| / |top(a) ∪ top(b)| for the top `fraction` of each map (e.g. 0.1 for
// top-10%). In [0, 1]; 1 for two empty maps.
template <class T, class U>
double top_k_iou(const Tensor<T>& a, const Tensor<U>& b, double fraction) {
  detail::check_pair(a, b, "metrics::top_k_iou");
  const auto ma = top_fraction_mask(a, fraction), mb = top_fraction_mask(b, fraction);
  std::size_t inter = 0, uni = 0;
  for (std::size_t i = 0; i < ma.size(); ++i) {
    inter += ma[i] && mb[i];
    uni += ma[i] || mb[i];
  }
  return uni == 0 ? 1.0 : static_cast<double>(inter) / static_cast<double>(uni);
}

}  // namespace gradattr::metrics
