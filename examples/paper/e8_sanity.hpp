#pragma once
// E8: sanity checks (Adebayo, Gilmer, Muelly, Goodfellow, Hardt & Kim, "Sanity Checks for
// Saliency Maps", NeurIPS 2018), per method × score space.
//
//   Cascading model-parameter randomisation: the layers of the trained model are re-initialised
//   from the top, one more group at a time (depth 1: the classifier's Linear layers; 2: + the
//   third conv; 3: + the second; 4: + the first = every parameter random), with the trainer's
//   initialisation (models::vgg(config, seed): Kaiming-normal convs, N(0, 0.01) linear weights,
//   zero biases) from a seed of its own. Data randomisation: a model of the same architecture
//   trained on shuffled training labels (train_fashion --shuffle-labels).
//   For every image, the class c is the original model's top class, explained by every model.
//   Per image, method and score space, the map of each randomised model is compared with the
//   original model's:
//     spearman_abs     Spearman of |S| (S = the signed raw map at the input resolution: layer
//                      maps bilinearly upsampled, half-pixel, as display_map but without its ReLU;
//                      input maps summed over channels)
//     spearman_signed  Spearman of S
//     ssim             SSIM (metrics/ssim.hpp: 11×11 Gaussian window, σ 1.5, L = 1) of |S|
//                      min–max normalised to [0, 1] per map (Adebayo et al.'s normalisation of
//                      absolute maps; a constant map becomes all zeros)
//   A constant map makes a Spearman undefined (NaN), dropped paired in the statistics.
//   Flag rule (docs/methods.md §5): a method × score space whose mean spearman_abs to the
//   original at full randomisation (depth 4) is above 0.5 "survives randomisation" (the method
//   does not depend on the learned parameters as much as an explanation of the model should).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <gradattr/kernels/upsample.hpp>
#include <gradattr/metrics/agreement.hpp>
#include <gradattr/metrics/ssim.hpp>

#include "common.hpp"
#include "experiments.hpp"
#include "stats_tables.hpp"

