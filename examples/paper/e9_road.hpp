#pragma once
// E9: faithfulness without the black-pixel artefact. ROAD (Rong et al. 2022; metrics/road.hpp:
// noisy linear imputation, σ = 0.01, MoRF and LeRF orders, removal fractions 10 %, ..., 90 %)
// beside E5's deletion/insertion (black baseline), for every method × score space and for four
// trivial maps that know nothing about the model:
//   random     uniform noise (seeded: std::mt19937_64(seed ^ 0xE9), per image in order)
//   gaussian   a centred Gaussian blob, σ = H/4 (the "the object is in the middle" prior)
//   sobel      the Sobel edge magnitude of the image (3×3 kernels, edges replicated)
//   intensity  the image itself (bright = relevant): on Fashion-MNIST's black background the
//              object *is* the bright pixels, so painting them black (E5's deletion) destroys the
//              object whatever the model computes.
// Per image (class c = the top class), score y_c (Post: the class probability; the curve table
// also gives the share of images whose top class stays c, ROAD's "accuracy"):
//   road_morf      mean over the fractions of y_c after removing the most relevant pixels (lower = more faithful)
//   road_lerf      the same, least relevant first (higher = more faithful)
//   road_combined  (road_lerf − road_morf) / 2 (pytorch-grad-cam's ROADCombined; higher = more faithful)
//   deletion       E5's deletion AUC of y_c (black baseline, trapezoid; lower = more faithful)
//   insertion      E5's insertion AUC of y_c (from black; higher = more faithful)
// A method × score space "beats the edge detector" on a metric when its paired difference to the
// Sobel map is in the faithful direction with a 95 % CI excluding 0 and a Holm-adjusted Wilcoxon
// p < 0.05 (family: every method × score space × metric of that table).
#include <array>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <gradattr/metrics/deletion.hpp>
#include <gradattr/metrics/road.hpp>

#include "common.hpp"
#include "experiments.hpp"
#include "stats_tables.hpp"

