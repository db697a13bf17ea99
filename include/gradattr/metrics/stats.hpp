#pragma once
// Paired statistics for comparing attribution settings image by image (docs/report.md uses them
// for every summary number and every score-space comparison). Header-only, standard library only.
//
//  - bootstrap_mean_ci / bootstrap_mean_diff_ci: percentile bootstrap 95% CI (default) of a mean,
//    or of the mean of paired differences a_i − b_i (the pairs are resampled together).
//    Resampling: std::mt19937_64 seeded with BootstrapOptions::seed (default 0x5EED); each
//    resample draws n indices as i = floor(u · n / 2^64) from the generator's raw 64-bit output u
//    (Lemire's multiply, not std::uniform_int_distribution, whose algorithm differs between
//    standard libraries), resamples one after the other from the one stream. The interval is the
//    (α/2, 1 − α/2) quantiles of the resampled means, linear interpolation between order
//    statistics (Hyndman–Fan type 7, numpy's default). Given the seed, the result is bit-exact.
//  - wilcoxon_signed_rank: paired two-sided Wilcoxon signed-rank test. Zero differences are
//    dropped before ranking (Wilcoxon's convention, scipy's zero_method="wilcox"); tied |d| get
//    average ranks; the exact null distribution of W+ (enumerated) is used for n ≤ 25 nonzero
//    differences without ties, otherwise the normal approximation with tie-corrected variance
//    n(n+1)(2n+1)/24 − Σ(t³ − t)/48 and continuity correction |W+ − n(n+1)/4| − 1/2 (floored at 0).
//    Two-sided p = min(1, 2 · min(P(W+ ≤ w), P(W+ ≥ w))) exactly, or erfc(|z|/√2) approximately.
//    With no nonzero difference the test has no evidence: p = 1 and n = 0 are returned.
//  - holm: Holm–Bonferroni adjusted p-values over a family (step-down, monotone, capped at 1);
//    NaN p-values stay NaN and do not count in the family size.
//
// NaN handling is paired everywhere: a pair with a NaN on either side is dropped from both sides,
// and the number of dropped pairs is returned (`dropped`). Unpaired functions drop NaN values and
// count them the same way.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <vector>

namespace gradattr::metrics::stats {

struct BootstrapOptions {
  std::int64_t resamples = 2000;   // ≥ 1000 recommended
  double level = 0.95;             // confidence level
  std::uint64_t seed = 0x5EED;
};

// A point estimate with its interval. n: the values (pairs) used; dropped: NaN values (pairs) left out.
struct Interval {
  double estimate = std::numeric_limits<double>::quiet_NaN();
  double lo = std::numeric_limits<double>::quiet_NaN();
  double hi = std::numeric_limits<double>::quiet_NaN();
  std::int64_t n = 0;
  std::int64_t dropped = 0;
  bool contains(double v) const { return lo <= v && v <= hi; }
};

struct WilcoxonResult {
  std::int64_t n = 0;          // nonzero differences ranked
  std::int64_t zeros = 0;      // zero differences (dropped before ranking)
  std::int64_t dropped = 0;    // pairs with a NaN on either side
  double w_plus = 0, w_minus = 0;  // rank sums of the positive / negative differences
  double z = 0;                // normal approximation's statistic (0 when exact)
  double p = 1;                // two-sided
  bool exact = false;
};

namespace detail {

// Values (or differences) without NaN; `dropped` counts what was left out.
inline std::vector<double> finite_values(const std::vector<double>& x, std::int64_t& dropped) {
  std::vector<double> v;
  v.reserve(x.size());
  dropped = 0;
  for (double e : x)
    if (std::isnan(e)) ++dropped;
    else v.push_back(e);
  return v;
}

inline std::vector<double> paired_differences(const std::vector<double>& a, const std::vector<double>& b, std::int64_t& dropped) {
  if (a.size() != b.size()) throw std::invalid_argument("stats: paired samples of different sizes");
  std::vector<double> d;
  d.reserve(a.size());
  dropped = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::isnan(a[i]) || std::isnan(b[i])) ++dropped;
    else d.push_back(a[i] - b[i]);
  return d;
}

inline double mean(const std::vector<double>& v) {
  double s = 0;
  for (double e : v) s += e;
  return v.empty() ? std::numeric_limits<double>::quiet_NaN() : s / static_cast<double>(v.size());
}

// Type-7 quantile of sorted values.
inline double quantile_sorted(const std::vector<double>& s, double q) {
  if (s.empty()) return std::numeric_limits<double>::quiet_NaN();
  const double h = q * static_cast<double>(s.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(h));
  const std::size_t hi = std::min(lo + 1, s.size() - 1);
  return s[lo] + (h - static_cast<double>(lo)) * (s[hi] - s[lo]);
}

// Index in [0, n) from one 64-bit draw: floor(u n / 2^64).
inline std::size_t draw_index(std::mt19937_64& rng, std::size_t n) {
  const unsigned __int128 p = static_cast<unsigned __int128>(rng()) * static_cast<unsigned __int128>(n);
  return static_cast<std::size_t>(p >> 64);
}

inline Interval bootstrap(const std::vector<double>& v, std::int64_t dropped, const BootstrapOptions& o) {
  if (o.resamples < 1) throw std::invalid_argument("stats: resamples must be >= 1");
  if (!(o.level > 0 && o.level < 1)) throw std::invalid_argument("stats: level must be in (0, 1)");
  Interval r;
  r.n = static_cast<std::int64_t>(v.size());
  r.dropped = dropped;
  if (v.empty()) return r;
  r.estimate = mean(v);
  std::mt19937_64 rng(o.seed);
  std::vector<double> means(static_cast<std::size_t>(o.resamples));
  for (auto& m : means) {
    double s = 0;
    for (std::size_t i = 0; i < v.size(); ++i) s += v[draw_index(rng, v.size())];
    m = s / static_cast<double>(v.size());
  }
  std::sort(means.begin(), means.end());
  const double a = 1 - o.level;
  r.lo = quantile_sorted(means, a / 2);
  r.hi = quantile_sorted(means, 1 - a / 2);
  return r;
}

// Number of subsets of {1..n} with each sum s (the null distribution of W+ times 2^n).
inline std::vector<double> signed_rank_counts(std::int64_t n) {
  const std::int64_t max = n * (n + 1) / 2;
  std::vector<double> c(static_cast<std::size_t>(max + 1), 0.0);
  c[0] = 1;
  for (std::int64_t k = 1; k <= n; ++k)
    for (std::int64_t s = max; s >= k; --s) c[static_cast<std::size_t>(s)] += c[static_cast<std::size_t>(s - k)];
  return c;
}

}  // namespace detail

