#pragma once
// E10: saturation control (issue 13 §4, docs/methods.md §9). The shipped architecture trained
// with label smoothing ε (train_fashion --label-smoothing ε; the smoothed optimum is
// y_c = 1 − ε + ε/10, so ε > 0 bounds how far the model is pushed into saturation), two seeds
// per ε. Per model and test image (the first N of t10k, class = the true label, the same for
// both seeds), per method × score space:
//   agreement    Spearman of the displayed map with the same method's Pre map (Pre: 1 by
//                definition, not reported): how far the score space moves the map;
//   consistency  Spearman of the displayed maps of the two seeds' models (E4's measure with two
//                models): how much of the map is the model's idiosyncrasy;
//   deletion / insertion AUC of the map, evaluated with Post (y_c), E5's code path
//                (metrics::perturbation_curve, black baseline, curve_steps steps).
// Per model: accuracy and the share of saturated images (1 − y_c < 1e-4, top class, whole t10k;
// and true class among the N). Strata: saturated for the true class under the seed-1 model.
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <gradattr/attribution/runtime.hpp>
#include <gradattr/metrics/agreement.hpp>
#include <gradattr/metrics/deletion.hpp>

#include "experiments.hpp"

namespace paper {

inline const char* kE10Metrics[4] = {"agreement_with_pre", "seed_consistency", "deletion_auc", "insertion_auc"};

struct E10Options {
  std::vector<Method> methods;     // empty: all of kGeneralMethods
  std::int64_t steps = 16;
  std::uint64_t seed = 0;
  std::int64_t curve_steps = 28;
  std::int64_t batch = 16;         // images per run_method call
  ScoreKind evaluation = ScoreKind::Post;
  Log log = no_log;
};

struct E10ModelInfo {
  double smoothing = 0;
  double accuracy = 0;             // whole t10k (seed-1 model)
  double accuracy_second = 0;      // the seed-2 model
  double saturated_share_top = 0;  // whole t10k, top class, seed-1 model
  double saturated_share_true = 0; // the N images, true class, seed-1 model
  double mean_one_minus_y = 0;     // the N images, true class: mean of 1 − y_c
};

// Samples of one ε (one model: its own saturation strata): key (ε, method, metric), plus a cell
// "mean of methods" (per image, the mean over the methods of the defined values); agreement has
// Pre inactive.
struct E10Samples {
  StatsInput agreement, consistency, deletion, insertion;
};

template <class Model>
E10ModelInfo e10_model_info(double eps, const Model& m1, const Model& m2, const TestSet& all, const TestSet& ts) {
  E10ModelInfo info;
  info.smoothing = eps;
  std::int64_t ok1 = 0, ok2 = 0, sat = 0;
  for (std::int64_t b = 0; b < all.size(); b += 500) {
    const std::int64_t e = std::min(all.size(), b + 500);
    const Tensor<float> x = all.batch(b, e - b);
    const Tensor<float> z1 = m1.forward(x), z2 = m2.forward(x);
    const auto t1 = gradattr::Target{}.resolve(z1, "e10"), t2 = gradattr::Target{}.resolve(z2, "e10");
    const Tensor<float> ly = gradattr::LogSoftmax::score(z1, t1);
    for (std::int64_t i = 0; i < e - b; ++i) {
      ok1 += t1[static_cast<std::size_t>(i)] == all.labels[static_cast<std::size_t>(b + i)];
      ok2 += t2[static_cast<std::size_t>(i)] == all.labels[static_cast<std::size_t>(b + i)];
      sat += -std::expm1(static_cast<double>(ly[i])) < gradattr::score::kSaturationThreshold;
    }
  }
  const double N = static_cast<double>(all.size());
  info.accuracy = static_cast<double>(ok1) / N;
  info.accuracy_second = static_cast<double>(ok2) / N;
  info.saturated_share_top = static_cast<double>(sat) / N;
  const Tensor<float> z = m1.forward(ts.x);
  std::vector<std::int64_t> cls(ts.labels.begin(), ts.labels.end());
  const Tensor<float> ly = gradattr::LogSoftmax::score(z, cls);
  std::int64_t st = 0;
  double om = 0;
  for (std::int64_t i = 0; i < ts.size(); ++i) {
    const double o = -std::expm1(static_cast<double>(ly[i]));
    st += o < gradattr::score::kSaturationThreshold;
    om += o;
  }
  info.saturated_share_true = static_cast<double>(st) / static_cast<double>(ts.size());
  info.mean_one_minus_y = om / static_cast<double>(ts.size());
  return info;
}

// One ε: m1 (seed 1, the explained model), m2 (seed 2, for consistency).
template <class Model>
E10Samples run_e10_model(double eps, const Model& m1, const Model& m2, const TestSet& ts, const E10Options& opt) {
  E10Samples out;
  const std::vector<Method> methods =
      opt.methods.empty() ? std::vector<Method>(gradattr::kGeneralMethods.begin(), gradattr::kGeneralMethods.end()) : opt.methods;
  const gradattr::RunOptions ro = run_options(opt.steps, opt.seed);
  const std::int64_t N = ts.size(), H = ts.x.dim(2), W = ts.x.dim(3), P = H * W;
  const std::string e = fmt(eps, 3);
  // [method][policy] -> per image
  std::vector<std::array<std::vector<double>, kNP>> agr(methods.size()), con(methods.size()), del(methods.size()), ins(methods.size());
  std::vector<char> saturated;
  gradattr::metrics::PerturbationOptions<float> po;
  po.steps = opt.curve_steps;
  po.batch_size = 32;
  for (std::int64_t b0 = 0; b0 < N; b0 += opt.batch) {
    const std::int64_t B = std::min(opt.batch, N - b0);
    const Tensor<float> x = ts.batch(b0, B);
    const std::vector<std::int64_t> cls(ts.labels.begin() + b0, ts.labels.begin() + b0 + B);
    const gradattr::Target tgt = gradattr::Target::per_image(cls);
    {
      const Tensor<float> ly = gradattr::LogSoftmax::score(m1.forward(x), cls);
      for (std::int64_t i = 0; i < B; ++i) saturated.push_back(-std::expm1(static_cast<double>(ly[i])) < gradattr::score::kSaturationThreshold);
    }
    for (std::size_t mi = 0; mi < methods.size(); ++mi) {
      std::array<Tensor<float>, kNP> d1;
      for (std::size_t pi = 0; pi < kNP; ++pi) {
        d1[pi] = gradattr::run_method(methods[mi], kPolicies[pi], m1, x, tgt, ro).displayed(H, W);
        const Tensor<float> d2 = gradattr::run_method(methods[mi], kPolicies[pi], m2, x, tgt, ro).displayed(H, W);
        for (std::int64_t i = 0; i < B; ++i) {
          Tensor<float> a = Tensor<float>::uninitialized({1, H, W}), c = Tensor<float>::uninitialized({1, H, W});
          std::copy(d1[pi].data() + i * P, d1[pi].data() + (i + 1) * P, a.data());
          std::copy(d2.data() + i * P, d2.data() + (i + 1) * P, c.data());
          con[mi][pi].push_back(gradattr::metrics::spearman(a, c));
          const Tensor<float> xi = x.slice_batch(i).clone();
          const gradattr::Target ti{cls[static_cast<std::size_t>(i)]};
          del[mi][pi].push_back(gradattr::metrics::perturbation_curve(opt.evaluation, m1, gradattr::metrics::Perturbation::Deletion, xi, a, ti, po).auc);
          ins[mi][pi].push_back(gradattr::metrics::perturbation_curve(opt.evaluation, m1, gradattr::metrics::Perturbation::Insertion, xi, a, ti, po).auc);
          if (pi > 0) {
            Tensor<float> p0 = Tensor<float>::uninitialized({1, H, W});
            std::copy(d1[0].data() + i * P, d1[0].data() + (i + 1) * P, p0.data());
            agr[mi][pi].push_back(gradattr::metrics::spearman(a, p0));
          }
        }
      }
    }
    opt.log("e10 eps " + e + ": images " + std::to_string(b0 + B) + "/" + std::to_string(N));
  }
  auto add = [&](StatsInput& in, const char* metric, const std::vector<std::array<std::vector<double>, kNP>>& v, bool pre) {
    in.key_header = {"smoothing", "method", "metric"};
    if (!pre) in.active[0] = false;
    // the strata: all cells of one StatsInput share the images, so the ε's images follow each other
    for (std::size_t mi = 0; mi < methods.size(); ++mi) {
      Samples s{{e, method_name(methods[mi]), metric}, {}};
      for (std::size_t pi = 0; pi < kNP; ++pi) s.v[pi] = v[mi][pi];
      in.cells.push_back(std::move(s));
    }
    Samples avg{{e, "mean of methods", metric}, {}};
    for (std::size_t pi = 0; pi < kNP; ++pi) {
      if (!pre && pi == 0) continue;
      for (std::size_t i = 0; i < static_cast<std::size_t>(N); ++i) {
        std::vector<double> per_method;
        for (std::size_t mi = 0; mi < methods.size(); ++mi) per_method.push_back(v[mi][pi][i]);
        avg.v[pi].push_back(nan_mean(per_method));
      }
    }
    in.cells.push_back(std::move(avg));
  };
  add(out.agreement, kE10Metrics[0], agr, false);
  add(out.consistency, kE10Metrics[1], con, true);
  add(out.deletion, kE10Metrics[2], del, true);
  add(out.insertion, kE10Metrics[3], ins, true);
  for (StatsInput* in : {&out.agreement, &out.consistency, &out.deletion, &out.insertion}) in->saturated = saturated;
  return out;
}

}  // namespace paper