namespace paper {

// The parameter groups of a VGG from the top: "classifier", then its convolutions last to first
// ("features.6", "features.3", "features.0" for the Fashion model).
template <class T>
std::vector<std::string> e8_groups(const gradattr::models::Vgg<T>& model) {
  std::vector<std::string> convs;
  for (const auto& p : model.parameters())
    if (p.name.rfind("features.", 0) == 0) {
      const std::string layer = p.name.substr(0, p.name.rfind('.'));
      if (std::find(convs.begin(), convs.end(), layer) == convs.end()) convs.push_back(layer);
    }
  std::vector<std::string> g{"classifier"};
  g.insert(g.end(), convs.rbegin(), convs.rend());
  return g;
}

// A readable name of the first `depth` groups ("classifier", "classifier+features.6", ...).
inline std::string e8_depth_name(const std::vector<std::string>& groups, int depth) {
  if (depth == 0) return "none";
  std::string s;
  for (int i = 0; i < depth; ++i) s += (i ? "+" : "") + groups[static_cast<std::size_t>(i)];
  return s;
}

// `model` with its top `depth` groups re-initialised as models::vgg(config, seed) initialises them
// (depth 0: a copy; depth = groups: every parameter random).
template <class T>
gradattr::models::Vgg<T> cascade_randomised(const gradattr::models::Vgg<T>& model, int depth, std::uint64_t seed) {
  const auto groups = e8_groups(model);
  if (depth < 0 || depth > static_cast<int>(groups.size()))
    throw gradattr::ArgumentError("cascade_randomised: depth must be in [0, " + std::to_string(groups.size()) + "], got " +
                                  std::to_string(depth));
  const auto fresh = gradattr::models::vgg<T>(model.config(), seed);
  const auto orig_params = model.parameters(), fresh_params = fresh.parameters();
  auto randomised = [&](const std::string& name) {
    for (int i = 0; i < depth; ++i) {
      const std::string& g = groups[static_cast<std::size_t>(i)];
      if (name.rfind(g + ".", 0) == 0) return true;
    }
    return false;
  };
  gradattr::models::Vgg<T> out(model.config(), [&](const std::string& name, const gradattr::Shape& shape) {
    const auto& src = randomised(name) ? fresh_params : orig_params;
    for (const auto& p : src)
      if (p.name == name) return p.tensor.clone();
    throw gradattr::ArgumentError("cascade_randomised: no parameter '" + name + "' of shape " + shape.str());
  });
  out.set_class_names(model.class_names());
  return out;
}

// The signed map S [H, W] of an attribution at the input resolution (see the header).
template <class T>
Tensor<T> e8_signed_map(const gradattr::Attribution<T>& a, std::int64_t H, std::int64_t W) {
  if (a.raw.rank() == 4) {  // input map [1, C, H, W]: channel sum
    const auto C = a.raw.dim(1), P = a.raw.dim(2) * a.raw.dim(3);
    Tensor<T> m({a.raw.dim(2), a.raw.dim(3)});
    for (std::int64_t c = 0; c < C; ++c)
      for (std::int64_t i = 0; i < P; ++i) m[i] += a.raw[c * P + i];
    return m;
  }
  const auto h = a.raw.dim(1), w = a.raw.dim(2);
  auto r = Tensor<T>::uninitialized({1, 1, h, w});
  std::copy(a.raw.begin(), a.raw.begin() + h * w, r.begin());
  auto out = Tensor<T>::uninitialized({1, 1, H, W});
  gradattr::kernels::upsample_bilinear(out, r);
  return out.reshape({H, W});
}

template <class T>
Tensor<T> e8_abs(const Tensor<T>& s) {
  Tensor<T> a = s.clone();
  for (auto& v : a) v = std::abs(v);
  return a;
}

// |S| min–max normalised to [0, 1]; a constant map becomes all zeros.
template <class T>
Tensor<T> e8_unit(const Tensor<T>& s) {
  Tensor<T> a = e8_abs(s);
  const auto [lo, hi] = std::minmax_element(a.begin(), a.end());
  const double mn = *lo, range = static_cast<double>(*hi) - mn;
  for (auto& v : a) v = range > 0 ? static_cast<T>((v - mn) / range) : T{0};
  return a;
}

inline constexpr const char* kE8Measures[3] = {"spearman_abs", "spearman_signed", "ssim"};

// The three measures between an original and a randomised signed map.
template <class T>
std::array<double, 3> e8_measures(const Tensor<T>& s0, const Tensor<T>& s1) {
  return {gradattr::metrics::spearman(e8_abs(s0), e8_abs(s1)), gradattr::metrics::spearman(s0, s1),
          gradattr::metrics::ssim(e8_unit(s0), e8_unit(s1))};
}

struct E8Model {
  std::string name;   // "depth 1 (classifier)", ..., "shuffled labels"
  std::string kind;   // "cascade" or "data"
  int depth = 0;      // cascade depth (0 for "data")
  gradattr::models::Vgg<float> model;
  double accuracy = 0;  // on the N images (top class == label)
};

struct E8Row {
  std::string model, kind, method, policy;
  int depth = 0;
  std::int64_t n = 0;
  std::array<double, 3> mean{};              // per measure, NaN-aware mean
  std::array<std::int64_t, 3> undefined{};   // NaN count per measure
};

// Per-image samples: key (model, measure, method), one vector per score space.
struct E8Samples {
  StatsInput in;
};

template <class Model>
std::vector<E8Row> run_e8(const Model& original, std::vector<E8Model>& variants, const TestSet& ts,
                          const std::vector<Method>& methods_in, std::int64_t steps, std::uint64_t seed, const Log& log = no_log,
                          E8Samples* samples = nullptr) {
  const std::vector<Method> methods =
      methods_in.empty() ? std::vector<Method>(gradattr::kGeneralMethods.begin(), gradattr::kGeneralMethods.end()) : methods_in;
  if (variants.empty()) throw gradattr::ArgumentError("run_e8: no randomised models");
  const gradattr::RunOptions ro = run_options(steps, seed);
  const std::size_t V = variants.size(), M = methods.size();
  // [variant][measure][method][policy] per image
  std::vector<std::array<std::vector<std::array<std::vector<double>, kNP>>, 3>> per(V);
  for (auto& a : per)
    for (auto& b : a) b.resize(M);
  std::vector<std::int64_t> correct(V, 0);
  std::vector<char> sat;
  for (std::int64_t n = 0; n < ts.size(); ++n) {
    const Tensor<float> x = ts.image(n);
    const auto H = x.dim(2), W = x.dim(3);
    const Tensor<float> z0 = original.forward(x);
    const std::int64_t cls = gradattr::Target{}.resolve(z0, "e8")[0];
    sat.push_back(-std::expm1(static_cast<double>(gradattr::LogSoftmax::score(z0, std::vector<std::int64_t>{cls})[0])) <
                  gradattr::score::kSaturationThreshold);
    for (std::size_t v = 0; v < V; ++v)
      correct[v] += gradattr::Target{}.resolve(variants[v].model.forward(x), "e8")[0] == ts.labels[static_cast<std::size_t>(n)];
    for (std::size_t mi = 0; mi < M; ++mi)
      for (std::size_t pi = 0; pi < kNP; ++pi) {
        const Tensor<float> s0 = e8_signed_map(gradattr::run_method(methods[mi], kPolicies[pi], original, x, gradattr::Target{cls}, ro), H, W);
        for (std::size_t v = 0; v < V; ++v) {
          const Tensor<float> s1 =
              e8_signed_map(gradattr::run_method(methods[mi], kPolicies[pi], variants[v].model, x, gradattr::Target{cls}, ro), H, W);
          const auto m = e8_measures(s0, s1);
          for (int k = 0; k < 3; ++k) per[v][static_cast<std::size_t>(k)][mi][pi].push_back(m[static_cast<std::size_t>(k)]);
        }
      }
    log("e8: image " + std::to_string(n + 1) + "/" + std::to_string(ts.size()));
  }
  for (std::size_t v = 0; v < V; ++v)
    variants[v].accuracy = ts.size() ? static_cast<double>(correct[v]) / static_cast<double>(ts.size()) : 0.0;
  std::vector<E8Row> rows;
  for (std::size_t v = 0; v < V; ++v)
    for (std::size_t mi = 0; mi < M; ++mi)
      for (std::size_t pi = 0; pi < kNP; ++pi) {
        E8Row r;
        r.model = variants[v].name;
        r.kind = variants[v].kind;
        r.depth = variants[v].depth;
        r.method = method_name(methods[mi]);
        r.policy = policy_name(kPolicies[pi]);
        r.n = ts.size();
        for (std::size_t k = 0; k < 3; ++k) r.mean[k] = nan_mean(per[v][k][mi][pi], &r.undefined[k]);
        rows.push_back(r);
      }
  if (samples) {
    samples->in.key_header = {"model", "measure", "method"};
    samples->in.saturated = sat;
    for (std::size_t v = 0; v < V; ++v)
      for (std::size_t k = 0; k < 3; ++k)
        for (std::size_t mi = 0; mi < M; ++mi)
          samples->in.cells.push_back({{variants[v].name, kE8Measures[k], method_name(methods[mi])}, per[v][k][mi]});
  }
  return rows;
}

inline Table e8_table(const std::vector<E8Row>& rows) {
  Table t({"model", "kind", "depth", "method", "policy", "N", "mean_spearman_abs", "undefined_abs", "mean_spearman_signed",
           "undefined_signed", "mean_ssim"});
  for (const auto& r : rows)
    t.add({r.model, r.kind, std::to_string(r.depth), r.method, r.policy, std::to_string(r.n), fmt(r.mean[0]),
           std::to_string(r.undefined[0]), fmt(r.mean[1]), std::to_string(r.undefined[1]), fmt(r.mean[2])});
  return t;
}

// The flag table: per method × score space, mean spearman_abs [CI] at full randomisation and
// under shuffled labels, with the flag (mean > threshold: "survives randomisation").
inline Table e8_flags(const StatsInput& in, const std::vector<CiRow>& ci, const std::string& full_name,
                      const std::string& data_name, double threshold, std::int64_t* flagged = nullptr) {
  Table t({"method", "policy", "spearman_abs, all layers random [95% CI]", "flag (> " + fmt(threshold, 2) + ")",
           "spearman_abs, shuffled labels [95% CI]", "flag (> " + fmt(threshold, 2) + ") "});
  std::int64_t nflag = 0;
  std::vector<std::string> methods;
  for (const auto& c : in.cells)
    if (std::find(methods.begin(), methods.end(), c.key[2]) == methods.end()) methods.push_back(c.key[2]);
  for (const auto& m : methods)
    for (std::size_t p = 0; p < kNP; ++p) {
      std::vector<std::string> row{m, policy_name(kPolicies[p])};
      for (const std::string& model : {full_name, data_name}) {
        const CiRow* r = find_ci(ci, {model, "spearman_abs", m}, 0, p);
        if (!r) {
          row.push_back("-");
          row.push_back("-");
          continue;
        }
        std::string cell = ci_text(r->ci, 3);
        if (r->ci.dropped) cell += " (" + std::to_string(r->ci.dropped) + " NaN)";
        row.push_back(cell);
        const bool f = r->ci.estimate > threshold;
        nflag += f && model == full_name;
        row.push_back(f ? "**survives**" : "passes");
      }
      t.add(row);
    }
  if (flagged) *flagged = nflag;
  return t;
}

}  // namespace paper

