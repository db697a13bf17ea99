#pragma once
// E7: class discriminativeness with ground truth (issue 13 §4, docs/methods.md §8).
//
// A model trained on single Fashion-MNIST items at random positions of a zero 56×56 canvas
// (train_fashion --canvas 56) sees test composites holding two items of different classes in
// known, non-overlapping 28×28 boxes (train_fashion/canvas.hpp). Each composite is explained
// for both items' classes with every method × score space, and per explained class:
//   pointing   1 when the argmax of the displayed map (first in raster order) lies in the
//              explained item's box, 0 when not, NaN when the map is constant (no argmax);
//   share_own  Σ of the displayed map (ReLU'd, upsampled, min–max: the positive attribution
//              as shown) inside the explained item's box / Σ over the canvas (NaN when Σ = 0);
//   share_other the same inside the distractor's box;
//   contrast   share_own − share_other (> 0: the map favours the explained item);
// and per composite:
//   spearman_ab the Spearman rank correlation of the displayed maps for class a and for class b
//              (low = the two classes' maps differ = class-discriminative; NaN when either is
//              constant).
// Strata: per explained class, saturated when 1 − y_c < 1e-4 for that class; per composite
// (spearman_ab), saturated when either class is.
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <gradattr/attribution/runtime.hpp>
#include <gradattr/metrics/agreement.hpp>

#include "../train_fashion/trainer.hpp"  // canvas.hpp, kClassNames
#include "experiments.hpp"