namespace paper {

inline constexpr const char* kE9Metrics[5] = {"road_morf", "road_lerf", "road_combined", "deletion", "insertion"};
// +1: higher is more faithful; −1: lower is.
inline constexpr int kE9Direction[5] = {-1, +1, +1, -1, +1};
inline constexpr const char* kE9Baselines[4] = {"random", "gaussian", "sobel", "intensity"};

// The Sobel gradient magnitude of a grey image [1, 1, H, W] (channel mean for C > 1), [1, H, W].
inline Tensor<float> sobel_magnitude(const Tensor<float>& x) {
  const auto C = x.dim(1), H = x.dim(2), W = x.dim(3);
  auto at = [&](std::int64_t i, std::int64_t j) {
    i = std::clamp<std::int64_t>(i, 0, H - 1);
    j = std::clamp<std::int64_t>(j, 0, W - 1);
    double s = 0;
    for (std::int64_t c = 0; c < C; ++c) s += x[(c * H + i) * W + j];
    return s / static_cast<double>(C);
  };
  Tensor<float> m({1, H, W});
  for (std::int64_t i = 0; i < H; ++i)
    for (std::int64_t j = 0; j < W; ++j) {
      const double gx = (at(i - 1, j + 1) + 2 * at(i, j + 1) + at(i + 1, j + 1)) - (at(i - 1, j - 1) + 2 * at(i, j - 1) + at(i + 1, j - 1));
      const double gy = (at(i + 1, j - 1) + 2 * at(i + 1, j) + at(i + 1, j + 1)) - (at(i - 1, j - 1) + 2 * at(i - 1, j) + at(i - 1, j + 1));
      m[i * W + j] = static_cast<float>(std::sqrt(gx * gx + gy * gy));
    }
  return m;
}

// A centred Gaussian blob [1, H, W], σ = H/4 (pixel centres; maximum at the image centre).
inline Tensor<float> centred_gaussian(std::int64_t H, std::int64_t W) {
  Tensor<float> m({1, H, W});
  const double cy = 0.5 * static_cast<double>(H - 1), cx = 0.5 * static_cast<double>(W - 1), s = static_cast<double>(H) / 4;
  for (std::int64_t i = 0; i < H; ++i)
    for (std::int64_t j = 0; j < W; ++j)
      m[i * W + j] = static_cast<float>(std::exp(-((i - cy) * (i - cy) + (j - cx) * (j - cx)) / (2 * s * s)));
  return m;
}

struct E9Options {
  std::vector<Method> methods;  // empty: all general methods
  std::int64_t steps = 16;      // path methods' M, SmoothGrad's samples
  std::uint64_t seed = 0;       // SmoothGrad, the random map, the imputation noise
  std::vector<double> fractions = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
  double noise = 0.01;
  std::int64_t curve_steps = 14;  // deletion/insertion points − 1
  Log log = no_log;
};

// Per-image results. maps: 13 methods × kNP policies + 4 baselines; index mi·kNP + pi for
// methods, M·kNP + b for baseline b.
struct E9Result {
  std::vector<std::string> map_method, map_policy;  // per map ("-" policy for baselines)
  std::vector<std::array<std::vector<double>, 5>> metric;  // [map][metric] per image
  // mean curves: [map][order 0 MoRF / 1 LeRF][fraction] of y_c and of "top class still c"
  std::vector<std::array<std::vector<double>, 2>> curve_y, curve_acc;
  std::vector<char> saturated;
  std::vector<double> fractions;
  std::int64_t n = 0, methods = 0;
};

template <class Model>
E9Result run_e9(const Model& model, const TestSet& ts, const E9Options& o) {
  const std::vector<Method> methods =
      o.methods.empty() ? std::vector<Method>(gradattr::kGeneralMethods.begin(), gradattr::kGeneralMethods.end()) : o.methods;
  const gradattr::RunOptions ro = run_options(o.steps, o.seed);
  const std::size_t M = methods.size(), NM = M * kNP + 4, F = o.fractions.size();
  E9Result r;
  r.fractions = o.fractions;
  r.n = ts.size();
  r.methods = static_cast<std::int64_t>(M);
  for (std::size_t mi = 0; mi < M; ++mi)
    for (std::size_t pi = 0; pi < kNP; ++pi) {
      r.map_method.push_back(method_name(methods[mi]));
      r.map_policy.push_back(policy_name(kPolicies[pi]));
    }
  for (const char* b : kE9Baselines) {
    r.map_method.push_back(b);
    r.map_policy.push_back("-");
  }
  r.metric.resize(NM);
  r.curve_y.resize(NM);
  r.curve_acc.resize(NM);
  for (std::size_t k = 0; k < NM; ++k)
    for (int d = 0; d < 2; ++d) {
      r.curve_y[k][static_cast<std::size_t>(d)].assign(F, 0.0);
      r.curve_acc[k][static_cast<std::size_t>(d)].assign(F, 0.0);
    }
  std::mt19937_64 rng(o.seed ^ 0xE9ull);
  std::uniform_real_distribution<float> U(0.f, 1.f);
  gradattr::metrics::PerturbationOptions<float> po;
  po.steps = o.curve_steps;
  po.batch_size = 32;
  for (std::int64_t n = 0; n < ts.size(); ++n) {
    const Tensor<float> x = ts.image(n);
    const auto H = x.dim(2), W = x.dim(3);
    const Tensor<float> z0 = model.forward(x);
    const std::int64_t cls = gradattr::Target{}.resolve(z0, "e9")[0];
    const gradattr::Target tgt{cls};
    r.saturated.push_back(-std::expm1(static_cast<double>(gradattr::LogSoftmax::score(z0, std::vector<std::int64_t>{cls})[0])) <
                          gradattr::score::kSaturationThreshold);
    // the same imputation noise for every map of one image (common random numbers: paired)
    gradattr::metrics::ImputeOptions io{o.noise, (o.seed + 1) * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(n) * 1024};
    for (std::size_t k = 0; k < NM; ++k) {
      Tensor<float> map;
      if (k < M * kNP) map = gradattr::run_method(methods[k / kNP], kPolicies[k % kNP], model, x, tgt, ro).displayed(H, W);
      else {
        switch (k - M * kNP) {
          case 0:
            map = Tensor<float>::uninitialized({1, H, W});
            for (auto& v : map) v = U(rng);
            break;
          case 1: map = centred_gaussian(H, W); break;
          case 2: map = sobel_magnitude(x); break;
          default: map = x.clone().reshape({1, H, W}); break;
        }
      }
      std::array<double, 2> area{};
      for (int d = 0; d < 2; ++d) {
        const auto c = gradattr::metrics::road_curve(ScoreKind::Post, model, x, map,
                                                     d ? gradattr::metrics::RoadOrder::LeRF : gradattr::metrics::RoadOrder::MoRF,
                                                     o.fractions, tgt, io);
        area[static_cast<std::size_t>(d)] = c.area;
        for (std::size_t f = 0; f < F; ++f) {
          r.curve_y[k][static_cast<std::size_t>(d)][f] += c.scores[f];
          r.curve_acc[k][static_cast<std::size_t>(d)][f] += c.correct[f];
        }
      }
      const double del = gradattr::metrics::perturbation_curve(ScoreKind::Post, model, gradattr::metrics::Perturbation::Deletion, x, map, tgt, po).auc;
      const double ins = gradattr::metrics::perturbation_curve(ScoreKind::Post, model, gradattr::metrics::Perturbation::Insertion, x, map, tgt, po).auc;
      const double v[5] = {area[0], area[1], 0.5 * (area[1] - area[0]), del, ins};
      for (int m = 0; m < 5; ++m) r.metric[k][static_cast<std::size_t>(m)].push_back(v[m]);
    }
    o.log("e9: image " + std::to_string(n + 1) + "/" + std::to_string(ts.size()));
  }
  const double N = static_cast<double>(std::max<std::int64_t>(ts.size(), 1));
  for (auto& a : r.curve_y)
    for (auto& b : a)
      for (auto& v : b) v /= N;
  for (auto& a : r.curve_acc)
    for (auto& b : a)
      for (auto& v : b) v /= N;
  return r;
}

// Per-image samples of the methods: key (method, metric), one vector per score space.
inline StatsInput e9_samples(const E9Result& r) {
  StatsInput in;
  in.key_header = {"method", "metric"};
  in.saturated = r.saturated;
  for (std::int64_t mi = 0; mi < r.methods; ++mi)
    for (std::size_t m = 0; m < 5; ++m) {
      Samples s{{r.map_method[static_cast<std::size_t>(mi) * kNP], kE9Metrics[m]}, {}};
      for (std::size_t p = 0; p < kNP; ++p) s.v[p] = r.metric[static_cast<std::size_t>(mi) * kNP + p][m];
      in.cells.push_back(std::move(s));
    }
  return in;
}

// Mean curves: one row per map × order, y_c and the top-class share per fraction.
inline Table e9_curves(const E9Result& r) {
  std::vector<std::string> h{"method", "policy", "order"};
  for (double f : r.fractions) h.push_back("y_c@" + fmt(100 * f, 3) + "%");
  for (double f : r.fractions) h.push_back("acc@" + fmt(100 * f, 3) + "%");
  Table t(h);
  for (std::size_t k = 0; k < r.map_method.size(); ++k)
    for (int d = 0; d < 2; ++d) {
      std::vector<std::string> row{r.map_method[k], r.map_policy[k], d ? "lerf" : "morf"};
      for (double v : r.curve_y[k][static_cast<std::size_t>(d)]) row.push_back(fmt(v, 3));
      for (double v : r.curve_acc[k][static_cast<std::size_t>(d)]) row.push_back(fmt(v, 3));
      t.add(row);
    }
  return t;
}

// The baselines' CIs, one row per baseline, one column per metric.
inline Table e9_baselines(const E9Result& r, Values* v = nullptr) {
  std::vector<std::string> h{"baseline", "N"};
  for (const char* m : kE9Metrics) h.push_back(std::string(m) + " [95% CI]");
  Table t(h);
  const std::size_t first = static_cast<std::size_t>(r.methods) * kNP;
  for (std::size_t b = 0; b < 4; ++b) {
    std::vector<std::string> row{kE9Baselines[b], std::to_string(r.n)};
    for (std::size_t m = 0; m < 5; ++m) {
      const auto ci = st::bootstrap_mean_ci(r.metric[first + b][m], boot_options());
      row.push_back(ci_text(ci, 3));
      if (v) v->ci(std::string("e9.") + kE9Baselines[b] + "." + kE9Metrics[m], ci);
    }
    t.add(row);
  }
  return t;
}

// Every method × score space against the Sobel map, per metric (road_morf, road_lerf,
// road_combined, deletion, insertion): paired difference method − sobel [CI], Wilcoxon, Holm
// over the whole table, and whether the method beats the edge detector (see the header).
struct E9EdgeRow {
  std::string method, policy, metric;
  st::Interval diff;
  st::WilcoxonResult w;
  double p_holm = 1;
  bool beats = false, loses = false;
};

inline std::vector<E9EdgeRow> e9_vs_edge(const E9Result& r) {
  std::vector<E9EdgeRow> rows;
  const std::size_t sobel = static_cast<std::size_t>(r.methods) * kNP + 2;
  for (std::size_t k = 0; k < static_cast<std::size_t>(r.methods) * kNP; ++k)
    for (std::size_t m = 0; m < 5; ++m) {
      E9EdgeRow e{r.map_method[k], r.map_policy[k], kE9Metrics[m], st::bootstrap_mean_diff_ci(r.metric[k][m], r.metric[sobel][m], boot_options()),
                  st::wilcoxon_signed_rank(r.metric[k][m], r.metric[sobel][m])};
      rows.push_back(std::move(e));
    }
  std::vector<double> p;
  for (const auto& e : rows) p.push_back(e.w.p);
  const auto h = st::holm(p);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    auto& e = rows[i];
    e.p_holm = h[i];
    int dir = 0;
    for (std::size_t m = 0; m < 5; ++m)
      if (e.metric == kE9Metrics[m]) dir = kE9Direction[m];
    const bool sig = e.p_holm < 0.05;
    e.beats = sig && (dir > 0 ? e.diff.lo > 0 : e.diff.hi < 0);
    e.loses = sig && (dir > 0 ? e.diff.hi < 0 : e.diff.lo > 0);
  }
  return rows;
}