namespace paper {

// E8's report files: e8_cascade (means per model × method × policy), e8_models, the statistics
// (e8_ci / e8_cmp / e8_cmp_counts), digests per measure (e8_<measure>_ci_all), the differences
// to Pre at full randomisation and under shuffled labels (e8_vs_pre_all), the flag table
// (e8_flags); values e8.*.
inline void e8_report(const std::vector<E8Row>& rows, const E8Samples& smp, const std::vector<E8Model>& variants,
                      const fs::path& out, Values& v, double threshold = 0.5) {
  e8_table(rows).write(out, "e8_cascade");
  Table models({"model", "kind", "depth", "accuracy on the N images"});
  for (const auto& m : variants) models.add({m.name, m.kind, std::to_string(m.depth), fmt(m.accuracy, 3)});
  models.write(out, "e8_models");
  const StatsOut so = write_stats(smp.in, out, "e8");
  for (const char* meas : kE8Measures)
    ci_wide(subset(smp.in, [&](const Samples& c) { return c.key[1] == meas; }), so.ci, 0).write(out, std::string("e8_") + meas + "_ci_all");
  std::string full, data;
  int maxdepth = 0;
  for (const auto& m : variants) {
    if (m.kind == "cascade" && m.depth >= maxdepth) maxdepth = m.depth, full = m.name;
    if (m.kind == "data") data = m.name;
  }
  cmp_wide(subset(smp.in, [&](const Samples& c) { return (c.key[0] == full || c.key[0] == data) && c.key[1] == "spearman_abs"; }), so.cmp, 0)
      .write(out, "e8_vs_pre_all");
  count_values(v, "e8", so.cmp);
  std::int64_t flagged = 0;
  e8_flags(smp.in, so.ci, full, data, threshold, &flagged).write(out, "e8_flags");
  v.set("e8.flag_threshold", threshold, 2);
  v.set("e8.flagged", std::to_string(flagged));
  v.set("e8.full_model", full);
  v.set("e8.data_model", data.empty() ? "-" : data);
  for (const auto& m : variants) v.set("e8.accuracy." + std::string(m.kind == "data" ? "data" : "depth" + std::to_string(m.depth)), m.accuracy, 3);
  for (const auto& r : so.ci)
    if (r.stratum == 0 && r.key[1] == "spearman_abs" && (r.key[0] == full || r.key[0] == data))
      v.ci("e8." + std::string(r.key[0] == full ? "full" : "data") + ".spearman_abs." + r.key[2] + "." + policy_name(kPolicies[r.policy]), r.ci);
  std::int64_t nsat = 0;
  for (char c : smp.in.saturated) nsat += c;
  v.set("e8.n_saturated", std::to_string(nsat));
}

}  // namespace paper