// Mean of x (NaN values dropped and counted) with its percentile-bootstrap interval.
inline Interval bootstrap_mean_ci(const std::vector<double>& x, const BootstrapOptions& o = {}) {
  std::int64_t dropped = 0;
  const auto v = detail::finite_values(x, dropped);
  return detail::bootstrap(v, dropped, o);
}

// Mean of the paired differences a_i − b_i (pairs with a NaN dropped from both sides and counted)
// with its percentile-bootstrap interval (pairs resampled together).
inline Interval bootstrap_mean_diff_ci(const std::vector<double>& a, const std::vector<double>& b, const BootstrapOptions& o = {}) {
  std::int64_t dropped = 0;
  const auto d = detail::paired_differences(a, b, dropped);
  return detail::bootstrap(d, dropped, o);
}

// Two-sided paired Wilcoxon signed-rank test of a against b (see the header comment).
inline WilcoxonResult wilcoxon_signed_rank(const std::vector<double>& a, const std::vector<double>& b) {
  WilcoxonResult r;
  std::int64_t dropped = 0;
  const auto all = detail::paired_differences(a, b, dropped);
  r.dropped = dropped;
  std::vector<double> d;
  for (double e : all)
    if (e == 0) ++r.zeros;
    else d.push_back(e);
  const std::size_t n = d.size();
  r.n = static_cast<std::int64_t>(n);
  if (n == 0) return r;  // no evidence either way: p = 1
  std::vector<std::size_t> idx(n);
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  std::sort(idx.begin(), idx.end(), [&](std::size_t i, std::size_t j) { return std::abs(d[i]) < std::abs(d[j]); });
  std::vector<double> rank(n);
  double tie_term = 0;  // Σ (t³ − t)
  bool ties = false;
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i;
    while (j + 1 < n && std::abs(d[idx[j + 1]]) == std::abs(d[idx[i]])) ++j;
    const double t = static_cast<double>(j - i + 1);
    if (t > 1) ties = true, tie_term += t * t * t - t;
    const double avg = 0.5 * static_cast<double>(i + j) + 1.0;
    for (std::size_t k = i; k <= j; ++k) rank[idx[k]] = avg;
    i = j + 1;
  }
  for (std::size_t i = 0; i < n; ++i) (d[i] > 0 ? r.w_plus : r.w_minus) += rank[i];
  const double nn = static_cast<double>(n);
  if (n <= 25 && !ties) {
    r.exact = true;
    const auto c = detail::signed_rank_counts(r.n);
    const auto w = static_cast<std::int64_t>(std::llround(r.w_plus));
    double le = 0, ge = 0, total = 0;
    for (std::size_t s = 0; s < c.size(); ++s) {
      total += c[s];
      if (static_cast<std::int64_t>(s) <= w) le += c[s];
      if (static_cast<std::int64_t>(s) >= w) ge += c[s];
    }
    r.p = std::min(1.0, 2 * std::min(le, ge) / total);
    return r;
  }
  const double mean = nn * (nn + 1) / 4;
  const double var = nn * (nn + 1) * (2 * nn + 1) / 24 - tie_term / 48;
  const double dev = std::max(std::abs(r.w_plus - mean) - 0.5, 0.0);
  r.z = (r.w_plus >= mean ? 1 : -1) * dev / std::sqrt(var);
  r.p = std::min(1.0, std::erfc(std::abs(r.z) / std::sqrt(2.0)));
  return r;
}

// Holm–Bonferroni adjusted p-values, in the input order.
inline std::vector<double> holm(const std::vector<double>& p) {
  std::vector<std::size_t> idx;
  for (std::size_t i = 0; i < p.size(); ++i)
    if (!std::isnan(p[i])) idx.push_back(i);
  std::stable_sort(idx.begin(), idx.end(), [&](std::size_t i, std::size_t j) { return p[i] < p[j]; });
  std::vector<double> out(p.size(), std::numeric_limits<double>::quiet_NaN());
  const double m = static_cast<double>(idx.size());
  double running = 0;
  for (std::size_t k = 0; k < idx.size(); ++k) {
    running = std::max(running, std::min(1.0, (m - static_cast<double>(k)) * p[idx[k]]));
    out[idx[k]] = running;
  }
  return out;
}

}  // namespace gradattr::metrics::stats
