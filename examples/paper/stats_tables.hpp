#pragma once
// Statistics of the paper experiments (docs/report.md, "Statistics"): every per-image quantity of
// an experiment is kept per image and per score space (the images are the same for every score
// space, so the samples are paired), and turned into
//   - a CI table: per key × stratum × score space, N, NaN count, mean and its percentile-bootstrap
//     95% CI (metrics::stats::bootstrap_mean_ci: 2000 resamples, seed 0x5EED);
//   - a comparison table: per key × stratum × pair of score spaces, the paired mean difference
//     with its bootstrap CI and the two-sided Wilcoxon signed-rank p, Holm-adjusted over the whole
//     table (the family = every comparison of one experiment's table);
//   - wide digests for the report (the CI per score space, the differences to Pre).
// Strata: all images; saturated (1 − y_c < 1e-4 for the explained class of the reference model,
// as score::kSaturationThreshold); unsaturated. A pair with a NaN on either side is dropped from
// both sides and counted (metrics::stats).
#include <array>
#include <string>
#include <vector>

#include <gradattr/metrics/stats.hpp>

#include "common.hpp"

namespace paper {

namespace st = gradattr::metrics::stats;

struct Samples {
  std::vector<std::string> key;            // values of the key columns
  std::array<std::vector<double>, kNP> v;  // per image, one vector per score space (kPolicies order)
};

struct StatsInput {
  std::vector<std::string> key_header;
  std::vector<Samples> cells;
  std::vector<char> saturated;  // per image (the same images in every cell)
  std::array<bool, kNP> active{};  // score spaces present (all by default)
  StatsInput() { active.fill(true); }
};

inline const char* kStrata[3] = {"all", "saturated", "unsaturated"};

// The values of one stratum.
inline std::vector<double> stratum(const std::vector<double>& v, const std::vector<char>& sat, int s) {
  if (s == 0) return v;
  if (sat.size() != v.size()) throw gradattr::ArgumentError("stats: saturation flags and samples differ in length");
  std::vector<double> out;
  for (std::size_t i = 0; i < v.size(); ++i)
    if ((s == 1) == (sat[i] != 0)) out.push_back(v[i]);
  return out;
}

inline st::BootstrapOptions boot_options() {
  st::BootstrapOptions o;
  o.resamples = 2000;
  o.seed = 0x5EED;
  return o;
}

struct CiRow {
  std::vector<std::string> key;
  int stratum = 0;
  std::size_t policy = 0;
  st::Interval ci;
};

inline std::vector<CiRow> ci_rows(const StatsInput& in) {
  std::vector<CiRow> rows;
  for (const auto& c : in.cells)
    for (int s = 0; s < 3; ++s)
      for (std::size_t p = 0; p < kNP; ++p) {
        if (!in.active[p]) continue;
        const auto v = stratum(c.v[p], in.saturated, s);
        if (v.empty()) continue;
        rows.push_back({c.key, s, p, st::bootstrap_mean_ci(v, boot_options())});
      }
  return rows;
}

struct CmpRow {
  std::vector<std::string> key;
  int stratum = 0;
  std::size_t a = 0, b = 0;
  st::Interval diff;  // mean of a − b
  st::WilcoxonResult w;
  double p_holm = 1;
  // "a > b" / "a < b" when Holm-significant at 0.05 and the CI of the difference excludes 0;
  // "within CI" when the CI contains 0; "mixed" otherwise (significant but CI touching 0, or the reverse).
  std::string result() const {
    const bool ci0 = diff.lo <= 0 && diff.hi >= 0;
    const bool sig = p_holm < 0.05;
    if (diff.n == 0 || std::isnan(diff.lo)) return "undefined";
    if (diff.lo == 0 && diff.hi == 0 && w.n == 0) return "identical";
    if (sig && !ci0) return std::string(policy_name(kPolicies[a])) + (diff.estimate > 0 ? " > " : " < ") + policy_name(kPolicies[b]);
    if (!sig && ci0) return "within CI";
    return "mixed";
  }
};

inline std::vector<CmpRow> cmp_rows(const StatsInput& in) {
  std::vector<CmpRow> rows;
  for (const auto& c : in.cells)
    for (int s = 0; s < 3; ++s)
      for (std::size_t a = 0; a < kNP; ++a)
        for (std::size_t b = a + 1; b < kNP; ++b) {
          if (!in.active[a] || !in.active[b]) continue;
          const auto va = stratum(c.v[a], in.saturated, s), vb = stratum(c.v[b], in.saturated, s);
          if (va.empty()) continue;
          CmpRow r{c.key, s, a, b, st::bootstrap_mean_diff_ci(va, vb, boot_options()), st::wilcoxon_signed_rank(va, vb), 1};
          rows.push_back(std::move(r));
        }
  std::vector<double> p;
  for (const auto& r : rows) p.push_back(r.w.p);
  const auto h = st::holm(p);
  for (std::size_t i = 0; i < rows.size(); ++i) rows[i].p_holm = h[i];
  return rows;
}

inline std::string ci_text(const st::Interval& i, int digits = 3) {
  if (i.n == 0) return "-";
  return fmt(i.estimate, digits) + " [" + fmt(i.lo, digits) + ", " + fmt(i.hi, digits) + "]";
}

inline Table ci_table(const StatsInput& in, const std::vector<CiRow>& rows) {
  std::vector<std::string> h = in.key_header;
  for (const char* s : {"images", "policy", "N", "nan_dropped", "mean", "ci95_lo", "ci95_hi"}) h.push_back(s);
  Table t(h);
  for (const auto& r : rows) {
    auto row = r.key;
    for (std::string s : {std::string(kStrata[r.stratum]), policy_name(kPolicies[r.policy]), std::to_string(r.ci.n),
                          std::to_string(r.ci.dropped), fmt(r.ci.estimate, 5), fmt(r.ci.lo, 5), fmt(r.ci.hi, 5)})
      row.push_back(s);
    t.add(row);
  }
  return t;
}

inline Table cmp_table(const StatsInput& in, const std::vector<CmpRow>& rows) {
  std::vector<std::string> h = in.key_header;
  for (const char* s : {"images", "a", "b", "n_pairs", "nan_pairs_dropped", "zero_diffs", "mean_diff_a_minus_b", "ci95_lo",
                        "ci95_hi", "wilcoxon_w_plus", "wilcoxon_p", "exact", "p_holm", "result"})
    h.push_back(s);
  Table t(h);
  for (const auto& r : rows) {
    auto row = r.key;
    for (std::string s : {std::string(kStrata[r.stratum]), policy_name(kPolicies[r.a]), policy_name(kPolicies[r.b]),
                          std::to_string(r.diff.n), std::to_string(r.diff.dropped), std::to_string(r.w.zeros),
                          fmt(r.diff.estimate, 4), fmt(r.diff.lo, 4), fmt(r.diff.hi, 4), fmt(r.w.w_plus, 6), fmt(r.w.p, 3),
                          std::string(r.w.exact ? "yes" : "no"), fmt(r.p_holm, 3), r.result()})
      row.push_back(s);
    t.add(row);
  }
  return t;
}

// Report digest: one row per key, "mean [CI]" per score space, for one stratum; N column.
inline Table ci_wide(const StatsInput& in, const std::vector<CiRow>& rows, int stratum_index, int digits = 3) {
  std::vector<std::string> h = in.key_header;
  h.push_back("N");
  for (std::size_t p = 0; p < kNP; ++p)
    if (in.active[p]) h.push_back(policy_name(kPolicies[p]) + " mean [95% CI]");
  Table t(h);
  for (const auto& c : in.cells) {
    auto row = c.key;
    std::string n = "-";
    for (std::size_t p = 0; p < kNP; ++p) {
      if (!in.active[p]) continue;
      std::string cell = "-";
      for (const auto& r : rows)
        if (r.key == c.key && r.stratum == stratum_index && r.policy == p) {
          cell = ci_text(r.ci, digits);
          n = std::to_string(r.ci.n + r.ci.dropped);
          if (r.ci.dropped) cell += " (" + std::to_string(r.ci.dropped) + " NaN)";
        }
      row.push_back(cell);
    }
    row.insert(row.begin() + static_cast<std::ptrdiff_t>(in.key_header.size()), n);
    if (n != "-") t.add(row);
  }
  return t;
}

// Report digest: per key, the difference of each score space to Pre (mean [CI]) with the
// comparison's result for one stratum. "*" marks Holm-adjusted p < 0.05.
inline Table cmp_wide(const StatsInput& in, const std::vector<CmpRow>& rows, int stratum_index, int digits = 3) {
  std::vector<std::string> h = in.key_header;
  h.push_back("N pairs");
  for (std::size_t p = 1; p < kNP; ++p)
    if (in.active[p]) h.push_back(policy_name(kPolicies[p]) + " − pre [95% CI], Holm p");
  Table t(h);
  for (const auto& c : in.cells) {
    auto row = c.key;
    std::string n = "-";
    for (std::size_t p = 1; p < kNP; ++p) {
      if (!in.active[p]) continue;
      std::string cell = "-";
      for (const auto& r : rows)
        if (r.key == c.key && r.stratum == stratum_index && r.a == 0 && r.b == p) {
          // a = pre, b = p: report b − a
          st::Interval d = r.diff;
          d.estimate = -d.estimate;
          std::swap(d.lo, d.hi);
          d.lo = -d.lo;
          d.hi = -d.hi;
          cell = ci_text(d, digits) + ", " + fmt(r.p_holm, 2) + (r.p_holm < 0.05 ? "*" : "");
          n = std::to_string(r.diff.n) + (r.diff.dropped ? " (" + std::to_string(r.diff.dropped) + " NaN)" : "");
        }
      row.push_back(cell);
    }
    row.insert(row.begin() + static_cast<std::ptrdiff_t>(in.key_header.size()), n);
    if (n != "-") t.add(row);
  }
  return t;
}

// Counts of comparison results per pair and stratum (the report's "which differences are within the CI").
inline Table cmp_counts(const std::vector<CmpRow>& rows) {
  Table t({"images", "a", "b", "comparisons", "a > b", "a < b", "within CI", "identical", "mixed/undefined"});
  for (int s = 0; s < 3; ++s)
    for (std::size_t a = 0; a < kNP; ++a)
      for (std::size_t b = a + 1; b < kNP; ++b) {
        std::int64_t n = 0, gt = 0, lt = 0, within = 0, same = 0, other = 0;
        for (const auto& r : rows) {
          if (r.stratum != s || r.a != a || r.b != b) continue;
          ++n;
          const std::string res = r.result();
          if (res == "within CI") ++within;
          else if (res == "identical") ++same;
          else if (res.find(" > ") != std::string::npos) ++gt;
          else if (res.find(" < ") != std::string::npos) ++lt;
          else ++other;
        }
        if (n)
          t.add({kStrata[s], policy_name(kPolicies[a]), policy_name(kPolicies[b]), std::to_string(n), std::to_string(gt),
                 std::to_string(lt), std::to_string(within), std::to_string(same), std::to_string(other)});
      }
  return t;
}

// Writes <name>_ci, <name>_cmp (long, CSV + md) and <name>_cmp_counts; returns the rows for digests.
struct StatsOut {
  std::vector<CiRow> ci;
  std::vector<CmpRow> cmp;
};
inline StatsOut write_stats(const StatsInput& in, const fs::path& dir, const std::string& name) {
  StatsOut o{ci_rows(in), cmp_rows(in)};
  ci_table(in, o.ci).write(dir, name + "_ci");
  cmp_table(in, o.cmp).write(dir, name + "_cmp");
  cmp_counts(o.cmp).write(dir, name + "_cmp_counts");
  return o;
}

// ---------------------------------------------------------------------------------------------
// Headline values for the report's {{value:KEY}} placeholders: <dir>/<exp>_values.csv.

class Values {
 public:
  void set(const std::string& key, const std::string& v) {
    for (auto& kv : kv_)
      if (kv.first == key) { kv.second = v; return; }
    kv_.emplace_back(key, v);
  }
  void set(const std::string& key, double v, int digits = 3) { set(key, fmt(v, digits)); }
  void ci(const std::string& key, const st::Interval& i, int digits = 3) {
    set(key, ci_text(i, digits));
    set(key + ".n", std::to_string(i.n));
  }
  void write(const fs::path& dir, const std::string& exp) const {
    Table t({"key", "value"});
    for (const auto& kv : kv_) t.add({kv.first, kv.second});
    fs::create_directories(dir);
    Table::write_text(dir / (exp + "_values.csv"), t.csv());
  }