namespace paper {

using train_fashion::Box;
using train_fashion::Composite;

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// 1/0 when the first argmax (raster order) of the S×S map `m` is inside / outside b; NaN when the
// map is constant.
template <class T>
double pointing_hit(const T* m, std::int64_t S, const Box& b) {
  std::int64_t arg = 0;
  T lo = m[0], hi = m[0];
  for (std::int64_t i = 1; i < S * S; ++i) {
    if (m[i] > hi) hi = m[i], arg = i;
    if (m[i] < lo) lo = m[i];
  }
  if (!(hi > lo)) return kNaN;
  return b.contains(arg / S, arg % S) ? 1.0 : 0.0;
}

// Σ of the S×S map inside b / Σ over the map (the map is non-negative); NaN when the total is 0.
template <class T>
double box_share(const T* m, std::int64_t S, const Box& b) {
  double in = 0, all = 0;
  for (std::int64_t i = 0; i < S; ++i)
    for (std::int64_t j = 0; j < S; ++j) {
      const double v = static_cast<double>(m[i * S + j]);
      all += v;
      if (b.contains(i, j)) in += v;
    }
  return all > 0 ? in / all : kNaN;
}

inline const char* kE7Metrics[4] = {"pointing", "share_own", "share_other", "contrast"};

struct E7Options {
  std::vector<Method> methods;  // empty: all of kGeneralMethods
  std::int64_t steps = 16;
  std::uint64_t seed = 0;           // SmoothGrad noise
  std::int64_t canvas = 56;
  std::int64_t batch = 8;           // composites per run_method call (2 images each: class a, class b)
  std::int64_t figure_composites = 3;
  Log log = no_log;
};

struct E7Samples {
  StatsInput per_class;  // key (method, metric); 2 samples per composite: class a, then class b
  StatsInput pair;       // key (method, "spearman_ab"); 1 sample per composite
};

struct E7Figure {
  std::vector<Composite> composites;
  std::vector<Tensor<float>> images;  // [1, 1, S, S] each
  std::vector<Method> methods;
  // displayed[composite][class 0/1][method][policy] (S×S)
  std::vector<std::array<std::vector<std::array<Tensor<float>, kNP>>, 2>> displayed;
};

struct E7Diagnostics {
  std::int64_t n = 0;
  std::int64_t top1_in_pair = 0;   // the top class is one of the two items' classes
  std::int64_t top2_is_pair = 0;   // the two top classes are the two items' classes
  std::int64_t saturated_classes = 0;  // (composite, class) with 1 − y_c < 1e-4
  double mean_y_sum = 0;           // mean of y_a + y_b
};

// Composites of `ts` (t10k), explained for both classes.
template <class Model>
void run_e7(const Model& model, const TestSet& ts_all, std::int64_t n, std::uint64_t composite_seed, const E7Options& opt,
            E7Samples& out, E7Diagnostics* diag = nullptr, E7Figure* figure = nullptr) {
  const std::vector<Method> methods =
      opt.methods.empty() ? std::vector<Method>(gradattr::kGeneralMethods.begin(), gradattr::kGeneralMethods.end()) : opt.methods;
  const std::int64_t S = opt.canvas;
  std::vector<std::int64_t> labels(ts_all.labels.begin(), ts_all.labels.end());
  const std::vector<Composite> cs = train_fashion::make_composites(labels, n, S, composite_seed);
  const gradattr::RunOptions ro = run_options(opt.steps, opt.seed);
  // per_image values [method][policy][metric] -> vector over samples
  std::vector<std::array<std::array<std::vector<double>, 4>, kNP>> pc(methods.size());
  std::vector<std::array<std::vector<double>, kNP>> pr(methods.size());
  out.per_class = {};
  out.pair = {};
  if (figure) {
    figure->methods = methods;
    figure->composites.assign(cs.begin(), cs.begin() + std::min<std::int64_t>(opt.figure_composites, n));
    figure->images.clear();
    figure->displayed.assign(figure->composites.size(), {});
    for (auto& d : figure->displayed)
      for (auto& c : d) c.assign(methods.size(), {});
  }
  E7Diagnostics dg;
  for (std::int64_t b0 = 0; b0 < n; b0 += opt.batch) {
    const std::int64_t B = std::min(opt.batch, n - b0);
    const std::vector<Composite> chunk(cs.begin() + b0, cs.begin() + b0 + B);
    const Tensor<float> img = train_fashion::render_composites(ts_all.x, chunk, S);  // [B, 1, S, S]
    // each composite twice: row 2k explains class a, row 2k + 1 class b
    Tensor<float> x = Tensor<float>::uninitialized({2 * B, 1, S, S});
    std::vector<std::int64_t> cls;
    for (std::int64_t k = 0; k < B; ++k) {
      for (int t = 0; t < 2; ++t) {
        std::copy(img.data() + k * S * S, img.data() + (k + 1) * S * S, x.data() + (2 * k + t) * S * S);
        cls.push_back(chunk[static_cast<std::size_t>(k)].label[static_cast<std::size_t>(t)]);
      }
      if (figure && b0 + k < static_cast<std::int64_t>(figure->composites.size())) figure->images.push_back(img.slice_batch(k).clone());
    }
    const gradattr::Target tgt = gradattr::Target::per_image(cls);
    {  // saturation of each explained class, and the diagnostics
      const Tensor<float> z = model.forward(img);
      for (std::int64_t k = 0; k < B; ++k) {
        std::array<double, 2> one_minus{};
        std::vector<std::pair<float, std::int64_t>> order;
        for (std::int64_t j = 0; j < z.dim(1); ++j) order.push_back({z(k, j), j});
        std::sort(order.begin(), order.end(), [](auto& a, auto& b) { return a.first > b.first; });
        double ysum = 0;
        for (int t = 0; t < 2; ++t) {
          const std::int64_t c = cls[static_cast<std::size_t>(2 * k + t)];
          const double ly = static_cast<double>(gradattr::LogSoftmax::score(z.slice_batch(k).clone(), std::vector<std::int64_t>{c})[0]);
          one_minus[static_cast<std::size_t>(t)] = -std::expm1(ly);
          ysum += std::exp(ly);
          const bool sat = one_minus[static_cast<std::size_t>(t)] < gradattr::score::kSaturationThreshold;
          out.per_class.saturated.push_back(sat);
          dg.saturated_classes += sat;
        }
        out.pair.saturated.push_back(out.per_class.saturated[out.per_class.saturated.size() - 1] ||
                                     out.per_class.saturated[out.per_class.saturated.size() - 2]);
        const auto& c = chunk[static_cast<std::size_t>(k)];
        dg.top1_in_pair += order[0].second == c.label[0] || order[0].second == c.label[1];
        dg.top2_is_pair += (order[0].second == c.label[0] && order[1].second == c.label[1]) ||
                           (order[0].second == c.label[1] && order[1].second == c.label[0]);
        dg.mean_y_sum += ysum;
        ++dg.n;
      }
    }
    for (std::size_t mi = 0; mi < methods.size(); ++mi)
      for (std::size_t pi = 0; pi < kNP; ++pi) {
        const Tensor<float> d = gradattr::run_method(methods[mi], kPolicies[pi], model, x, tgt, ro).displayed(S, S);
        for (std::int64_t k = 0; k < B; ++k) {
          const auto& c = chunk[static_cast<std::size_t>(k)];
          for (int t = 0; t < 2; ++t) {
            const float* m = d.data() + (2 * k + t) * S * S;
            const Box& own = c.box[static_cast<std::size_t>(t)];
            const Box& other = c.box[static_cast<std::size_t>(1 - t)];
            const double so = box_share(m, S, own), sd = box_share(m, S, other);
            auto& v = pc[mi][pi];
            v[0].push_back(pointing_hit(m, S, own));
            v[1].push_back(so);
            v[2].push_back(sd);
            v[3].push_back(so - sd);
          }
          Tensor<float> ma = Tensor<float>::uninitialized({S, S}), mb = Tensor<float>::uninitialized({S, S});
          std::copy(d.data() + 2 * k * S * S, d.data() + (2 * k + 1) * S * S, ma.data());
          std::copy(d.data() + (2 * k + 1) * S * S, d.data() + (2 * k + 2) * S * S, mb.data());
          pr[mi][pi].push_back(gradattr::metrics::spearman(ma, mb));
          if (figure && b0 + k < static_cast<std::int64_t>(figure->composites.size()))
            for (int t = 0; t < 2; ++t) {
              Tensor<float> m = Tensor<float>::uninitialized({1, S, S});
              std::copy(d.data() + (2 * k + t) * S * S, d.data() + (2 * k + t + 1) * S * S, m.data());
              figure->displayed[static_cast<std::size_t>(b0 + k)][static_cast<std::size_t>(t)][mi][pi] = std::move(m);
            }
        }
      }
    opt.log("e7: composites " + std::to_string(b0 + B) + "/" + std::to_string(n));
  }
  out.per_class.key_header = {"method", "metric"};
  out.pair.key_header = {"method", "metric"};
  for (std::size_t mi = 0; mi < methods.size(); ++mi) {
    for (int k = 0; k < 4; ++k) {
      Samples s{{method_name(methods[mi]), kE7Metrics[k]}, {}};
      for (std::size_t pi = 0; pi < kNP; ++pi) s.v[pi] = pc[mi][pi][static_cast<std::size_t>(k)];
      out.per_class.cells.push_back(std::move(s));
    }
    Samples s{{method_name(methods[mi]), "spearman_ab"}, {}};
    for (std::size_t pi = 0; pi < kNP; ++pi) s.v[pi] = pr[mi][pi];
    out.pair.cells.push_back(std::move(s));
  }
  if (diag) *diag = dg;
  if (diag && dg.n) diag->mean_y_sum = dg.mean_y_sum / static_cast<double>(dg.n);
}

// The accuracy of the model on single items at seeded random positions of the canvas (the first
// n t10k items; positions from std::mt19937_64(seed), as train_fashion's test accuracy).
template <class Model>
double e7_single_accuracy(const Model& model, const TestSet& ts, std::int64_t n, std::int64_t S, std::uint64_t seed = 0x7E57) {
  std::mt19937_64 rng(seed);
  std::int64_t ok = 0;
  n = std::min(n, ts.size());
  for (std::int64_t b = 0; b < n; b += 500) {
    const std::int64_t e = std::min(n, b + 500);
    const Tensor<float> z = model.forward(train_fashion::random_placement(ts.batch(b, e - b), S, rng));
    const auto top = gradattr::Target{}.resolve(z, "e7");
    for (std::int64_t i = 0; i < e - b; ++i) ok += top[static_cast<std::size_t>(i)] == ts.labels[static_cast<std::size_t>(b + i)];
  }
  return n ? static_cast<double>(ok) / static_cast<double>(n) : kNaN;
}

// A rectangle outline (1 px, colour rgb) on an RGB [H, W, 3] image, box coordinates scaled by f.
inline void draw_box(Tensor<std::uint8_t>& img, const Box& b, int f, std::array<std::uint8_t, 3> rgb) {
  const std::int64_t H = img.dim(0), W = img.dim(1);
  auto put = [&](std::int64_t i, std::int64_t j) {
    if (i < 0 || j < 0 || i >= H || j >= W) return;
    for (int c = 0; c < 3; ++c) img[(i * W + j) * 3 + c] = rgb[static_cast<std::size_t>(c)];
  };
  const std::int64_t r0 = b.r * f, c0 = b.c * f, r1 = (b.r + b.h) * f - 1, c1 = (b.c + b.w) * f - 1;
  for (std::int64_t j = c0; j <= c1; ++j) put(r0, j), put(r1, j);
  for (std::int64_t i = r0; i <= r1; ++i) put(i, c0), put(i, c1);
}

// Rows: composite × explained class; columns: methods in `show` × score spaces. The explained
// item's box in green, the distractor's in red.
inline Tensor<std::uint8_t> e7_panel(const E7Figure& f, const std::vector<Method>& show) {
  std::vector<std::vector<Tensor<std::uint8_t>>> tiles;
  std::vector<std::string> rows, cols;
  const int scale = 3;
  for (Method m : show)
    for (std::size_t pi = 0; pi < kNP; ++pi) cols.push_back(std::string(gradattr::display_name(m)) + " " + policy_name(kPolicies[pi]));
  for (std::size_t k = 0; k < f.composites.size(); ++k)
    for (int t = 0; t < 2; ++t) {
      const auto& c = f.composites[k];
      rows.push_back("#" + std::to_string(k) + " explain " + train_fashion::kClassNames[static_cast<std::size_t>(c.label[static_cast<std::size_t>(t)])]);
      std::vector<Tensor<std::uint8_t>> r;
      for (Method m : show) {
        std::size_t mi = f.methods.size();
        for (std::size_t i = 0; i < f.methods.size(); ++i)
          if (f.methods[i] == m) mi = i;
        for (std::size_t pi = 0; pi < kNP; ++pi) {
          if (mi == f.methods.size()) { r.push_back(Tensor<std::uint8_t>()); continue; }
          Tensor<std::uint8_t> tile = overlay_tile(f.images[k], f.displayed[k][static_cast<std::size_t>(t)][mi][pi], scale);
          draw_box(tile, c.box[static_cast<std::size_t>(1 - t)], scale, {220, 40, 40});
          draw_box(tile, c.box[static_cast<std::size_t>(t)], scale, {40, 220, 40});
          r.push_back(std::move(tile));
        }
      }
      tiles.push_back(std::move(r));
    }
  return gradattr::viz::make_panel(tiles, rows, cols);
}

}  // namespace paper