inline Table e9_edge_table(const std::vector<E9EdgeRow>& rows) {
  Table t({"method", "policy", "metric", "N", "mean_diff_method_minus_sobel", "ci95_lo", "ci95_hi", "wilcoxon_p", "p_holm", "result"});
  for (const auto& e : rows)
    t.add({e.method, e.policy, e.metric, std::to_string(e.diff.n), fmt(e.diff.estimate, 4), fmt(e.diff.lo, 4), fmt(e.diff.hi, 4),
           fmt(e.w.p, 3), fmt(e.p_holm, 3), e.beats ? "beats sobel" : e.loses ? "worse than sobel" : "not better than sobel"});
  return t;
}

// Report digest: per method × score space, ROAD combined [CI] and its verdict against Sobel, E5's
// deletion and insertion [CI] beside it; baselines at the bottom.
inline Table e9_digest(const E9Result& r, const std::vector<E9EdgeRow>& edge) {
  Table t({"method", "policy", "ROAD MoRF ↓", "ROAD LeRF ↑", "ROAD combined ↑", "vs Sobel (combined)", "deletion (black) ↓", "insertion (black) ↑"});
  auto verdict = [&](std::size_t k, const char* metric) {
    for (const auto& e : edge)
      if (e.method == r.map_method[k] && e.policy == r.map_policy[k] && e.metric == metric)
        return std::string(e.beats ? "beats" : e.loses ? "**worse**" : "**not better**");
    return std::string("-");
  };
  for (std::size_t k = 0; k < r.map_method.size(); ++k) {
    std::vector<std::string> row{r.map_method[k], r.map_policy[k]};
    for (std::size_t m = 0; m < 5; ++m) {
      row.push_back(fmt(nan_mean(r.metric[k][m]), 3));
      if (m == 2) row.push_back(k < static_cast<std::size_t>(r.methods) * kNP ? verdict(k, "road_combined") : "-");
    }
    t.add(row);
  }
  return t;
}

}  // namespace paper

