#pragma once
// E5: faithfulness (deletion / insertion AUC per method × explanation × evaluation score space),
// and E11's faithfulness part on the ViT. Both run on the sweep engine: `gradattr sweep` computes
// every (image, method, score space) row with its curves' AUCs into a results database
// (docs/sweep.md), one process, --shard array jobs or `mpirun` ranks alike; this reads that
// database and makes E5's means and per-image samples. What the sweep must have been run with
// (scripts/run-paper-experiments.sh, e5()):
//
//   gradattr sweep --idx t10k-images-idx3-ubyte.gz --limit N --weights W --class top
//       --methods <any> --scores pre,post,log,centered --steps M --samples M
//       --metrics deletion,insertion --metric-score <evaluation spaces> --metric-steps S
//       --random-baseline --out e5.sqlite
//
// The random baseline ("random" rows) is the sweep's seeded per-image uniform map
// (sweep::random_map), so a sharded or distributed sweep draws the same one.
#include <time.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gradattr/io/sha256.hpp>
#include <gradattr/score/evaluate.hpp>
#include <gradattr/sweep/compute.hpp>
#include <gradattr/sweep/store.hpp>

#include "experiments.hpp"

namespace paper {

struct E5Row {
  std::string method, explanation_policy, evaluation_policy;
  std::int64_t n = 0;
  double deletion_auc = 0, insertion_auc = 0;
};

// Per-image AUCs of E5: key (method, curve, evaluation policy), one vector per explanation
// policy; the random map's per image [curve 0 deletion / 1 insertion][evaluation policy].
struct E5Samples {
  StatsInput auc;
  std::array<std::array<std::vector<double>, kNP>, 2> random;
};

struct E5Result {
  std::vector<E5Row> rows;       // method × explanation × evaluation, then "random" × evaluation
  E5Samples samples;
  std::vector<Method> methods;   // as the sweep lists them
  std::int64_t n = 0;            // images
  gradattr::sweep::RunInfo run;  // what made the sweep (its commit, options, model, times)
};


// E5 from the sweep database `path` (one run; see above). gradattr::Error naming the database and
// what is wrong: a run of other options (no random baseline, no curves, a score space missing, a
// class other than top), a failed row (its image and error), an image without every row.
inline E5Result e5_from_sweep(const std::string& path) {
  namespace sw = gradattr::sweep;
  const std::string who = "e5: sweep database '" + path + "'";
  const sw::Store st = sw::Store::open_read_only(path);
  const auto runs = st.runs();
  if (runs.size() != 1) throw gradattr::Error(who + " holds " + std::to_string(runs.size()) + " runs; E5 reads the database of one sweep");
  E5Result out;
  out.run = st.run_info(runs[0]);
  const auto& opts = out.run.options;
  auto option = [&](const char* key) -> std::string {
    const auto it = opts.find(key);
    if (it == opts.end()) return "";
    return it->is_string() ? it->get<std::string>() : it->dump();
  };
  auto require = [&](bool ok, const std::string& what) {
    if (!ok) throw gradattr::Error(who + ": " + what);
  };
  require(option("--random-baseline") == "true", "made without --random-baseline (E5's reference)");
  require(option("--class") == "top", "made with --class " + option("--class") + "; E5 explains each image's top class (--class top)");
  const auto metrics = sw::option_items(out.run, "--metrics");
  require(std::find(metrics.begin(), metrics.end(), "deletion") != metrics.end() &&
              std::find(metrics.begin(), metrics.end(), "insertion") != metrics.end(),
          "made with --metrics '" + option("--metrics") + "'; E5 needs deletion,insertion");
  for (const auto& m : sw::option_items(out.run, "--methods")) out.methods.push_back(gradattr::parse_method(m));
  std::array<bool, kNP> explained{}, evaluated{};
  for (const auto& s : sw::option_items(out.run, "--scores")) explained[policy_index(gradattr::parse_score_kind(s))] = true;
  for (const auto& s : sw::option_items(out.run, "--metric-score")) evaluated[policy_index(gradattr::parse_score_kind(s))] = true;
  for (std::size_t p = 0; p < kNP; ++p)
    require(explained[p], "made with --scores '" + option("--scores") + "'; E5 explains in every score space (pre,post,log,centered)");

  // The rows by image (ascending index), each image's by (method, score).
  const auto stored = st.results(runs[0]);
  std::map<std::int64_t, std::map<std::pair<std::string, std::string>, const sw::ResultRow*>> by_image;
  for (const auto& r : stored) {
    if (!r.row.error.empty())
      throw gradattr::Error(who + ": image " + std::to_string(r.image) + " " + r.row.method + " " + r.row.score + " failed: " + r.row.error);
    by_image[r.image][{r.row.method, r.row.score}] = &r.row;
  }
  require(!by_image.empty(), "holds no results");
  out.n = static_cast<std::int64_t>(by_image.size());

  const std::size_t M = out.methods.size() + 1;  // + the random map
  // per image [method][curve][evaluation][explanation]; the random map's at explanation 0
  std::vector<std::array<std::array<std::array<std::vector<double>, kNP>, kNP>, 2>> per(M);
  auto auc = [&](const sw::ResultRow& r, const char* metric, std::size_t v, std::int64_t image) {
    const std::string ev = policy_name(kPolicies[v]);
    for (const auto& a : r.aucs)
      if (a.metric == metric && a.evaluation == ev) return a.auc;
    throw gradattr::Error(who + ": image " + std::to_string(image) + " " + r.method + " " + r.score + " has no " + metric +
                          " AUC under " + ev);
  };
  for (const auto& [image, rows] : by_image) {
    auto row = [&, image = image, &rows = rows](const std::string& method, const std::string& score) -> const sw::ResultRow& {
      const auto it = rows.find({method, score});
      if (it == rows.end()) throw gradattr::Error(who + ": image " + std::to_string(image) + " has no row " + method + " " + score);
      return *it->second;
    };
    // Saturation of the explained class: log y_c as the Log rows hold it (the first method's).
    const auto& log_row = row(method_name(out.methods.at(0)), policy_name(ScoreKind::LogSoftmax));
    out.samples.auc.saturated.push_back(log_row.s && -std::expm1(*log_row.s) < gradattr::score::kSaturationThreshold);
    for (std::size_t mi = 0; mi < M; ++mi)
      for (std::size_t ei = 0; ei < (mi + 1 < M ? kNP : std::size_t{1}); ++ei) {
        const auto& r = mi + 1 < M ? row(method_name(out.methods[mi]), policy_name(kPolicies[ei]))
                                   : row(gradattr::sweep::kRandomMapMethod, gradattr::sweep::kRandomMapScore);
        for (std::size_t vi = 0; vi < kNP; ++vi) {
          if (!evaluated[vi]) continue;
          per[mi][0][vi][ei].push_back(auc(r, "deletion", vi, image));
          per[mi][1][vi][ei].push_back(auc(r, "insertion", vi, image));
        }
      }
  }
  // The means (summed in image order), as the table rows.
  const double N = static_cast<double>(out.n);
  auto mean = [&](const std::vector<double>& v) {
    double sum = 0;
    for (double x : v) sum += x;
    return sum / N;
  };
  for (std::size_t mi = 0; mi < M; ++mi)
    for (std::size_t ei = 0; ei < (mi + 1 < M ? kNP : std::size_t{1}); ++ei)
      for (std::size_t vi = 0; vi < kNP; ++vi) {
        if (!evaluated[vi]) continue;
        E5Row r;
        r.method = mi + 1 < M ? method_name(out.methods[mi]) : "random";
        r.explanation_policy = mi + 1 < M ? policy_name(kPolicies[ei]) : "-";
        r.evaluation_policy = policy_name(kPolicies[vi]);
        r.n = out.n;
        r.deletion_auc = mean(per[mi][0][vi][ei]);
        r.insertion_auc = mean(per[mi][1][vi][ei]);
        out.rows.push_back(r);
      }
  out.samples.auc.key_header = {"method", "curve", "evaluation"};
  for (std::size_t mi = 0; mi + 1 < M; ++mi)
    for (int c = 0; c < 2; ++c)
      for (std::size_t vi = 0; vi < kNP; ++vi)
        if (evaluated[vi])
          out.samples.auc.cells.push_back(
              {{method_name(out.methods[mi]), c ? "insertion" : "deletion", policy_name(kPolicies[vi])}, per[mi][static_cast<std::size_t>(c)][vi]});
  for (int c = 0; c < 2; ++c)
    for (std::size_t vi = 0; vi < kNP; ++vi) out.samples.random[static_cast<std::size_t>(c)][vi] = per[M - 1][static_cast<std::size_t>(c)][vi][0];
  return out;
}

// The command line that makes (or resumes) the sweep `run` records: its source and every option
// it was given (false flags, empty values and --limit 0 left out).
inline std::string sweep_command(const gradattr::sweep::RunInfo& run) {
  const auto& o = run.options;
  std::string cmd = "gradattr sweep";
  if (o.contains("source") && o.contains("path"))
    cmd += " --" + o["source"].get<std::string>() + " " + o["path"].get<std::string>();
  for (auto it = o.begin(); it != o.end(); ++it) {
    const std::string& k = it.key();
    const auto& v = it.value();
    if (k.rfind("--", 0) != 0) continue;
    if (v.is_boolean()) {
      if (v.get<bool>()) cmd += " " + k;
    } else if (k == "--variant") {  // recorded for every method: name only the non-default ones
      std::string given;
      for (const auto& item : gradattr::sweep::option_items(run, "--variant")) {
        const auto colon = item.find(':');
        if (item.substr(colon + 1) != gradattr::default_variant(gradattr::parse_method(item.substr(0, colon))))
          given += (given.empty() ? "" : ",") + item;
      }
      if (!given.empty()) cmd += " --variant " + given;
    } else if (v.is_string()) {
      if (!v.get<std::string>().empty()) cmd += " " + k + " " + v.get<std::string>();
    } else if (!(k == "--limit" && v == 0)) {
      cmd += " " + k + " " + v.dump();
    }
  }
  return cmd;
}

// The sweep's wall time from its run record (whole seconds); -1 while it has not ended.
inline double sweep_seconds(const gradattr::sweep::RunInfo& run) {
  auto parse = [](const std::string& t) -> std::optional<std::time_t> {
    std::tm tm{};
    if (t.empty() || !strptime(t.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm)) return std::nullopt;
    return timegm(&tm);
  };
  const auto a = parse(run.started), b = parse(run.ended);
  return a && b ? std::difftime(*b, *a) : -1.0;
}

// E5 of a sweep made with `model_file` at `commit` (what the experiment's run file records):
// gradattr::Error when the sweep was made with another model or by a build of another commit.
inline E5Result e5_from_sweep_of(const std::string& path, const std::string& model_file, const std::string& commit) {
  E5Result r = e5_from_sweep(path);
  if (gradattr::io::sha256_file(model_file) != r.run.model_sha256)
    throw gradattr::Error("sweep database '" + path + "' was made with the model " + r.run.model + ", not " + model_file +
                          " (their SHA-256 differ)");
  if (r.run.commit != commit)
    throw gradattr::Error("sweep database '" + path + "' was made by gradattr at " + r.run.commit + ", this run records " + commit +
                          " (rerun the sweep with this commit's build)");
  if (sweep_seconds(r.run) < 0) throw gradattr::Error("sweep database '" + path + "': its sweep has not finished (resume it first)");
  return r;
}

inline Table e5_table(const std::vector<E5Row>& rows) {
  Table t({"method", "explanation_policy", "evaluation_policy", "N", "deletion_auc", "insertion_auc"});
  for (const auto& r : rows)
    t.add({r.method, r.explanation_policy, r.evaluation_policy, std::to_string(r.n), fmt(r.deletion_auc), fmt(r.insertion_auc)});
  return t;
}

// The explanation × evaluation matrices in one wide table: a row per (method, explanation
// policy), deletion and insertion AUC per evaluation policy (rows come kNP per explanation).
inline Table e5_wide(const std::vector<E5Row>& rows) {
  std::vector<std::string> h{"method", "explained with"};
  for (const char* c : {"del", "ins"})
    for (ScoreKind k : kPolicies) h.push_back(std::string(c) + " (eval " + policy_name(k) + ")");
  Table t(h);
  for (std::size_t i = 0; i + kNP - 1 < rows.size(); i += kNP) {
    std::vector<std::string> r{rows[i].method, rows[i].explanation_policy};
    for (std::size_t v = 0; v < kNP; ++v) r.push_back(fmt(rows[i + v].deletion_auc));
    for (std::size_t v = 0; v < kNP; ++v) r.push_back(fmt(rows[i + v].insertion_auc));
    t.add(r);
  }
  return t;
}

}  // namespace paper
