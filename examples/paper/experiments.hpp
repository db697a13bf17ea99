#pragma once
// The paper experiments (docs/report.md), as functions the experiment program and the ctest
// cases share. Each returns its rows (and, where the report has one, the data for a figure);
// main.cpp writes them as CSV/markdown/PNG.
//
//   E1 vulnerability       original vs shifted twin z' = z + K Σ_k A_{k,0,0} (models::Shifted at
//                          the Grad-CAM layer), per method × policy × K
//   E2 information gain    ∂L/∂x = −∂ log y_c/∂x (metrics::check_information_gain), float and double
//   E3 saturation          1 − y_c on the test set; degenerate / collapsed maps on saturated images
//   E4 training seeds      mean pairwise Spearman of displayed maps across independently trained models
//   E5 faithfulness        deletion / insertion AUC per method × explanation × evaluation policy,
//                          read from a `gradattr sweep` database (e5_faithfulness.hpp)
//   E6 Grad-CAM++ vs +     Spearman and top-10% IoU per policy
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <gradattr/attribution/runtime.hpp>
#include <gradattr/metrics/agreement.hpp>
#include <gradattr/metrics/deletion.hpp>
#include <gradattr/metrics/information_gain.hpp>
#include <gradattr/models/equivalent.hpp>

#include "common.hpp"
#include "stats_tables.hpp"

