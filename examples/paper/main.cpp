// paper_experiments: the experiments of docs/report.md (Lerma & Lucas, pre- vs post-softmax
// scores in gradient-based attribution). One subcommand per experiment; each writes CSV tables
// (and the same tables as markdown) and PNG figures into --out (default docs/report).
//
//   paper_experiments e1 [--limit N] [--ks 0.01,1,100,10000] [--methods all] [--vgg19-limit 1] ...
//   paper_experiments e2 [--limit N]
//   paper_experiments e3 [--limit N] [--per-group G]
//   paper_experiments e4 --models a.safetensors,b.safetensors,... [--limit N]
//   paper_experiments e5 --sweep e5.sqlite     (a `gradattr sweep` database: e5_faithfulness.hpp)
//   paper_experiments e6 [--limit N]
//   paper_experiments e8 [--limit N] [--shuffled-weights M.safetensors] [--randomise-seed S]
//   paper_experiments e9 [--limit N] [--fractions 0.1,...,0.9] [--noise 0.01] [--curve-steps S]
//   paper_experiments e7 --weights canvas56.safetensors [--limit N] [--canvas 56] [--composite-seed S]
//   paper_experiments e10 --smoothing 0,0.1,0.2 --models e0s1,e0s2,e1s1,e1s2,... [--limit N]
//   paper_experiments e11 --vit vit_fashion.onnx --vit-random vit_fashion_random.onnx [--limit N]
//                         [--faithfulness-sweep e11.sqlite]   (ONNX build)
//
// Common options: --weights (default examples/data/fashion_vgg.safetensors; a seeded random
// model of the same shape when the file is missing, and the tables say so), --data (the
// Fashion-MNIST directory), --steps (path methods' M and SmoothGrad's samples), --seed.
// Scripted in scripts/run-paper-experiments.sh.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "e8_sanity.hpp"
#include "e9_road.hpp"
#include "e10_smoothing.hpp"
#include "e7_composites.hpp"
#include "e11_vit.hpp"
#include "e5_faithfulness.hpp"
#include "experiments.hpp"
#include "report.hpp"