namespace paper {

// Figure: t10k image 0, one row per model (original, each randomised model), a few methods under
// Pre and Post (|S| normalised, as SSIM sees it); class = the original model's top class.
inline Tensor<std::uint8_t> e8_panel(const gradattr::models::Vgg<float>& original, const std::vector<E8Model>& variants,
                                     const TestSet& ts, std::int64_t steps, std::uint64_t seed) {
  const Tensor<float> x = ts.image(0);
  const gradattr::Target tgt{gradattr::Target{}.resolve(original.forward(x), "e8")[0]};
  const Method fm[] = {Method::GradCam, Method::Saliency, Method::IntegratedGradients, Method::InputXGradient};
  std::vector<std::vector<Tensor<std::uint8_t>>> tiles;
  std::vector<std::string> rl, cl;
  for (Method m : fm)
    for (ScoreKind k : {ScoreKind::Pre, ScoreKind::Post}) cl.push_back(std::string(gradattr::display_name(m)) + " " + policy_name(k));
  auto row_of = [&](const gradattr::models::Vgg<float>& model) {
    std::vector<Tensor<std::uint8_t>> row;
    for (Method m : fm)
      for (ScoreKind k : {ScoreKind::Pre, ScoreKind::Post}) {
        const Tensor<float> u = e8_unit(e8_signed_map(gradattr::run_method(m, k, model, x, tgt, run_options(steps, seed)), x.dim(2), x.dim(3)));
        row.push_back(overlay_tile(x, u.reshape({1, x.dim(2), x.dim(3)})));
      }
    return row;
  };
  rl.push_back("original");
  tiles.push_back(row_of(original));
  for (const auto& v : variants) {
    rl.push_back(v.kind == "data" ? "shuffled labels" : "random to depth " + std::to_string(v.depth));
    tiles.push_back(row_of(v.model));
  }
  return gradattr::viz::make_panel(tiles, rl, cl);
}

}  // namespace paper