namespace paper {

using Log = std::function<void(const std::string&)>;
inline void no_log(const std::string&) {}

inline gradattr::RunOptions run_options(std::int64_t steps, std::uint64_t seed) {
  gradattr::RunOptions o;
  o.steps = steps;
  o.samples = steps;  // SmoothGrad: as many samples as path steps (RunOptions::samples is its own field)
  o.seed = seed;
  return o;
}

// Spearman of two maps; NaN when undefined (constant map).
template <class T, class U>
double spearman(const Tensor<T>& a, const Tensor<U>& b) {
  return gradattr::metrics::spearman(a, b);
}

// =============================================================================================
// E1: the vulnerability (equivalent shifted twin)

struct E1Options {
  std::vector<Method> methods;           // empty: all
  std::vector<double> ks = {1e-2, 1, 1e2, 1e4};
  std::int64_t steps = 50;
  std::uint64_t seed = 0;
  std::string layer;                     // empty: the model's default CAM layer (also the shift layer)
  std::int64_t shift_token = 0;          // a token layer's twin: t = K Σ_d A_{p,d} with p this (models::Shifted)
  double figure_k = 100;                 // the K of the panel (must be one of ks to get one)
  bool figure = true;
  Log log = no_log;
};

struct E1Row {
  std::string model;
  std::string images = "all";  // "all", or "saturated" / "unsaturated" (1 − y_c < 1e-4 in float)
  double k = 0;
  std::string method, policy;
  std::int64_t n = 0;
  double spearman_raw_mean = 0, spearman_raw_min = 0;
  std::int64_t spearman_undefined = 0;
  double max_abs_diff_raw = 0;   // max over images of max |raw − raw'|
  double max_rel_diff_raw = 0;   // max over images of max |raw − raw'| / max |raw|
  double max_abs_diff_displayed = 0;
  // Grad-CAM only (NaN otherwise): Pre: max over images and channels of |(w'_k − w_k) − K/Z| / (K/Z);
  // Post/Log: max |w' − w| / max |w|.
  double weight_shift_error = std::numeric_limits<double>::quiet_NaN();
  // Grad-CAM only: max over images of max_k |w'_k − w_k − K/Z·[Pre]| (absolute), of the spread
  // max_k − min_k of w'_k − w_k (a uniform offset has spread 0), and max |w| (the scale).
  double weight_abs_diff = std::numeric_limits<double>::quiet_NaN();
  double weight_diff_spread = std::numeric_limits<double>::quiet_NaN();
  double weight_max = std::numeric_limits<double>::quiet_NaN();
  double max_logit_shift = 0;    // max |t(x)| over the images (the size of z' − z)
  double z_over_k = 0;           // K/Z, the expected Pre Grad-CAM weight shift
};

struct E1Figure {
  Tensor<float> image;  // [1, 1, H, W] (grey; only for 1-channel models)
  // displayed[method][policy][0 = original, 1 = twin]
  std::vector<std::array<std::array<Tensor<float>, 2>, kNP>> displayed;
  std::vector<Method> methods;
};

// Per-image samples of E1 for the statistics (stats_tables.hpp): key (K, method); the Spearman
// of the raw maps original vs twin, and the relative change max |raw − raw′| / max |raw|.
struct E1Samples {
  StatsInput spearman, rel_change;
};

template <class Model>
std::vector<E1Row> run_e1(const Model& model, const std::string& model_name, const Tensor<float>& images,
                          const E1Options& opt, E1Figure* figure = nullptr, E1Samples* samples = nullptr) {
  using gradattr::run_method;
  const std::vector<Method> methods =
      opt.methods.empty() ? std::vector<Method>(gradattr::kGeneralMethods.begin(), gradattr::kGeneralMethods.end()) : opt.methods;
  const std::string layer = opt.layer.empty() ? gradattr::default_cam_layer(model) : model.resolve_layer(opt.layer);
  gradattr::RunOptions ro = run_options(opt.steps, opt.seed);
  ro.layer = layer;
  const std::int64_t N = images.dim(0);
  const Tensor<float> A0 = model.forward_until(images.slice_batch(0).clone(), layer).activation.value();
  // Z: the positions a CAM averages over: H·W, or a token layer's [1, 1+Z, D] patch tokens (the
  // class token is dropped). The expected Pre Grad-CAM weight shift is K/Z when t is built on one
  // of those positions; a class-token twin (p = 0) adds nothing to the patch tokens' gradient.
  const bool tokens = A0.rank() == 3;
  const double Z = tokens ? static_cast<double>(A0.dim(1) - 1) : static_cast<double>(A0.dim(2) * A0.dim(3));
  const double k_scale = tokens && opt.shift_token == 0 ? 0.0 : 1.0;  // expected shift = k_scale · K / Z

  // rows indexed [k][method][policy]
  std::vector<E1Row> rows;
  struct Acc {
    std::vector<double> sp, rel;
    double mad = 0, mrd = 0, madd = 0, wse = 0, shift = 0, wad = 0, wspread = 0, wmax = 0;
    bool has_w = false;
  };
  // [group: all, saturated, unsaturated][k][method][policy]
  const std::size_t per_group = opt.ks.size() * methods.size() * kNP;
  std::vector<Acc> acc(3 * per_group);
  std::size_t group = 0;  // the current image's group (1 saturated, 2 unsaturated)
  auto at_g = [&](std::size_t g, std::size_t ki, std::size_t mi, std::size_t pi) -> Acc& {
    return acc[g * per_group + (ki * methods.size() + mi) * kNP + pi];
  };

  std::vector<gradattr::models::Shifted<Model>> twins;
  for (double k : opt.ks) twins.push_back(gradattr::models::shifted(model, layer, k, opt.shift_token));

  if (figure) {
    figure->methods = methods;
    figure->displayed.assign(methods.size(), {});
  }
  std::size_t fig_k = opt.ks.size();
  for (std::size_t ki = 0; ki < opt.ks.size(); ++ki)
    if (opt.ks[ki] == opt.figure_k) fig_k = ki;

  for (std::int64_t n = 0; n < N; ++n) {
    const Tensor<float> x = images.slice_batch(n).clone();
    if (figure && n == 0) figure->image = x;
    const auto H = x.dim(2), W = x.dim(3);
    std::vector<double> shifts;
    for (const auto& tw : twins) shifts.push_back(max_abs(tw.shift(x)));
    {
      const Tensor<float> z = model.forward(x);
      const auto cls = gradattr::Target{}.resolve(z, "e1");
      const double one_minus = 1.0 - static_cast<double>(std::exp(gradattr::LogSoftmax::score(z, cls)[0]));
      group = one_minus < gradattr::score::kSaturationThreshold ? 1 : 2;
      if (samples) {
        samples->spearman.saturated.push_back(group == 1);
        samples->rel_change.saturated.push_back(group == 1);
      }
    }
    for (std::size_t mi = 0; mi < methods.size(); ++mi) {
      for (std::size_t pi = 0; pi < kNP; ++pi) {
        const ScoreKind pol = kPolicies[pi];
        const Attribution<float> a = run_method(methods[mi], pol, model, x, gradattr::Target{}, ro);
        const Tensor<float> da = a.displayed(H, W);
        const double scale = max_abs(a.raw);
        const double wscale = a.weights.empty() ? 0 : max_abs(a.weights);
        if (figure && n == 0) figure->displayed[mi][pi][0] = da;
        for (std::size_t ki = 0; ki < twins.size(); ++ki) {
          // The class is the original's top class (the same as the twin's: y' = y).
          const Attribution<float> b = run_method(methods[mi], pol, twins[ki], x, gradattr::Target{a.classes[0]}, ro);
          for (std::size_t g : {std::size_t{0}, group}) {
          Acc& s = at_g(g, ki, mi, pi);
          s.sp.push_back(spearman(a.raw, b.raw));
          const double d = max_abs_diff(a.raw, b.raw);
          s.mad = std::max(s.mad, d);
          s.rel.push_back(scale > 0 ? d / scale : (d > 0 ? INFINITY : 0.0));
          s.mrd = std::max(s.mrd, s.rel.back());
          const Tensor<float> db = b.displayed(H, W);
          s.madd = std::max(s.madd, max_abs_diff(da, db));
          s.shift = std::max(s.shift, shifts[ki]);
          if (methods[mi] == Method::GradCam && !a.weights.empty()) {
            s.has_w = true;
            s.wmax = std::max(s.wmax, wscale);
            double lo = INFINITY, hi = -INFINITY;
            for (std::int64_t c = 0; c < a.weights.numel(); ++c) {
              const double dw = static_cast<double>(b.weights[c]) - static_cast<double>(a.weights[c]);
              lo = std::min(lo, dw);
              hi = std::max(hi, dw);
              s.wad = std::max(s.wad, std::abs(dw - (pol == ScoreKind::Pre ? k_scale * opt.ks[ki] / Z : 0.0)));
            }
            s.wspread = std::max(s.wspread, hi - lo);
            if (pol == ScoreKind::Pre && k_scale > 0) {
              const double expect = opt.ks[ki] / Z;
              for (std::int64_t c = 0; c < a.weights.numel(); ++c) {
                const double got = static_cast<double>(b.weights[c]) - static_cast<double>(a.weights[c]);
                s.wse = std::max(s.wse, std::abs(got - expect) / expect);
              }
            } else {
              const double dw = max_abs_diff(a.weights, b.weights);
              s.wse = std::max(s.wse, wscale > 0 ? dw / wscale : dw);
            }
          }
          }
          if (figure && n == 0 && ki == fig_k) figure->displayed[mi][pi][1] = b.displayed(H, W);
        }
      }
      opt.log(model_name + ": image " + std::to_string(n + 1) + "/" + std::to_string(N) + " " + method_name(methods[mi]));
    }
  }
  if (samples) {
    samples->spearman.key_header = samples->rel_change.key_header = {"model", "K", "method"};
    for (std::size_t ki = 0; ki < opt.ks.size(); ++ki)
      for (std::size_t mi = 0; mi < methods.size(); ++mi) {
        Samples a{{model_name, fmt(opt.ks[ki], 3), method_name(methods[mi])}, {}}, b = a;
        for (std::size_t pi = 0; pi < kNP; ++pi) {
          a.v[pi] = at_g(0, ki, mi, pi).sp;
          b.v[pi] = at_g(0, ki, mi, pi).rel;
        }
        samples->spearman.cells.push_back(std::move(a));
        samples->rel_change.cells.push_back(std::move(b));
      }
  }
  const char* group_names[3] = {"all", "saturated", "unsaturated"};
  for (std::size_t g = 0; g < 3; ++g)
  for (std::size_t ki = 0; ki < opt.ks.size(); ++ki)
    for (std::size_t mi = 0; mi < methods.size(); ++mi)
      for (std::size_t pi = 0; pi < kNP; ++pi) {
        const Acc& s = at_g(g, ki, mi, pi);
        if (g > 0 && s.sp.empty()) continue;  // no image in this group
        E1Row r;
        r.model = model_name;
        r.images = group_names[g];
        r.n = static_cast<std::int64_t>(s.sp.size());
        r.k = opt.ks[ki];
        r.method = method_name(methods[mi]);
        r.policy = policy_name(kPolicies[pi]);
        r.spearman_raw_mean = nan_mean(s.sp, &r.spearman_undefined);
        r.spearman_raw_min = nan_min(s.sp);
        r.max_abs_diff_raw = s.mad;
        r.max_rel_diff_raw = s.mrd;
        r.max_abs_diff_displayed = s.madd;
        if (s.has_w) {
          r.weight_shift_error = s.wse;
          r.weight_abs_diff = s.wad;
          r.weight_diff_spread = s.wspread;
          r.weight_max = s.wmax;
        }
        r.z_over_k = k_scale * opt.ks[ki] / Z;
        r.max_logit_shift = s.shift;
        rows.push_back(r);
      }
  return rows;
}

inline Table e1_table(const std::vector<E1Row>& rows) {
  Table t({"model", "images", "K", "method", "policy", "N", "spearman_raw_mean", "spearman_raw_min", "spearman_undefined",
           "max_abs_diff_raw", "max_rel_diff_raw", "max_abs_diff_displayed", "gradcam_weight_shift_error",
           "gradcam_weight_abs_err", "gradcam_weight_diff_spread", "gradcam_max_abs_w", "K_over_Z", "max_abs_t"});
  for (const auto& r : rows)
    t.add({r.model, r.images, fmt(r.k, 3), r.method, r.policy, std::to_string(r.n), fmt(r.spearman_raw_mean), fmt(r.spearman_raw_min),
           std::to_string(r.spearman_undefined), fmt(r.max_abs_diff_raw, 3), fmt(r.max_rel_diff_raw, 3),
           fmt(r.max_abs_diff_displayed, 3), fmt(r.weight_shift_error, 3), fmt(r.weight_abs_diff, 3),
           fmt(r.weight_diff_spread, 3), fmt(r.weight_max, 3), fmt(r.z_over_k, 3), fmt(r.max_logit_shift, 3)});
  return t;
}

// Methods × {Pre, Post, Log} × {original, twin} overlays of image 0.
inline Tensor<std::uint8_t> e1_panel(const E1Figure& f, double k) {
  std::vector<std::vector<Tensor<std::uint8_t>>> tiles;
  std::vector<std::string> rows, cols;
  for (std::size_t mi = 0; mi < f.methods.size(); ++mi) {
    rows.push_back(std::string(gradattr::display_name(f.methods[mi])));
    std::vector<Tensor<std::uint8_t>> r;
    for (int side = 0; side < 2; ++side)
      for (std::size_t pi = 0; pi < kNP; ++pi) {
        const auto& d = f.displayed[mi][pi][static_cast<std::size_t>(side)];
        r.push_back(d.empty() ? Tensor<std::uint8_t>() : overlay_tile(f.image, d));
      }
    tiles.push_back(std::move(r));
  }
  for (int side = 0; side < 2; ++side)
    for (std::size_t pi = 0; pi < kNP; ++pi)
      cols.push_back(std::string(side ? "twin " : "orig ") + policy_name(kPolicies[pi]));
  (void)k;
  return gradattr::viz::make_panel(tiles, rows, cols);
}

// =============================================================================================
// E2: the information-gain identity

struct E2Row {
  std::string precision;
  std::int64_t n = 0;
  double max_rel_error = 0, median_rel_error = 0, max_abs_error = 0;
  // The pipeline's own LogSoftmax saliency (run_method) against minus the loss gradient.
  double saliency_max_rel_error = 0;
};

// One check_information_gain call per `batch` images (batch 1: the identity is bitwise, see the
// report; a batch adds the rounding of the loss's mean and its undoing).
template <class Model>
E2Row run_e2(const Model& model, const std::string& precision, const Tensor<float>& images, const Log& log = no_log,
             std::int64_t batch = 1) {
  using T = typename Model::scalar_type;
  E2Row r;
  r.precision = precision + (batch > 1 ? ", batch " + std::to_string(batch) : std::string());
  r.n = images.dim(0);
  std::vector<double> rel;
  for (std::int64_t n = 0; n < images.dim(0); n += batch) {
    const std::int64_t b = std::min(batch, images.dim(0) - n);
    const Tensor<T> x = images.slice_batch(n, b).clone().template cast<T>();
    const auto c = gradattr::metrics::check_information_gain(model, x);
    rel.push_back(c.relative_error);
    r.max_abs_error = std::max(r.max_abs_error, c.max_abs_error);
    const Attribution<T> s = gradattr::run_method(Method::Saliency, ScoreKind::LogSoftmax, model, x, gradattr::Target::per_image(c.classes));
    double num = 0;
    for (std::int64_t i = 0; i < x.numel(); ++i)
      num = std::max(num, std::abs(static_cast<double>(s.raw[i]) + static_cast<double>(c.loss_gradient[i])));
    const double den = max_abs(s.raw);
    r.saliency_max_rel_error = std::max(r.saliency_max_rel_error, den > 0 ? num / den : num);
    if ((n / batch + 1) % 250 == 0) log("e2 " + r.precision + ": " + std::to_string(n + b) + "/" + std::to_string(images.dim(0)));
  }
  r.max_rel_error = *std::max_element(rel.begin(), rel.end());
  r.median_rel_error = nan_median(rel);
  return r;
}

inline Table e2_table(const std::vector<E2Row>& rows) {
  Table t({"precision", "N", "max_rel_error", "median_rel_error", "max_abs_error", "saliency_log_vs_minus_loss_grad_max_rel"});
  for (const auto& r : rows)
    t.add({r.precision, std::to_string(r.n), fmt(r.max_rel_error, 3), fmt(r.median_rel_error, 3), fmt(r.max_abs_error, 3),
           fmt(r.saliency_max_rel_error, 3)});
  return t;
}

// =============================================================================================
// E3: saturation

struct E3Saturation {
  std::vector<double> one_minus_yc_double;  // per image, from the double model's logits: −expm1(log y_c)
  std::vector<double> one_minus_yc_float;   // per image, as the float pipeline computes it: 1 − exp(log y_c)
  std::vector<std::int64_t> classes;        // top class (float model)
  std::vector<int> correct;
};

// Histogram bins of log10(1 − y_c): [−∞, −16), [−16, −15), …, [−1, 0].
inline std::vector<std::string> e3_bin_labels() {
  std::vector<std::string> l{"<-16"};
  for (int e = -16; e < 0; ++e) l.push_back(std::to_string(e));
  return l;
}
inline std::size_t e3_bin(double v) {
  if (!(v > 0)) return 0;
  const double e = std::floor(std::log10(v));
  if (e < -16) return 0;
  return static_cast<std::size_t>(std::min(e, -1.0) + 17);
}

template <class ModelF, class ModelD>
E3Saturation measure_saturation(const ModelF& mf, const ModelD& md, const TestSet& ts, std::int64_t batch = 250) {
  E3Saturation s;
  for (std::int64_t i = 0; i < ts.size(); i += batch) {
    const std::int64_t b = std::min(batch, ts.size() - i);
    const Tensor<float> x = ts.batch(i, b);
    const Tensor<float> zf = mf.forward(x);
    const Tensor<double> zd = md.forward(x.cast<double>());
    const std::vector<std::int64_t> cls = gradattr::Target{}.resolve(zf, "e3");
    const Tensor<float> lf = gradattr::LogSoftmax::score(zf, cls);
    const Tensor<double> ld = gradattr::LogSoftmax::score(zd, cls);
    for (std::int64_t n = 0; n < b; ++n) {
      s.classes.push_back(cls[static_cast<std::size_t>(n)]);
      s.correct.push_back(cls[static_cast<std::size_t>(n)] == ts.labels[static_cast<std::size_t>(i + n)]);
      s.one_minus_yc_float.push_back(1.0 - static_cast<double>(std::exp(lf[n])));
      s.one_minus_yc_double.push_back(-std::expm1(ld[n]));
    }
  }
  return s;
}

inline Table e3_histogram(const E3Saturation& s) {
  std::vector<std::int64_t> hd(17, 0), hf(17, 0);
  for (double v : s.one_minus_yc_double) ++hd[e3_bin(v)];
  for (double v : s.one_minus_yc_float) ++hf[e3_bin(v)];
  const auto labels = e3_bin_labels();
  Table t({"log10_1_minus_yc_bin", "count_double", "count_float_pipeline"});
  for (std::size_t i = 0; i < 17; ++i) t.add({labels[i], std::to_string(hd[i]), std::to_string(hf[i])});
  return t;
}

inline Table e3_summary(const E3Saturation& s) {
  const double thr = gradattr::score::kSaturationThreshold;
  std::int64_t sat_d = 0, sat_f = 0, zero_f = 0, acc = 0;
  for (std::size_t i = 0; i < s.classes.size(); ++i) {
    sat_d += s.one_minus_yc_double[i] < thr;
    sat_f += s.one_minus_yc_float[i] < thr;
    zero_f += s.one_minus_yc_float[i] <= 0;
    acc += s.correct[i];
  }
  const auto N = static_cast<double>(s.classes.size());
  Table t({"N", "accuracy", "saturated_double (" + gradattr::score::saturation_rule() + ")", "saturated_float", "float_1_minus_yc_exactly_0",
           "median_1_minus_yc_double"});
  t.add({std::to_string(s.classes.size()), fmt(acc / N), fmt(sat_d / N), fmt(sat_f / N), fmt(zero_f / N),
         fmt(nan_median(s.one_minus_yc_double), 3)});
  return t;
}

struct E3Options {
  std::vector<Method> methods;
  std::int64_t per_group = 16;   // images per group (saturated / unsaturated)
  std::int64_t steps = 50;
  std::uint64_t seed = 0;
  double collapse_below = 0.5;   // Spearman(float, double reference) below this: collapsed
  Log log = no_log;
};

struct E3Row {
  std::string group, method, policy;
  std::int64_t n = 0;
  double zero_displayed = 0;   // fraction of images whose displayed map is all zero
  double collapsed = 0;        // fraction with Spearman(displayed float, displayed double) < threshold or undefined
  double spearman_to_double = 0;  // mean (NaN-aware)
  double spearman_to_gradcam_pre = 0;  // mean Spearman of the displayed map with Grad-CAM Pre's (float)
};

// Indices of up to `per_group` saturated (1 − y_c < 1e-4 in double) and unsaturated images.
inline std::array<std::vector<std::int64_t>, 2> e3_groups(const E3Saturation& s, std::int64_t per_group) {
  std::array<std::vector<std::int64_t>, 2> g;
  for (std::size_t i = 0; i < s.classes.size(); ++i) {
    auto& v = g[s.one_minus_yc_double[i] < gradattr::score::kSaturationThreshold ? 0 : 1];
    if (static_cast<std::int64_t>(v.size()) < per_group) v.push_back(static_cast<std::int64_t>(i));
  }
  return g;
}

template <class ModelF, class ModelD>
std::vector<E3Row> run_e3_maps(const ModelF& mf, const ModelD& md, const TestSet& ts, const E3Saturation& sat,
                               const E3Options& opt, StatsInput* samples = nullptr) {
  const std::vector<Method> methods =
      opt.methods.empty() ? std::vector<Method>(gradattr::kGeneralMethods.begin(), gradattr::kGeneralMethods.end()) : opt.methods;
  const auto groups = e3_groups(sat, opt.per_group);
  const gradattr::RunOptions ro = run_options(opt.steps, opt.seed);
  std::vector<E3Row> rows;
  const char* names[2] = {"saturated", "unsaturated"};
  // per-image Spearman(float, double) of the displayed maps, saturated images first
  std::vector<std::array<std::vector<double>, kNP>> all_sp(methods.size());
  for (int g = 0; g < 2; ++g) {
    const auto& idx = groups[static_cast<std::size_t>(g)];
    // [method][policy] accumulators
    std::vector<std::array<std::vector<double>, kNP>> sp(methods.size()), spg(methods.size());
    std::vector<std::array<std::int64_t, kNP>> zero(methods.size(), std::array<std::int64_t, kNP>{}), coll(methods.size(), std::array<std::int64_t, kNP>{});
    for (std::size_t ii = 0; ii < idx.size(); ++ii) {
      const Tensor<float> x = ts.image(idx[ii]);
      const Tensor<double> xd = x.cast<double>();
      const gradattr::Target tgt{sat.classes[static_cast<std::size_t>(idx[ii])]};
      const auto H = x.dim(2), W = x.dim(3);
      const Tensor<float> ref_pre = gradattr::run_method(Method::GradCam, ScoreKind::Pre, mf, x, tgt, ro).displayed(H, W);
      for (std::size_t mi = 0; mi < methods.size(); ++mi)
        for (std::size_t pi = 0; pi < kNP; ++pi) {
          const auto a = gradattr::run_method(methods[mi], kPolicies[pi], mf, x, tgt, ro);
          const auto b = gradattr::run_method(methods[mi], kPolicies[pi], md, xd, tgt, ro);
          const Tensor<float> da = a.displayed(H, W);
          const Tensor<double> db = b.displayed(H, W);
          const bool z = max_abs(da) == 0;
          zero[mi][pi] += z;
          const double r = spearman(da, db);
          sp[mi][pi].push_back(r);
          coll[mi][pi] += (std::isnan(r) && max_abs(db) > 0) || (!std::isnan(r) && r < opt.collapse_below) || z;
          spg[mi][pi].push_back(spearman(da, ref_pre));
        }
      opt.log(std::string("e3 ") + names[g] + ": image " + std::to_string(ii + 1) + "/" + std::to_string(idx.size()));
    }
    if (samples)
      for (std::size_t ii = 0; ii < idx.size(); ++ii) samples->saturated.push_back(g == 0);
    for (std::size_t mi = 0; mi < methods.size(); ++mi)
      for (std::size_t pi = 0; pi < kNP; ++pi)
        all_sp[mi][pi].insert(all_sp[mi][pi].end(), sp[mi][pi].begin(), sp[mi][pi].end());
    for (std::size_t mi = 0; mi < methods.size(); ++mi)
      for (std::size_t pi = 0; pi < kNP; ++pi) {
        E3Row r;
        r.group = names[g];
        r.method = method_name(methods[mi]);
        r.policy = policy_name(kPolicies[pi]);
        r.n = static_cast<std::int64_t>(idx.size());
        const double n = std::max<double>(1, static_cast<double>(idx.size()));
        r.zero_displayed = static_cast<double>(zero[mi][pi]) / n;
        r.collapsed = static_cast<double>(coll[mi][pi]) / n;
        r.spearman_to_double = nan_mean(sp[mi][pi]);
        r.spearman_to_gradcam_pre = nan_mean(spg[mi][pi]);
        rows.push_back(r);
      }
  }
  if (samples) {
    samples->key_header = {"method"};
    for (std::size_t mi = 0; mi < methods.size(); ++mi) samples->cells.push_back({{method_name(methods[mi])}, all_sp[mi]});
  }
  return rows;
}

inline Table e3_table(const std::vector<E3Row>& rows) {
  Table t({"group", "method", "policy", "N", "frac_zero_displayed", "frac_collapsed", "mean_spearman_float_vs_double",
           "mean_spearman_vs_gradcam_pre"});
  for (const auto& r : rows)
    t.add({r.group, r.method, r.policy, std::to_string(r.n), fmt(r.zero_displayed, 3), fmt(r.collapsed, 3),
           fmt(r.spearman_to_double), fmt(r.spearman_to_gradcam_pre)});
  return t;
}

// =============================================================================================
// E4: consistency across independently trained models

struct E4Row {
  std::string method, policy;
  std::int64_t models = 0, n = 0;
  double spearman_mean = 0, spearman_std = 0, iou10_mean = 0;
  std::int64_t undefined = 0;
};

template <class Model>
std::vector<E4Row> run_e4(const std::vector<Model>& models, const TestSet& ts, const std::vector<Method>& methods_in,
                          std::int64_t steps, std::uint64_t seed, const Log& log = no_log, StatsInput* samples = nullptr) {
  const std::vector<Method> methods =
      methods_in.empty() ? std::vector<Method>(gradattr::kGeneralMethods.begin(), gradattr::kGeneralMethods.end()) : methods_in;
  const gradattr::RunOptions ro = run_options(steps, seed);
  std::vector<std::array<std::vector<double>, kNP>> sp(methods.size()), iou(methods.size()), per_image(methods.size());
  for (std::int64_t n = 0; n < ts.size(); ++n) {
    const Tensor<float> x = ts.image(n);
    const gradattr::Target tgt{static_cast<std::int64_t>(ts.labels[static_cast<std::size_t>(n)])};  // the true class: the same for every model
    if (samples) {  // stratum: saturated for the true class under the first model
      const Tensor<float> z = models[0].forward(x);
      const double log_y = static_cast<double>(gradattr::LogSoftmax::score(z, std::vector<std::int64_t>{static_cast<std::int64_t>(ts.labels[static_cast<std::size_t>(n)])})[0]);
      samples->saturated.push_back(-std::expm1(log_y) < gradattr::score::kSaturationThreshold);
    }
    for (std::size_t mi = 0; mi < methods.size(); ++mi)
      for (std::size_t pi = 0; pi < kNP; ++pi) {
        std::vector<Tensor<float>> maps;
        for (const auto& m : models) maps.push_back(gradattr::run_method(methods[mi], kPolicies[pi], m, x, tgt, ro).displayed(x.dim(2), x.dim(3)));
        std::vector<double> this_image;
        for (std::size_t a = 0; a < maps.size(); ++a)
          for (std::size_t b = a + 1; b < maps.size(); ++b) {
            sp[mi][pi].push_back(spearman(maps[a], maps[b]));
            this_image.push_back(sp[mi][pi].back());
            iou[mi][pi].push_back(gradattr::metrics::top_k_iou(maps[a], maps[b], 0.1));
          }
        per_image[mi][pi].push_back(nan_mean(this_image));  // NaN when every pair is undefined
      }
    log("e4: image " + std::to_string(n + 1) + "/" + std::to_string(ts.size()));
  }
  std::vector<E4Row> rows;
  for (std::size_t mi = 0; mi < methods.size(); ++mi)
    for (std::size_t pi = 0; pi < kNP; ++pi) {
      E4Row r;
      r.method = method_name(methods[mi]);
      r.policy = policy_name(kPolicies[pi]);
      r.models = static_cast<std::int64_t>(models.size());
      r.n = ts.size();
      r.spearman_mean = nan_mean(sp[mi][pi], &r.undefined);
      r.spearman_std = nan_std(sp[mi][pi]);
      r.iou10_mean = nan_mean(iou[mi][pi]);
      rows.push_back(r);
    }
  if (samples) {
    samples->key_header = {"method"};
    for (std::size_t mi = 0; mi < methods.size(); ++mi) samples->cells.push_back({{method_name(methods[mi])}, per_image[mi]});
  }
  return rows;
}

inline Table e4_table(const std::vector<E4Row>& rows) {
  Table t({"method", "policy", "models", "N", "mean_pairwise_spearman", "std", "undefined_pairs", "mean_pairwise_top10_iou"});
  for (const auto& r : rows)
    t.add({r.method, r.policy, std::to_string(r.models), std::to_string(r.n), fmt(r.spearman_mean), fmt(r.spearman_std, 3),
           std::to_string(r.undefined), fmt(r.iou10_mean)});
  return t;
}

// =============================================================================================
// E6: Grad-CAM++ vs Grad-CAM+

struct E6Row {
  std::string pair, policy;
  std::int64_t n = 0;
  double spearman_displayed = 0, spearman_raw = 0, iou10 = 0;
  std::int64_t undefined = 0;
};

template <class Model>
std::vector<E6Row> run_e6(const Model& model, const TestSet& ts, const Log& log = no_log, StatsInput* samples = nullptr) {
  struct Pair { const char* name; Method a; const char* a_variant; Method b; };  // "" = the default variant
  const Pair pairs[] = {{"gradcam++ vs gradcam+", Method::GradCamPlusPlus, "", Method::GradCamPlus},
                        {"gradcam++(paper form) vs gradcam+", Method::GradCamPlusPlus, "paper", Method::GradCamPlus},
                        {"gradcam++ vs gradcam", Method::GradCamPlusPlus, "", Method::GradCam},
                        {"gradcam+ vs gradcam", Method::GradCamPlus, "", Method::GradCam}};
  std::vector<E6Row> rows;
  if (samples) {
    samples->key_header = {"pair"};
    for (std::int64_t n = 0; n < ts.size(); ++n) {
      const Tensor<float> z = model.forward(ts.image(n));
      const auto cls = gradattr::Target{}.resolve(z, "e6");
      samples->saturated.push_back(-std::expm1(static_cast<double>(gradattr::LogSoftmax::score(z, cls)[0])) < gradattr::score::kSaturationThreshold);
    }
  }
  for (const auto& p : pairs) {
    if (samples) samples->cells.push_back({{p.name}, {}});
    for (std::size_t pi = 0; pi < kNP; ++pi) {
      const ScoreKind pol = kPolicies[pi];
      std::vector<double> sd, sr, io;
      for (std::int64_t n = 0; n < ts.size(); ++n) {
        const Tensor<float> x = ts.image(n);
        gradattr::RunOptions ra, rb;
        ra.variant = p.a_variant;
        const auto a = gradattr::run_method(p.a, pol, model, x, gradattr::Target{}, ra);
        const auto b = gradattr::run_method(p.b, pol, model, x, gradattr::Target{a.classes[0]}, rb);
        const auto da = a.displayed(x.dim(2), x.dim(3)), db = b.displayed(x.dim(2), x.dim(3));
        sd.push_back(spearman(da, db));
        sr.push_back(spearman(a.raw, b.raw));
        io.push_back(gradattr::metrics::top_k_iou(da, db, 0.1));
      }
      E6Row r;
      r.pair = p.name;
      r.policy = policy_name(pol);
      r.n = ts.size();
      r.spearman_displayed = nan_mean(sd, &r.undefined);
      r.spearman_raw = nan_mean(sr);
      r.iou10 = nan_mean(io);
      rows.push_back(r);
      if (samples) samples->cells.back().v[pi] = sd;
      log(std::string("e6: ") + p.name + " " + r.policy);
    }
  }
  return rows;
}

inline Table e6_table(const std::vector<E6Row>& rows) {
  Table t({"pair", "policy", "N", "mean_spearman_displayed", "mean_spearman_raw", "mean_top10_iou", "undefined"});
  for (const auto& r : rows)
    t.add({r.pair, r.policy, std::to_string(r.n), fmt(r.spearman_displayed), fmt(r.spearman_raw), fmt(r.iou10),
           std::to_string(r.undefined)});
  return t;
}

}  // namespace paper