namespace {

using namespace paper;

struct Common {
  std::string out = "docs/report";
  std::string weights = "examples/data/fashion_vgg.safetensors";
  std::string data = kDefaultData;
  std::int64_t limit = 0;
  std::int64_t steps = 50;
  std::uint64_t seed = 0;
  std::string methods = "all";
  std::string commit;  // empty: `git describe --dirty --always` in the working directory
};

void add_common(CLI::App* app, Common& c, std::int64_t default_limit) {
  c.limit = default_limit;
  app->add_option("--out", c.out, "output directory")->capture_default_str();
  app->add_option("--weights", c.weights, "the Fashion-MNIST model")->capture_default_str();
  app->add_option("--data", c.data, "Fashion-MNIST directory (t10k-*.gz)")->capture_default_str();
  app->add_option("--limit", c.limit, "number of test images (the first N of t10k)")->capture_default_str();
  app->add_option("--steps", c.steps, "path methods' steps M, SmoothGrad's samples")->capture_default_str();
  app->add_option("--seed", c.seed, "SmoothGrad noise / random baselines")->capture_default_str();
  app->add_option("--methods", c.methods, "comma-separated method names, or all")->capture_default_str();
  app->add_option("--commit", c.commit, "the commit to record in <exp>_run.md (default: git describe --dirty --always)");
}

std::string git_describe() {
  std::string out;
  if (FILE* p = popen("git describe --dirty --always 2>/dev/null", "r")) {
    char buf[256];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out.empty() ? "unknown" : out;
}

Log stderr_log() {
  return [](const std::string& s) { std::fprintf(stderr, "%s\n", s.c_str()); };
}

std::vector<double> parse_doubles(const std::string& s) {
  std::vector<double> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) v.push_back(std::stod(item));
  return v;
}

int openmp_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// <out>/<name>_run.md: what produced the tables (commit, command, model, N, seconds), and the
// same facts as report values <name>.commit, .command, .N, .seconds in <out>/<name>_values.csv.
void write_run_info(const Common& c, const std::string& name, const std::string& command, const std::string& model,
                    const std::string& extra, double seconds, Values values = {}, std::int64_t n_images = -1) {
  const std::string commit = c.commit.empty() ? git_describe() : c.commit;
  const std::int64_t N = n_images >= 0 ? n_images : c.limit;
  std::string s = "commit: " + commit + "\n\ncommand: `" + command + "`\n\nmodel: " + model + "\n\nN (test images): " +
                  std::to_string(N) + "; steps: " + std::to_string(c.steps) + "; seed: " + std::to_string(c.seed) + "\n\n" +
                  extra + "\n\nwall time: " + fmt(seconds, 3) + " s on " + std::to_string(openmp_threads()) + " OpenMP thread(s)\n";
  Table::write_text(fs::path(c.out) / (name + "_run.md"), s);
  values.set(name + ".commit", commit);
  values.set(name + ".command", command);
  values.set(name + ".N", std::to_string(N));
  values.set(name + ".seconds", fmt(seconds, 3));
  values.set(name + ".minutes", fmt(seconds / 60, 2));
  values.write(c.out, name);
}

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Fashion image 0 upscaled (bilinear, half-pixel) to 224×224, grey replicated to RGB and
// ImageNet-normalised: the VGG19 input.
Tensor<float> vgg19_input(const TestSet& ts) {
  const Tensor<float> g = ts.image(0);
  const std::int64_t S = 224, h = g.dim(2), w = g.dim(3);
  const float mean[3] = {0.485f, 0.456f, 0.406f}, stdv[3] = {0.229f, 0.224f, 0.225f};
  auto x = Tensor<float>::uninitialized({1, 3, S, S});
  for (std::int64_t i = 0; i < S; ++i)
    for (std::int64_t j = 0; j < S; ++j) {
      const double sy = std::clamp((static_cast<double>(i) + 0.5) * static_cast<double>(h) / S - 0.5, 0.0, static_cast<double>(h - 1));
      const double sx = std::clamp((static_cast<double>(j) + 0.5) * static_cast<double>(w) / S - 0.5, 0.0, static_cast<double>(w - 1));
      const auto y0 = static_cast<std::int64_t>(sy), x0 = static_cast<std::int64_t>(sx);
      const auto y1 = std::min(y0 + 1, h - 1), x1 = std::min(x0 + 1, w - 1);
      const double fy = sy - static_cast<double>(y0), fx = sx - static_cast<double>(x0);
      const double v = (1 - fy) * ((1 - fx) * g[y0 * w + x0] + fx * g[y0 * w + x1]) + fy * ((1 - fx) * g[y1 * w + x0] + fx * g[y1 * w + x1]);
      for (int c = 0; c < 3; ++c) x[(c * S + i) * S + j] = static_cast<float>((v - mean[c]) / stdv[c]);
    }
  return x;
}

// E1's Grad-CAM weight table (rows with method gradcam and images "all") of the models `pick`
// accepts; the max relative error of Pre's w′ − w against K/Z over them at K >= 1 in *pre_err.
template <class Pick>
Table e1_weights_table(const std::vector<E1Row>& rows, Pick pick, double* pre_err) {
  Table w({"model", "K", "policy", "K/Z", "pre: max rel. error of w'-w vs K/Z", "max abs. error of w'-w (vs K/Z for pre, vs 0 otherwise)",
           "spread of w'-w over channels", "max abs w", "max rel. change of raw maps"});
  for (const auto& r : rows) {
    if (r.images != "all" || r.method != "gradcam" || !pick(r.model)) continue;
    const bool pre_shift = r.policy == "pre" && r.z_over_k > 0;
    w.add({r.model, fmt(r.k, 3), r.policy, fmt(r.z_over_k, 3), pre_shift ? fmt(r.weight_shift_error, 3) : "-",
           fmt(r.weight_abs_diff, 3), fmt(r.weight_diff_spread, 3), fmt(r.weight_max, 3), fmt(r.max_rel_diff_raw, 3)});
    if (pre_shift && r.k >= 1) *pre_err = std::max(*pre_err, r.weight_shift_error);
  }
  return w;
}

// E1's method × (policy, K) table of the max relative change of the raw maps over the images of
// one model (and the mean Spearman ρ of original vs twin when `rho`).
Table e1_maxrel_table(const std::vector<E1Row>& rows, const std::string& model, bool rho) {
  std::vector<std::string> ks, methods;
  for (const auto& r : rows) {
    if (r.model != model) continue;
    if (std::find(ks.begin(), ks.end(), fmt(r.k, 3)) == ks.end()) ks.push_back(fmt(r.k, 3));
    if (std::find(methods.begin(), methods.end(), r.method) == methods.end()) methods.push_back(r.method);
  }
  std::vector<std::string> h{"method"};
  for (ScoreKind p : kPolicies)
    for (const auto& k : ks) h.push_back(policy_name(p) + " K=" + k);
  Table t(h);
  for (const auto& m : methods) {
    std::vector<std::string> row{m};
    for (ScoreKind p : kPolicies)
      for (const auto& k : ks) {
        std::string cell = "-";
        for (const auto& r : rows)
          if (r.model == model && r.images == "all" && r.method == m && r.policy == policy_name(p) && fmt(r.k, 3) == k)
            cell = fmt(r.max_rel_diff_raw, 2) + (rho ? " (ρ " + fmt(r.spearman_raw_mean, 3) + ")" : "");
        row.push_back(cell);
      }
    t.add(row);
  }
  return t;
}

// The max relative change over the shift-invariant score spaces, per "<model>.k<K>", as values
// <prefix>.<model>.k<K>.shiftinv_max_rel.
void e1_shiftinv_values(const std::vector<E1Row>& rows, const std::string& prefix, Values& v) {
  std::map<std::string, double> maxrel;
  for (const auto& r : rows)
    if (r.images == "all" && r.policy != "pre") {
      const std::string k = r.model + ".k" + fmt(r.k, 3);
      maxrel[k] = std::max(maxrel[k], r.max_rel_diff_raw);
    }
  for (const auto& [k, m] : maxrel) v.set(prefix + "." + k + ".shiftinv_max_rel", m, 2);
}

// E1's report tables and values from its rows and per-image samples.
void e1_report(const std::vector<E1Row>& rows, const E1Samples& smp, const fs::path& out, Values& v) {
  const StatsOut so = write_stats(smp.spearman, out, "e1_spearman");
  auto k_in = [](std::initializer_list<const char*> ks) {
    return [ks](const Samples& c) {
      for (const char* k : ks)
        if (c.key[1] == k) return true;
      return false;
    };
  };
  const StatsInput k1_100 = subset(smp.spearman, k_in({"1", "100"}));
  ci_wide(k1_100, so.ci, 0).write(out, "e1_spearman_ci_all");
  ci_wide(subset(smp.spearman, k_in({"100"})), so.ci, 1).write(out, "e1_spearman_ci_saturated_k100");
  ci_wide(subset(smp.spearman, k_in({"100"})), so.ci, 2).write(out, "e1_spearman_ci_unsaturated_k100");
  cmp_wide(subset(smp.spearman, k_in({"100"})), so.cmp, 0).write(out, "e1_spearman_vs_pre_k100");
  count_values(v, "e1", so.cmp);
  std::int64_t nsat = 0;
  for (char c : smp.spearman.saturated) nsat += c;
  v.set("e1.fashion.n_saturated", std::to_string(nsat));
  v.set("e1.fashion.n_unsaturated", std::to_string(static_cast<std::int64_t>(smp.spearman.saturated.size()) - nsat));
  double pre_err = 0;
  e1_weights_table(rows, [](const std::string&) { return true; }, &pre_err).write(out, "e1_weights");
  {  // the value covers the Fashion model only (VGG19's single image is in the table)
    double fashion_err = 0;
    e1_weights_table(rows, [](const std::string& m) { return m == "fashion"; }, &fashion_err);
    v.set("e1.fashion.pre_weight_rel_err_max", fashion_err, 2);
  }
  e1_shiftinv_values(rows, "e1", v);
  for (const std::string model : {"fashion", "vgg19-random"}) {
    bool any = false;
    for (const auto& r : rows) any = any || r.model == model;
    if (any) e1_maxrel_table(rows, model, model != "fashion").write(out, "e1_maxrel_" + model);
  }
}

// E11's tables and values (e11_vit.hpp): the twin on the ViTs, its statistics, faithfulness.
void e11_report(const E11Result& r, const E5Result* faith, const fs::path& out, Values& v) {
  v.set("e11.N", std::to_string(r.n));
  v.set("e11.accuracy", static_cast<double>(r.correct) / static_cast<double>(std::max<std::int64_t>(r.n, 1)), 3);
  v.set("e11.layer", r.layer);
  double pre_err = 0;
  e1_weights_table(r.twin_rows, [](const std::string&) { return true; }, &pre_err).write(out, "e11_weights");
  v.set("e11.pre_weight_rel_err_max", pre_err, 2);
  e1_shiftinv_values(r.twin_rows, "e11", v);
  std::vector<std::string> models;
  for (const auto& row : r.twin_rows)
    if (std::find(models.begin(), models.end(), row.model) == models.end()) models.push_back(row.model);
  for (const auto& m : models) {
    std::string file = m;
    std::replace(file.begin(), file.end(), '/', '_');
    e1_maxrel_table(r.twin_rows, m, true).write(out, "e11_maxrel_" + file);
  }
  // Attention relevance under Pre: its largest relative change at K = 100, per twin.
  for (const auto& row : r.twin_rows)
    if (row.images == "all" && row.method == "attention-relevance" && row.k == 100) {
      std::string key = row.model;
      std::replace(key.begin(), key.end(), '/', '.');
      v.set("e11." + key + ".relevance_" + row.policy + "_k100", row.max_rel_diff_raw, 2);
    }
  const auto k100 = [](const Samples& c) { return c.key[1] == "100"; };
  const StatsOut so = write_stats(r.twin_samples.spearman, out, "e11_spearman");
  for (int s = 0; s < 3; ++s) ci_wide(subset(r.twin_samples.spearman, k100), so.ci, s).write(out, std::string("e11_spearman_ci_k100_") + kStrata[s]);
  cmp_wide(subset(r.twin_samples.spearman, k100), so.cmp, 0).write(out, "e11_spearman_vs_pre_k100");
  count_values(v, "e11.twin", so.cmp);
  std::int64_t nsat = 0;
  for (char c : r.twin_samples.spearman.saturated) nsat += c;
  v.set("e11.n_saturated", std::to_string(nsat));
  v.set("e11.n_unsaturated", std::to_string(static_cast<std::int64_t>(r.twin_samples.spearman.saturated.size()) - nsat));
  if (faith) {
    const StatsOut fo = write_stats(faith->samples.auc, out, "e11_auc");
    const auto post = [](const Samples& c) { return c.key[2] == "post"; };
    ci_wide(subset(faith->samples.auc, post), fo.ci, 0).write(out, "e11_auc_ci_eval_post");
    cmp_wide(subset(faith->samples.auc, post), fo.cmp, 0).write(out, "e11_auc_vs_pre_eval_post");
    std::vector<CmpRow> rs;
    for (const auto& c : fo.cmp)
      if (c.key[2] == "post") rs.push_back(c);
    cmp_counts(rs).write(out, "e11_auc_cmp_counts_eval_post");
    count_values(v, "e11.auc_eval_post", rs);
    for (int c = 0; c < 2; ++c)
      v.ci("e11.random." + std::string(c ? "insertion" : "deletion") + ".eval_post",
           st::bootstrap_mean_ci(faith->samples.random[static_cast<std::size_t>(c)][policy_index(ScoreKind::Post)], boot_options()));
  }
}

// The per-image statistics of an experiment with the usual digests: <name>_ci/_cmp/_cmp_counts,
// <name>_ci_{all,saturated,unsaturated} and <name>_vs_pre_{all,saturated,unsaturated}.
StatsOut standard_report(const StatsInput& in, const fs::path& out, const std::string& name, Values& v, int digits = 3) {
  const StatsOut so = write_stats(in, out, name);
  for (int s = 0; s < 3; ++s) {
    ci_wide(in, so.ci, s, digits).write(out, name + "_ci_" + kStrata[s]);
    cmp_wide(in, so.cmp, s, digits).write(out, name + "_vs_pre_" + kStrata[s]);
  }
  count_values(v, name, so.cmp);
  std::int64_t nsat = 0;
  for (char c : in.saturated) nsat += c;
  v.set(name + ".n_saturated", std::to_string(nsat));
  v.set(name + ".n_unsaturated", std::to_string(static_cast<std::int64_t>(in.saturated.size()) - nsat));
  return so;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"gradattr paper experiments (docs/report.md)"};
  app.require_subcommand(1);
  std::string command;
  command = "paper_experiments";  // argv[0] without its directory (the build tree differs between machines)
  for (int i = 1; i < argc; ++i) command += " " + std::string(argv[i]);