namespace paper {

// E9's report files: e9_curves, e9_baselines, e9_vs_edge, e9_digest, the statistics between
// score spaces (e9_ci / e9_cmp / e9_cmp_counts, e9_ci_<stratum>, e9_vs_pre_<stratum>); values e9.*.
inline void e9_report(const E9Result& r, const fs::path& out, Values& v) {
  e9_curves(r).write(out, "e9_curves");
  e9_baselines(r, &v).write(out, "e9_baselines");
  const auto edge = e9_vs_edge(r);
  e9_edge_table(edge).write(out, "e9_vs_edge");
  e9_digest(r, edge).write(out, "e9_digest");
  const StatsInput in = e9_samples(r);
  const StatsOut so = write_stats(in, out, "e9");
  for (int s = 0; s < 3; ++s) {
    ci_wide(in, so.ci, s).write(out, std::string("e9_ci_") + kStrata[s]);
    cmp_wide(in, so.cmp, s).write(out, std::string("e9_vs_pre_") + kStrata[s]);
  }
  count_values(v, "e9", so.cmp);
  for (std::size_t m = 0; m < 5; ++m) {
    std::int64_t beats = 0, total = 0;
    std::string not_better;
    for (const auto& e : edge)
      if (e.metric == kE9Metrics[m]) {
        ++total;
        beats += e.beats;
        if (!e.beats) not_better += (not_better.empty() ? "" : ", ") + e.method + " (" + e.policy + ")";
      }
    v.set(std::string("e9.vs_sobel.") + kE9Metrics[m] + ".beats", std::to_string(beats));
    v.set(std::string("e9.vs_sobel.") + kE9Metrics[m] + ".total", std::to_string(total));
    v.set(std::string("e9.vs_sobel.") + kE9Metrics[m] + ".not_better", not_better.empty() ? "none" : not_better);
  }
  for (const auto& c : so.ci)
    if (c.stratum == 0) v.ci("e9." + c.key[1] + "." + c.key[0] + "." + policy_name(kPolicies[c.policy]), c.ci);
  std::int64_t nsat = 0;
  for (char c : r.saturated) nsat += c;
  v.set("e9.n_saturated", std::to_string(nsat));
  v.set("e9.fractions", std::to_string(r.fractions.size()));
}

}  // namespace paper