namespace paper {

// E10's tables and values for one ε (prefix e10_eps<ε>): per metric <prefix>_<metric>_ci/_cmp/
// _cmp_counts (its own Holm family), digests _ci_<stratum> and (not for agreement) _vs_pre_<stratum>.
// Values e10.eps<ε>.<metric>.<method>.<policy> (all images) and the comparison results of the
// method average e10.eps<ε>.<metric>.<a>_vs_<b>.<stratum> = "pre < post" / "within CI" / ...
inline void e10_report_one(double eps, const E10Samples& s, const fs::path& out, Values& v) {
  const std::string e = fmt(eps, 3), pre = "e10_eps" + e;
  const StatsInput* ins[4] = {&s.agreement, &s.consistency, &s.deletion, &s.insertion};
  for (int k = 0; k < 4; ++k) {
    const std::string metric = kE10Metrics[k], name = pre + "_" + metric;
    const StatsOut so = write_stats(*ins[k], out, name);
    for (int st_i = 0; st_i < 3; ++st_i) {
      ci_wide(*ins[k], so.ci, st_i).write(out, name + "_ci_" + kStrata[st_i]);
      if (k > 0) cmp_wide(*ins[k], so.cmp, st_i).write(out, name + "_vs_pre_" + kStrata[st_i]);
    }
    for (const auto& r : so.ci)
      if (r.stratum == 0) v.ci("e10.eps" + e + "." + metric + "." + r.key[1] + "." + policy_name(kPolicies[r.policy]), r.ci);
    for (const auto& r : so.cmp)
      if (r.key[1] == "mean of methods")
        v.set("e10.eps" + e + "." + metric + "." + policy_name(kPolicies[r.a]) + "_vs_" + policy_name(kPolicies[r.b]) + "." + kStrata[r.stratum],
              r.result());
  }
}

// The summary across ε: per ε × metric × stratum, the method average per score space (mean [CI])
// with the saturated share, and the models.
inline void e10_report_summary(const std::vector<E10ModelInfo>& info, const std::vector<E10Samples>& s, const fs::path& out, Values& v) {
  Table models({"smoothing", "accuracy (seed 1)", "accuracy (seed 2)", "saturated share, top class, t10k", "saturated share, true class, N images",
                "mean 1 - y_c, true class, N images"});
  for (const auto& m : info) {
    models.add({fmt(m.smoothing, 3), fmt(m.accuracy, 4), fmt(m.accuracy_second, 4), fmt(m.saturated_share_top, 4),
                fmt(m.saturated_share_true, 4), fmt(m.mean_one_minus_y, 4)});
    const std::string e = "e10.eps" + fmt(m.smoothing, 3);
    v.set(e + ".accuracy", m.accuracy, 4);
    v.set(e + ".accuracy_seed2", m.accuracy_second, 4);
    v.set(e + ".saturated_share_top", m.saturated_share_top, 4);
    v.set(e + ".saturated_share_true", m.saturated_share_true, 4);
  }
  models.write(out, "e10_models");
  std::vector<std::string> h{"smoothing", "saturated share", "metric", "images", "N"};
  for (ScoreKind p : kPolicies) h.push_back(policy_name(p) + " mean [95% CI]");
  Table t(h);
  for (std::size_t i = 0; i < s.size() && i < info.size(); ++i) {
    const StatsInput* ins[4] = {&s[i].agreement, &s[i].consistency, &s[i].deletion, &s[i].insertion};
    for (int k = 0; k < 4; ++k) {
      const auto sub = subset(*ins[k], [](const Samples& c) { return c.key[1] == "mean of methods"; });
      const auto ci = ci_rows(sub);
      for (int st_i = 0; st_i < 3; ++st_i) {
        std::vector<std::string> row{fmt(info[i].smoothing, 3), fmt(info[i].saturated_share_true, 3), kE10Metrics[k], kStrata[st_i], "-"};
        bool any = false;
        for (std::size_t p = 0; p < kNP; ++p) {
          const CiRow* r = sub.cells.empty() ? nullptr : find_ci(ci, sub.cells[0].key, st_i, p);
          row.push_back(r ? ci_text(r->ci) : "-");
          if (r) {
            any = true;
            row[4] = std::to_string(r->ci.n + r->ci.dropped);
          }
        }
        if (any) t.add(row);
      }
    }
  }
  t.write(out, "e10_summary");
}

}  // namespace paper