  // E1
  Common c1;
  auto* e1 = app.add_subcommand("e1", "vulnerability: original vs shifted twin, per method x policy x K");
  add_common(e1, c1, 16);
  std::string ks = "0.01,1,100,10000", vgg19_ks = "0.01,100,10000", vgg19_methods = "gradcam,gradcam++,hirescam,saliency";
  std::string vgg19_weights;
  std::int64_t vgg19_limit = 1;
  double figure_k = 100;
  e1->add_option("--ks", ks, "K values")->capture_default_str();
  e1->add_option("--figure-k", figure_k, "the K of the panel figure")->capture_default_str();
  e1->add_option("--vgg19-limit", vgg19_limit, "images for VGG19 (0: skip VGG19)")->capture_default_str();
  e1->add_option("--vgg19-ks", vgg19_ks, "K values for VGG19")->capture_default_str();
  e1->add_option("--vgg19-methods", vgg19_methods, "methods for VGG19")->capture_default_str();
  e1->add_option("--vgg19-weights", vgg19_weights, "VGG19 weights (default: random, seed --seed)");

  // E2
  Common c2;
  auto* e2 = app.add_subcommand("e2", "information gain: dL/dx = -d log y_c/dx");
  add_common(e2, c2, 1000);
  std::string completeness_steps = "16,64";
  e2->add_option("--completeness-steps", completeness_steps, "M values of the IG / RSI Grad-CAM completeness table")->capture_default_str();