 private:
  std::vector<std::pair<std::string, std::string>> kv_;
};

}  // namespace paper

namespace paper {

// The cells of `in` that `keep` accepts (same strata).
template <class F>
StatsInput subset(const StatsInput& in, F keep) {
  StatsInput out = in;
  out.cells.clear();
  for (const auto& c : in.cells)
    if (keep(c)) out.cells.push_back(c);
  return out;
}

// Comparison counts as report values: <prefix>.<a>_vs_<b>.<stratum>.{n,gt,lt,within,identical}.
inline void count_values(Values& v, const std::string& prefix, const std::vector<CmpRow>& rows) {
  const Table t = cmp_counts(rows);
  for (const auto& r : t.rows()) {
    const std::string k = prefix + "." + r[1] + "_vs_" + r[2] + "." + r[0];
    v.set(k + ".n", r[3]);
    v.set(k + ".gt", r[4]);
    v.set(k + ".lt", r[5]);
    v.set(k + ".within", r[6]);
    v.set(k + ".identical", r[7]);
  }
}

// The CI row of (key, stratum, policy), or nullptr.
inline const CiRow* find_ci(const std::vector<CiRow>& rows, const std::vector<std::string>& key, int s, std::size_t p) {
  for (const auto& r : rows)
    if (r.key == key && r.stratum == s && r.policy == p) return &r;
  return nullptr;
}

}  // namespace paper