namespace paper {

// E7's tables and values: e7_ci/_cmp/_cmp_counts (every method × metric × stratum × pair, one
// Holm family), per metric the digests e7_<metric>_ci_<stratum> and e7_<metric>_vs_pre_<stratum>;
// the per-composite Spearman as e7_spearman_ab_* (its own family); e7_composites (the model and
// the composites). Values: e7.<metric>.<method>.<policy> = "mean [lo, hi]" (all composites).
inline void e7_report(const E7Samples& s, const E7Diagnostics& dg, double single_accuracy, const fs::path& out, Values& v) {
  const StatsOut so = write_stats(s.per_class, out, "e7");
  for (const char* metric : kE7Metrics) {
    const std::string m = metric;
    const auto sub = subset(s.per_class, [&](const Samples& c) { return c.key[1] == m; });
    for (int st_i = 0; st_i < 3; ++st_i) {
      ci_wide(sub, so.ci, st_i).write(out, "e7_" + m + "_ci_" + kStrata[st_i]);
      cmp_wide(sub, so.cmp, st_i).write(out, "e7_" + m + "_vs_pre_" + kStrata[st_i]);
    }
    std::vector<CmpRow> rs;
    for (const auto& r : so.cmp)
      if (r.key[1] == m) rs.push_back(r);
    count_values(v, "e7." + m, rs);
  }
  const StatsOut sp = write_stats(s.pair, out, "e7_spearman_ab");
  for (int st_i = 0; st_i < 3; ++st_i) {
    ci_wide(s.pair, sp.ci, st_i).write(out, std::string("e7_spearman_ab_ci_") + kStrata[st_i]);
    cmp_wide(s.pair, sp.cmp, st_i).write(out, std::string("e7_spearman_ab_vs_pre_") + kStrata[st_i]);
  }
  count_values(v, "e7.spearman_ab", sp.cmp);
  for (const auto* rows : {&so.ci, &sp.ci})
    for (const auto& r : *rows)
      if (r.stratum == 0) v.ci("e7." + r.key[1] + "." + r.key[0] + "." + policy_name(kPolicies[r.policy]), r.ci);
  std::int64_t nsat = 0;
  for (char c : s.per_class.saturated) nsat += c;
  Table t({"quantity", "value"});
  t.add({"composites", std::to_string(dg.n)});
  t.add({"explained (composite, class) pairs", std::to_string(2 * dg.n)});
  t.add({"of which saturated (1 - y_c < 1e-4)", std::to_string(nsat)});
  t.add({"single items on the canvas: accuracy", fmt(single_accuracy, 4)});
  t.add({"composites: top class is one of the two items'", fmt(static_cast<double>(dg.top1_in_pair) / static_cast<double>(dg.n), 4)});
  t.add({"composites: the two top classes are the two items'", fmt(static_cast<double>(dg.top2_is_pair) / static_cast<double>(dg.n), 4)});
  t.add({"composites: mean y_a + y_b", fmt(dg.mean_y_sum, 4)});
  t.write(out, "e7_composites");
  v.set("e7.n_composites", std::to_string(dg.n));
  v.set("e7.n_saturated", std::to_string(nsat));
  v.set("e7.n_unsaturated", std::to_string(2 * dg.n - nsat));
  v.set("e7.single_accuracy", single_accuracy, 4);
  v.set("e7.top1_in_pair", static_cast<double>(dg.top1_in_pair) / static_cast<double>(dg.n), 4);
  v.set("e7.top2_is_pair", static_cast<double>(dg.top2_is_pair) / static_cast<double>(dg.n), 4);
  v.set("e7.mean_y_sum", dg.mean_y_sum, 4);
}

}  // namespace paper