  // E3
  Common c3;
  auto* e3 = app.add_subcommand("e3", "saturation: 1 - y_c distribution, degenerate maps");
  add_common(e3, c3, 10000);
  std::int64_t per_group = 16;
  e3->add_option("--per-group", per_group, "images per group (saturated / unsaturated) for the map statistics")->capture_default_str();

  // E4
  Common c4;
  auto* e4 = app.add_subcommand("e4", "consistency across models trained with different seeds");
  add_common(e4, c4, 50);
  std::vector<std::string> model_paths;
  e4->add_option("--models", model_paths, "the models (safetensors), comma-separated")->delimiter(',')->required();

  // E5
  Common c5;
  auto* e5 = app.add_subcommand("e5", "faithfulness: deletion / insertion AUC, from a gradattr sweep database");
  std::string e5_sweep;
  e5->add_option("--sweep", e5_sweep, "the sweep's database (e5_faithfulness.hpp says what it must have been run with)")->required();
  e5->add_option("--out", c5.out, "output directory")->capture_default_str();
  e5->add_option("--weights", c5.weights, "the model the sweep explained (checked against its SHA-256)")->capture_default_str();
  e5->add_option("--commit", c5.commit, "the commit to record in e5_run.md (default: git describe --dirty --always); the sweep's must equal it");

  // report: docs/report.md from the template and the generated files
  auto* rep = app.add_subcommand("report", "write docs/report.md from docs/report/report.template.md and docs/report/*");
  std::string rep_dir = "docs/report", rep_template = "docs/report/report.template.md", rep_out = "docs/report.md";
  bool rep_check = false;
  rep->add_option("--dir", rep_dir, "the generated files")->capture_default_str();
  rep->add_option("--template", rep_template, "the report template")->capture_default_str();
  rep->add_option("--out", rep_out, "the report")->capture_default_str();
  rep->add_flag("--check", rep_check, "do not write: exit 1 when --out differs from the rendering or the *_run.md commits differ");

  // E6
  Common c6;
  auto* e6 = app.add_subcommand("e6", "Grad-CAM++ vs Grad-CAM+ similarity");
  add_common(e6, c6, 200);

  // E8 (sanity checks) and E9 (ROAD): e8_sanity.hpp, e9_road.hpp
  Common c8, c9;
  auto* e8 = app.add_subcommand("e8", "sanity checks: cascading parameter randomisation, shuffled-label model");
  add_common(e8, c8, 50);
  std::string e8_shuffled;
  std::uint64_t e8_rseed = 2;
  double e8_threshold = 0.5;
  e8->add_option("--shuffled-weights", e8_shuffled, "a model trained on shuffled labels (train_fashion --shuffle-labels); empty: skip");
  e8->add_option("--randomise-seed", e8_rseed, "seed of the re-initialised layers (vgg(config, seed))")->capture_default_str();
  e8->add_option("--flag-threshold", e8_threshold, "flag a method whose mean Spearman(|map|) at full randomisation exceeds this")->capture_default_str();
  auto* e9 = app.add_subcommand("e9", "ROAD (noisy linear imputation, MoRF/LeRF) beside deletion/insertion, trivial baselines");
  add_common(e9, c9, 50);
  std::string e9_fractions = "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9";
  double e9_noise = 0.01;
  std::int64_t e9_curve_steps = 14;
  e9->add_option("--fractions", e9_fractions, "removal fractions")->capture_default_str();
  e9->add_option("--noise", e9_noise, "imputation noise (standard deviation)")->capture_default_str();
  e9->add_option("--curve-steps", e9_curve_steps, "points of each deletion/insertion curve (-1)")->capture_default_str();
  // E7 (e7_composites.hpp)
  Common c7;
  auto* e7 = app.add_subcommand("e7", "class discriminativeness: two-item composites with known boxes");
  add_common(e7, c7, 1000);
  c7.steps = 16;
  c7.weights = "build-paper/models/fashion_vgg_canvas56.safetensors";
  std::int64_t e7_canvas = 56, e7_batch = 8;
  std::uint64_t e7_composite_seed = 7;
  e7->add_option("--canvas", e7_canvas, "canvas side (>= 56: two 28x28 items side by side)")->capture_default_str();
  e7->add_option("--composite-seed", e7_composite_seed, "seed of the composites (partners and boxes)")->capture_default_str();
  e7->add_option("--batch", e7_batch, "composites per attribution call")->capture_default_str();

  // E10 (e10_smoothing.hpp)
  Common c10;
  auto* e10 = app.add_subcommand("e10", "saturation control: models trained with label smoothing");
  add_common(e10, c10, 1000);
  c10.steps = 16;
  std::string e10_smoothing = "0,0.1,0.2";
  std::vector<std::string> e10_models;
  std::int64_t e10_curve_steps = 28;
  e10->add_option("--smoothing", e10_smoothing, "the label smoothing of each model pair")->capture_default_str();
  e10->add_option("--models", e10_models, "per smoothing, the seed-1 and the seed-2 model (safetensors), comma-separated")
      ->delimiter(',')
      ->required();
  e10->add_option("--curve-steps", e10_curve_steps, "points of each deletion/insertion curve (-1)")->capture_default_str();