namespace paper {

// =============================================================================================
// E2b: completeness of the path methods, per score space. Integrated Gradients: Σ IG vs
// S(x) − S(x′) (x′ = the black image, Riemann-right rule, M steps); RSI Grad-CAM: the layer
// completeness Σ G vs S(x) − S(x′). The library reports both (Attribution::completeness_gap);
// per image, the relative gap |Σ − (S(x) − S(x′))| / |S(x) − S(x′)|.

struct CompletenessSamples {
  StatsInput rel_gap;  // key (method, M)
  StatsInput abs_gap;  // key (method, M): |Σ − ΔS|
};

template <class Model>
void run_completeness(const Model& model, const TestSet& ts, const std::vector<std::int64_t>& steps_list,
                      CompletenessSamples& out, const Log& log = no_log) {
  const Method methods[] = {Method::IntegratedGradients, Method::RsiGradCam};
  out.rel_gap.key_header = out.abs_gap.key_header = {"method", "M"};
  for (std::int64_t n = 0; n < ts.size(); ++n) {
    const Tensor<float> z = model.forward(ts.image(n));
    const auto cls = gradattr::Target{}.resolve(z, "completeness");
    const bool sat = -std::expm1(static_cast<double>(gradattr::LogSoftmax::score(z, cls)[0])) < gradattr::score::kSaturationThreshold;
    out.rel_gap.saturated.push_back(sat);
    out.abs_gap.saturated.push_back(sat);
  }
  for (Method m : methods)
    for (std::int64_t M : steps_list) {
      Samples rel{{method_name(m), std::to_string(M)}, {}}, ab = rel;
      gradattr::RunOptions ro = run_options(M, 0);
      for (std::int64_t n = 0; n < ts.size(); ++n) {
        const Tensor<float> x = ts.image(n);
        for (std::size_t pi = 0; pi < kNP; ++pi) {
          const auto a = gradattr::run_method(m, kPolicies[pi], model, x, gradattr::Target{}, ro);
          const double gap = static_cast<double>(a.completeness_gap[0]), ds = static_cast<double>(a.score_difference[0]);
          ab.v[pi].push_back(std::abs(gap));
          rel.v[pi].push_back(ds != 0 ? std::abs(gap) / std::abs(ds) : std::numeric_limits<double>::quiet_NaN());
        }
      }
      out.rel_gap.cells.push_back(std::move(rel));
      out.abs_gap.cells.push_back(std::move(ab));
      log("completeness: " + method_name(m) + " M=" + std::to_string(M));
    }
}

}  // namespace paper