  // E11 (e11_vit.hpp)
  Common c11;
  auto* e11 = app.add_subcommand("e11", "the shifted twin and faithfulness on a ViT (ONNX; tools/train_vit_fashion.py)");
  add_common(e11, c11, 1000);
  c11.steps = 16;
  std::string e11_vit = "examples/data/vit_fashion.onnx", e11_random = "examples/data/vit_fashion_random.onnx";
  std::string e11_layer = "vit.encoder.layers.encoder_layer_1", e11_ks = "0.01,1,100,10000";
  std::int64_t e11_random_limit = 100;
  std::string e11_faith_sweep;
  e11->add_option("--vit", e11_vit, "the trained ViT (.onnx)")->capture_default_str();
  e11->add_option("--vit-random", e11_random, "the same layout with random weights (.onnx); empty: skipped")->capture_default_str();
  e11->add_option("--layer", e11_layer, "CAM and shift layer (a token layer)")->capture_default_str();
  e11->add_option("--ks", e11_ks, "K values of the twin")->capture_default_str();
  e11->add_option("--random-limit", e11_random_limit, "images for the random-weights ViT")->capture_default_str();
  e11->add_option("--faithfulness-sweep", e11_faith_sweep,
                  "a gradattr sweep database of --vit (e5_faithfulness.hpp); empty: faithfulness skipped");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  try {
    const auto t0 = std::chrono::steady_clock::now();
    const Log log = stderr_log();
    if (*e1) {
      std::string what;
      const auto model = fashion_model(c1.weights, c1.seed, &what);
      const TestSet ts = load_test_set(c1.data, c1.limit);
      E1Options o;
      o.methods = parse_methods(c1.methods);
      o.ks = parse_doubles(ks);
      o.steps = c1.steps;
      o.seed = c1.seed;
      o.figure_k = figure_k;
      o.log = log;
      E1Figure fig;
      E1Samples smp;
      auto rows = run_e1(model, "fashion", ts.x, o, &fig, &smp);
      write_png(fs::path(c1.out) / "e1_panel.png", e1_panel(fig, figure_k));
      std::string extra = "Fashion model: shift and CAM layer " + gradattr::default_cam_layer(model) + ", K in {" + ks + "}; figure K = " + fmt(figure_k);
      if (vgg19_limit > 0) {
        const auto vgg = vgg19_weights.empty() ? gradattr::models::vgg19<float>(c1.seed)
                                               : gradattr::models::vgg_from_safetensors<float>(vgg19_weights);
        const Tensor<float> x = vgg19_input(ts);
        Tensor<float> xs({vgg19_limit, 3, 224, 224});
        for (std::int64_t n = 0; n < vgg19_limit; ++n) std::copy(x.begin(), x.end(), xs.data() + n * x.numel());
        E1Options ov = o;
        ov.methods = parse_methods(vgg19_methods);
        ov.ks = parse_doubles(vgg19_ks);
        auto vrows = run_e1(vgg, vgg19_weights.empty() ? "vgg19-random" : "vgg19", xs, ov);
        rows.insert(rows.end(), vrows.begin(), vrows.end());
        extra += "\n\nVGG19 (" + (vgg19_weights.empty() ? "random weights, seed " + std::to_string(c1.seed) : vgg19_weights) +
                 "): " + std::to_string(vgg19_limit) + " image(s) (t10k image 0 upscaled to 224x224, grey to RGB, ImageNet-normalised), layer " +
                 gradattr::default_cam_layer(vgg) + ", methods {" + vgg19_methods + "}, K in {" + vgg19_ks + "}";
      }
      e1_table(rows).write(c1.out, "e1_vulnerability");
      Values v;
      e1_report(rows, smp, c1.out, v);
      write_run_info(c1, "e1", command, what, extra, since(t0), v, ts.size());
    } else if (*e2) {
      std::string what;
      const auto mf = fashion_model<float>(c2.weights, c2.seed, &what);
      const auto md = fashion_model<double>(c2.weights, c2.seed);
      const TestSet ts = load_test_set(c2.data, c2.limit);
      std::vector<E2Row> rows{run_e2(mf, "float", ts.x, log), run_e2(md, "double", ts.x, log),
                              run_e2(mf, "float", ts.x, log, 100), run_e2(md, "double", ts.x, log, 100)};
      e2_table(rows).write(c2.out, "e2_information_gain");
      Values v;
      v.set("e2.float.max_rel_error", rows[0].max_rel_error, 2);
      v.set("e2.double.max_rel_error", rows[1].max_rel_error, 2);
      v.set("e2.float_batch.max_rel_error", rows[2].max_rel_error, 2);
      v.set("e2.double_batch.max_rel_error", rows[3].max_rel_error, 2);
      CompletenessSamples cs;
      std::vector<std::int64_t> msteps;
      for (double m : parse_doubles(completeness_steps)) msteps.push_back(static_cast<std::int64_t>(m));
      run_completeness(mf, ts, msteps, cs, log);
      standard_report(cs.rel_gap, c2.out, "e2_completeness_rel", v, 3);
      standard_report(cs.abs_gap, c2.out, "e2_completeness_abs", v, 3);
      write_run_info(c2, "e2", command, what,
                     "completeness: IG and RSI Grad-CAM, M in {" + completeness_steps + "}, baseline the black image, class = top class",
                     since(t0), v, ts.size());
    } else if (*e3) {
      std::string what;
      const auto mf = fashion_model<float>(c3.weights, c3.seed, &what);
      const auto md = fashion_model<double>(c3.weights, c3.seed);
      const TestSet ts = load_test_set(c3.data, c3.limit);
      const E3Saturation sat = measure_saturation(mf, md, ts);
      e3_summary(sat).write(c3.out, "e3_saturation_summary");
      const Table hist = e3_histogram(sat);
      hist.write(c3.out, "e3_saturation_histogram");
      std::vector<double> counts;
      for (const auto& r : hist.rows()) counts.push_back(std::stod(r[1]));
      write_png(fs::path(c3.out) / "e3_saturation_histogram.png",
                bar_chart(counts, e3_bin_labels(), "1 - y_c on " + std::to_string(ts.size()) + " t10k images (log count)",
                          "floor(log10(1 - y_c)), y_c of the top class, double precision", true));
      E3Options o;
      o.methods = parse_methods(c3.methods);
      o.per_group = per_group;
      o.steps = c3.steps;
      o.seed = c3.seed;
      o.log = log;
      StatsInput e3s;
      e3_table(run_e3_maps(mf, md, ts, sat, o, &e3s)).write(c3.out, "e3_saturation_maps");
      Values v;
      standard_report(e3s, c3.out, "e3_maps", v, 3);
      {
        const Table sm = e3_summary(sat);
        const auto& r = sm.rows()[0];
        v.set("e3.accuracy", r[1]);
        v.set("e3.saturated_share_double", r[2]);
        v.set("e3.saturated_share_float", r[3]);
        v.set("e3.float_exact_zero_share", r[4]);
        v.set("e3.per_group", std::to_string(per_group));
      }
      write_run_info(c3, "e3", command, what,
                     "maps: the first " + std::to_string(per_group) +
                         " saturated (" + gradattr::score::saturation_rule() + ", double) and unsaturated images among the N; reference = the same method and policy on the same weights in double precision",
                     since(t0), v, ts.size());
    } else if (*e4) {
      std::vector<gradattr::models::Vgg<float>> models;
      std::string what;
      for (const auto& p : model_paths) {
        models.push_back(gradattr::models::vgg_from_safetensors<float>(p));
        what += (what.empty() ? "" : ", ") + p;
      }
      const TestSet ts = load_test_set(c4.data, c4.limit);
      // Accuracy of each model on the first 1000 test images (context for the table).
      const TestSet acc_set = load_test_set(c4.data, 1000);
      Table acc({"model", "accuracy_first_1000"});
      for (std::size_t i = 0; i < models.size(); ++i) {
        const Tensor<float> z = models[i].forward(acc_set.x);
        const auto cls = gradattr::Target{}.resolve(z, "e4");
        std::int64_t ok = 0;
        for (std::size_t n = 0; n < cls.size(); ++n) ok += cls[n] == acc_set.labels[n];
        acc.add({model_paths[i], fmt(static_cast<double>(ok) / static_cast<double>(cls.size()))});
      }
      acc.write(c4.out, "e4_models");
      StatsInput e4s;
      e4_table(run_e4(models, ts, parse_methods(c4.methods), c4.steps, c4.seed, log, &e4s)).write(c4.out, "e4_seed_consistency");
      Values v;
      standard_report(e4s, c4.out, "e4", v, 3);
      v.set("e4.models", std::to_string(models.size()));
      {
        double lo = 1, hi = 0;
        for (const auto& r : acc.rows()) lo = std::min(lo, std::stod(r[1])), hi = std::max(hi, std::stod(r[1]));
        v.set("e4.accuracy_min", lo, 3);
        v.set("e4.accuracy_max", hi, 3);
      }
      {  // Figure: test image 0, one row per model, a few methods under Pre and Post (true class).
        const Tensor<float> x = ts.image(0);
        const gradattr::Target tgt{static_cast<std::int64_t>(ts.labels[0])};
        const Method fm[] = {Method::GradCam, Method::LayerCam, Method::ScoreCam, Method::IntegratedGradients};
        std::vector<std::vector<Tensor<std::uint8_t>>> tiles;
        std::vector<std::string> rl, cl;
        for (Method m : fm)
          for (ScoreKind k : {ScoreKind::Pre, ScoreKind::Post})
            cl.push_back(std::string(gradattr::display_name(m)) + " " + policy_name(k));
        for (std::size_t i = 0; i < models.size(); ++i) {
          rl.push_back("model " + std::to_string(i + 1));
          std::vector<Tensor<std::uint8_t>> row;
          for (Method m : fm)
            for (ScoreKind k : {ScoreKind::Pre, ScoreKind::Post})
              row.push_back(overlay_tile(x, gradattr::run_method(m, k, models[i], x, tgt, run_options(c4.steps, c4.seed)).displayed(28, 28)));
          tiles.push_back(std::move(row));
        }
        write_png(fs::path(c4.out) / "e4_seed_panel.png", gradattr::viz::make_panel(tiles, rl, cl));
      }
      write_run_info(c4, "e4", command, what,
                     "target: the true label of each image (the same class for every model); per image, the mean Spearman over the model pairs; stratum: saturated under the first model",
                     since(t0), v, ts.size());
    } else if (*e5) {
      const E5Result e5r = e5_from_sweep_of(e5_sweep, c5.weights, c5.commit.empty() ? git_describe() : c5.commit);
      const E5Samples& e5s = e5r.samples;
      const auto& rows = e5r.rows;
      c5.steps = e5r.run.options.value("--steps", std::int64_t{0});
      c5.seed = e5r.run.seed;
      Values v;
      {
        const StatsOut so = write_stats(e5s.auc, c5.out, "e5_auc");
        for (std::size_t e = 0; e < kNP; ++e) {
          const std::string ev = policy_name(kPolicies[e]);
          const auto sub = subset(e5s.auc, [&](const Samples& c) { return c.key[2] == ev; });
          ci_wide(sub, so.ci, 0).write(c5.out, "e5_ci_eval_" + ev);
          cmp_wide(sub, so.cmp, 0).write(c5.out, "e5_vs_pre_eval_" + ev);
          std::vector<CmpRow> rs;
          for (const auto& r : so.cmp)
            if (r.key[2] == ev) rs.push_back(r);
          cmp_counts(rs).write(c5.out, "e5_cmp_counts_eval_" + ev);
          count_values(v, "e5.eval_" + ev, rs);
          for (int c = 0; c < 2; ++c)
            v.ci("e5.random." + std::string(c ? "insertion" : "deletion") + ".eval_" + ev,
                 st::bootstrap_mean_ci(e5s.random[static_cast<std::size_t>(c)][e], boot_options()));
        }
        std::int64_t nsat = 0;
        for (char c : e5s.auc.saturated) nsat += c;
        v.set("e5.n_saturated", std::to_string(nsat));
      }
      e5_table(rows).write(c5.out, "e5_faithfulness");
      e5_wide(rows).write(c5.out, "e5_faithfulness_wide");
      const double sweep_s = sweep_seconds(e5r.run);
      v.set("e5.sweep_command", sweep_command(e5r.run));
      v.set("e5.sweep_seconds", fmt(sweep_s, 3));
      write_run_info(c5, "e5", command, c5.weights,
                     "sweep: `" + sweep_command(e5r.run) + "` (" + e5_sweep + ", made by gradattr " + e5r.run.commit + " on " +
                         std::to_string(e5r.run.threads) + " OpenMP thread(s), " + fmt(sweep_s, 3) +
                         " s; the wall time below is the sweep's and this aggregation's)\n\ncurves: " +
                         std::to_string(e5r.run.options.value("--metric-steps", std::int64_t{0})) +
                         " steps, baseline 0 (black) for both deletion and insertion; class = top class; 'random' = the sweep's seeded "
                         "per-image uniform random map",
                     sweep_s + since(t0), v, e5r.n);
    } else if (*e6) {
      std::string what;
      const auto model = fashion_model<float>(c6.weights, c6.seed, &what);
      const TestSet ts = load_test_set(c6.data, c6.limit);
      StatsInput e6s;
      e6_table(run_e6(model, ts, log, &e6s)).write(c6.out, "e6_gradcampp_vs_gradcamplus");
      Values v;
      standard_report(e6s, c6.out, "e6", v, 3);
      write_run_info(c6, "e6", command, what, "per image: Spearman of the displayed maps; class = top class", since(t0), v, ts.size());
    } else if (*e8) {
      std::string what;
      const auto model = fashion_model<float>(c8.weights, c8.seed, &what);
      const TestSet ts = load_test_set(c8.data, c8.limit);
      const auto groups = e8_groups(model);
      std::vector<E8Model> variants;
      for (int d = 1; d <= static_cast<int>(groups.size()); ++d)
        variants.push_back({"depth " + std::to_string(d) + " (" + e8_depth_name(groups, d) + ")", "cascade", d, cascade_randomised(model, d, e8_rseed)});
      if (!e8_shuffled.empty())
        variants.push_back({"shuffled labels", "data", 0, gradattr::models::vgg_from_safetensors<float>(e8_shuffled)});
      E8Samples smp;
      const auto rows = run_e8(model, variants, ts, parse_methods(c8.methods), c8.steps, c8.seed, log, &smp);
      Values v;
      e8_report(rows, smp, variants, c8.out, v, e8_threshold);
      write_png(fs::path(c8.out) / "e8_panel.png", e8_panel(model, variants, ts, c8.steps, c8.seed));
      write_run_info(c8, "e8", command, what,
                     "randomised layers re-initialised with models::vgg(config, " + std::to_string(e8_rseed) +
                         ") (the trainer's initialisation), from the top: " + e8_depth_name(groups, static_cast<int>(groups.size())) +
                         "; data randomisation: " + (e8_shuffled.empty() ? std::string("skipped") : e8_shuffled) +
                         "; class = the original model's top class; flag threshold " + fmt(e8_threshold, 2),
                     since(t0), v, ts.size());
    } else if (*e9) {
      std::string what;
      const auto model = fashion_model<float>(c9.weights, c9.seed, &what);
      const TestSet ts = load_test_set(c9.data, c9.limit);
      E9Options o;
      o.methods = parse_methods(c9.methods);
      o.steps = c9.steps;
      o.seed = c9.seed;
      o.fractions = parse_doubles(e9_fractions);
      o.noise = e9_noise;
      o.curve_steps = e9_curve_steps;
      o.log = log;
      const E9Result r = run_e9(model, ts, o);
      Values v;
      e9_report(r, c9.out, v);
      write_run_info(c9, "e9", command, what,
                     "ROAD: noisy linear imputation (sigma " + fmt(e9_noise, 3) + "), fractions {" + e9_fractions +
                         "}, score y_c (post); deletion/insertion: " + std::to_string(e9_curve_steps) +
                         " steps, black baseline, y_c; class = top class; baselines random (seeded), centred Gaussian (sigma H/4), Sobel magnitude, intensity",
                     since(t0), v, ts.size());
    } else if (*e7) {
      if (!fs::exists(c7.weights)) throw gradattr::ArgumentError("e7: --weights " + c7.weights + " does not exist (train it: train_fashion --canvas 56)");
      const auto model = gradattr::models::vgg_from_safetensors<float>(c7.weights);
      const TestSet all = load_test_set(c7.data, 0);
      E7Options o;
      o.methods = parse_methods(c7.methods);
      o.steps = c7.steps;
      o.seed = c7.seed;
      o.canvas = e7_canvas;
      o.batch = e7_batch;
      o.log = log;
      E7Samples smp;
      E7Diagnostics dg;
      E7Figure fig;
      run_e7(model, all, c7.limit, e7_composite_seed, o, smp, &dg, &fig);
      write_png(fs::path(c7.out) / "e7_panel.png", e7_panel(fig, {Method::GradCam, Method::IntegratedGradients}));
      Values v;
      e7_report(smp, dg, e7_single_accuracy(model, all, all.size(), e7_canvas), c7.out, v);
      write_run_info(c7, "e7", command, c7.weights,
                     "composites: the first N t10k items, each with a partner of another class drawn from t10k (seed " +
                         std::to_string(e7_composite_seed) + "), on a " + std::to_string(e7_canvas) +
                         "^2 zero canvas in non-overlapping 28x28 boxes; both classes explained; layer " + gradattr::default_cam_layer(model),
                     since(t0), v, dg.n);
    } else if (*e10) {
      const auto eps = parse_doubles(e10_smoothing);
      if (e10_models.size() != 2 * eps.size())
        throw gradattr::ArgumentError("e10: --models needs 2 models (seeds 1 and 2) per --smoothing value: " + std::to_string(eps.size()) +
                                      " values, " + std::to_string(e10_models.size()) + " models");
      const TestSet all = load_test_set(c10.data, 0);
      const TestSet ts = load_test_set(c10.data, c10.limit);
      E10Options o;
      o.methods = parse_methods(c10.methods);
      o.steps = c10.steps;
      o.seed = c10.seed;
      o.curve_steps = e10_curve_steps;
      o.log = log;
      std::vector<E10ModelInfo> info;
      std::vector<E10Samples> smp;
      Values v;
      for (std::size_t i = 0; i < eps.size(); ++i) {
        const auto m1 = gradattr::models::vgg_from_safetensors<float>(e10_models[2 * i]);
        const auto m2 = gradattr::models::vgg_from_safetensors<float>(e10_models[2 * i + 1]);
        info.push_back(e10_model_info(eps[i], m1, m2, all, ts));
        smp.push_back(run_e10_model(eps[i], m1, m2, ts, o));
        e10_report_one(eps[i], smp.back(), c10.out, v);
      }
      e10_report_summary(info, smp, c10.out, v);
      std::string what;
      for (const auto& m : e10_models) what += (what.empty() ? "" : ", ") + m;
      write_run_info(c10, "e10", command, what,
                     "smoothing {" + e10_smoothing + "}, two seeds each; class = the true label; deletion/insertion evaluated with post, " +
                         std::to_string(e10_curve_steps) + " steps, black baseline; stratum: saturated for the true class under the seed-1 model",
                     since(t0), v, ts.size());
    } else if (*e11) {
      const TestSet ts = load_test_set(c11.data, c11.limit);
      E11Options o;
      o.trained = e11_vit;
      o.random = e11_random;
      o.layer = e11_layer;
      o.ks = parse_doubles(e11_ks);
      o.steps = c11.steps;
      o.seed = c11.seed;
      o.random_limit = e11_random_limit;
      o.log = log;
      // The faithfulness sweep is checked first: a wrong database fails before the twins' minutes.
      std::optional<E5Result> faith;
      if (!e11_faith_sweep.empty()) faith = e5_from_sweep_of(e11_faith_sweep, e11_vit, c11.commit.empty() ? git_describe() : c11.commit);
      const E11Result r = run_e11(o, ts);
      Values v;
      e11_report(r, faith ? &*faith : nullptr, c11.out, v);
      double faith_s = 0;
      std::string faith_text = "faithfulness: not run";
      if (faith) {
        faith_s = sweep_seconds(faith->run);
        v.set("e11.sweep_command", sweep_command(faith->run));
        v.set("e11.sweep_seconds", fmt(faith_s, 3));
        faith_text = "faithfulness: deletion/insertion evaluated with " + faith->run.options.value("--metric-score", std::string()) + ", " +
                     std::to_string(faith->run.options.value("--metric-steps", std::int64_t{0})) + " steps, black baseline, from the sweep `" +
                     sweep_command(faith->run) + "` (" + e11_faith_sweep + ", " + fmt(faith_s, 3) + " s, included in the wall time below)";
      }
      write_png(fs::path(c11.out) / "e11_panel.png", e1_panel(r.figure, 100));
      write_run_info(c11, "e11", command, e11_vit + (e11_random.empty() ? "" : ", " + e11_random),
                     "layer " + r.layer + " (CAM and shift layer; tokens [1, 17, 48]); twins t = K Σ_d A_{p,d} with p = 1 (top-left patch) and p = 0 (class token); K in {" +
                         e11_ks + "}; random-weights ViT on the first " + std::to_string(std::min<std::int64_t>(e11_random_limit, ts.size())) +
                         " images; class = top class; " + faith_text,
                     faith_s + since(t0), v, ts.size());
    } else if (*rep) {
      const bool summary_ok = write_or_check_summary(rep_dir, rep_check);
      if (!summary_ok) std::fprintf(stderr, "paper_experiments report --check: summary_verdicts / summary_values differ from summarize()\n");
      const std::string text = render_report(read_text(rep_template), rep_dir);
      const auto commits = run_commits(rep_dir);
      std::string first;
      bool agree = true;
      for (const auto& [f, c] : commits) {
        if (first.empty()) first = c;
        if (c != first || c.empty()) agree = false;
        std::fprintf(stderr, "%s: commit %s\n", f.c_str(), c.empty() ? "(none)" : c.c_str());
      }
      if (rep_check) {
        const bool same = fs::exists(rep_out) && read_text(rep_out) == text;
        if (!same) std::fprintf(stderr, "paper_experiments report --check: %s differs from its rendering\n", rep_out.c_str());
        if (!agree) std::fprintf(stderr, "paper_experiments report --check: the *_run.md commits differ\n");
        return same && agree && summary_ok ? 0 : 1;
      }
      Table::write_text(rep_out, text);
      if (!agree) std::fprintf(stderr, "warning: the *_run.md commits differ\n");
    }
    std::fprintf(stderr, "done in %.1f s\n", since(t0));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "paper_experiments: %s\n", e.what());
    return 1;
  }
  return 0;
}
