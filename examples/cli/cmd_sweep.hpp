#pragma once
// gradattr sweep: every image of a directory, a manifest or an IDX file through methods x
// variants x score spaces into an SQLite results database, one transaction per image,
// resumable, shardable (docs/sweep.md). The database, the image sources and the per-row
// computation are the library's (gradattr/sweep/); this file is the command line around them.
#include <omp.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include <gradattr/attribution/runtime.hpp>
#include <gradattr/io/sha256.hpp>
#include <gradattr/sweep/compute.hpp>
#include <gradattr/sweep/prefetch.hpp>
#include <gradattr/sweep/sources.hpp>
#include <gradattr/sweep/store.hpp>

#include "common.hpp"
#include "progress.hpp"

namespace gradattr_cli {

struct SweepArgs {
  std::string weights, images, manifest, idx, labels, out;
  std::string methods = "gradcam", scores = "post", cls = "top", variant, metrics, layer, shard, limit;
  std::string steps = "50", samples = "50", metric_steps = "20", metric_batch = "16", metric_score = "post";
  std::string prefetch = "2";  // images read ahead (one process); not part of the run's options
  unsigned long long seed = 0;
  bool save_maps = false, new_run = false, random_baseline = false;
};

inline std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::size_t b = 0;
  while (b <= s.size()) {
    const auto e = s.find(',', b);
    const std::string item = s.substr(b, e == std::string::npos ? std::string::npos : e - b);
    if (!item.empty()) out.push_back(item);
    if (e == std::string::npos) break;
    b = e + 1;
  }
  return out;
}

// The items of a comma list, each parsed (parse: a library parser), in order; a usage error
// names the flag for an unknown item or one listed twice.
template <class F>
auto unique_list(const std::string& flag, const std::string& list, F parse) {
  std::vector<decltype(parse(std::string()))> out;
  for (const auto& n : split_list(list)) {
    auto v = flag_value(flag, [&] { return parse(n); });
    if (std::find(out.begin(), out.end(), v) != out.end()) throw UsageError(flag + " lists " + n + " twice");
    out.push_back(v);
  }
  return out;
}

// --shard i/n: 0 <= i < n; empty: every image.
struct Shard {
  std::int64_t i = 0, n = 1;
};
inline Shard parse_shard(const std::string& s) {
  if (s.empty()) return {};
  const auto slash = s.find('/');
  Shard sh;
  auto num = [&](const std::string& t, std::int64_t& v) {
    const auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    return ec == std::errc() && p == t.data() + t.size() && !t.empty();
  };
  if (slash == std::string::npos || !num(s.substr(0, slash), sh.i) || !num(s.substr(slash + 1), sh.n))
    throw UsageError("--shard must be i/n (e.g. 0/4), got '" + s + "'");
  if (sh.n < 1 || sh.i < 0 || sh.i >= sh.n)
    throw UsageError("--shard " + s + ": need 0 <= i < n (shards 0/" + std::to_string(std::max<std::int64_t>(sh.n, 1)) + " to " +
                     std::to_string(std::max<std::int64_t>(sh.n, 1) - 1) + "/" + std::to_string(std::max<std::int64_t>(sh.n, 1)) + ")");
  return sh;
}

// The jobs of --methods x --variant x --scores, in that order. --variant items are
// "method:variant" or a bare "variant" (for every listed method that has it).
inline std::vector<gradattr::sweep::Job> sweep_jobs(const SweepArgs& a) {
  const auto methods = unique_list("--methods", a.methods, [](const std::string& n) { return gradattr::parse_method(n); });
  if (methods.empty()) throw UsageError("--methods is empty (valid: " + gradattr::method_names_list() + ")");
  const auto scores = unique_list("--scores", a.scores, [](const std::string& n) { return gradattr::parse_score_kind(n); });
  if (scores.empty()) throw UsageError("--scores is empty (valid: " + gradattr::score::score_names_list() + ")");
  std::vector<std::vector<std::string>> variants(methods.size());
  for (const auto& item : split_list(a.variant)) {
    const auto colon = item.find(':');
    bool used = false;
    for (std::size_t k = 0; k < methods.size(); ++k) {
      std::string v = item;
      if (colon != std::string::npos) {
        if (item.substr(0, colon) != gradattr::to_string(methods[k])) continue;
        v = item.substr(colon + 1);
        (void)flag_value("--variant", [&] { return gradattr::parse_variant(methods[k], v); });
      } else {
        try {
          (void)gradattr::parse_variant(methods[k], v);
        } catch (const gradattr::ArgumentError&) {
          continue;  // a bare variant applies to the methods that have it
        }
      }
      for (const auto& o : variants[k])
        if (o == v) throw UsageError("--variant lists " + item + " twice");
      variants[k].push_back(v);
      used = true;
    }
    if (!used)
      throw UsageError("--variant " + item + ": no method of --methods has this variant (give method:variant; README.md's variant table)");
  }
  std::vector<gradattr::sweep::Job> jobs;
  for (std::size_t k = 0; k < methods.size(); ++k) {
    auto vs = variants[k];
    if (vs.empty()) vs.emplace_back(gradattr::default_variant(methods[k]));
    for (const auto& v : vs)
      for (auto s : scores) jobs.push_back({methods[k], v, s});
  }
  if (a.random_baseline) jobs.push_back({methods[0], "", scores[0], true});
  return jobs;
}

inline std::vector<gradattr::metrics::Perturbation> sweep_metrics(const std::string& s) {
  std::vector<gradattr::metrics::Perturbation> out;
  for (const auto& n : split_list(s)) {
    gradattr::metrics::Perturbation p;
    if (n == "deletion") p = gradattr::metrics::Perturbation::Deletion;
    else if (n == "insertion") p = gradattr::metrics::Perturbation::Insertion;
    else throw UsageError("--metrics: unknown metric '" + n + "' (valid: deletion, insertion)");
    for (auto o : out)
      if (o == p) throw UsageError("--metrics lists " + n + " twice");
    out.push_back(p);
  }
  return out;
}

// --class: top, label, or a class index.
inline std::optional<std::int64_t> sweep_fixed_class(const std::string& c) {
  if (c == "top" || c == "label") return std::nullopt;
  std::int64_t v = 0;
  const auto [p, ec] = std::from_chars(c.data(), c.data() + c.size(), v);
  if (ec == std::errc::result_out_of_range) throw UsageError("--class " + c + " is out of range (a class index of the model)");
  if (ec != std::errc() || p != c.data() + c.size() || v < 0 || c.empty())
    throw UsageError("--class must be top, label or a class index >= 0, got '" + c + "'");
  return v;
}

inline std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

// $GRADATTR_SWEEP_ABORT_AFTER=k (a test hook, docs/sweep.md): std::abort() after the k-th image
// committed by this process, as a crash would.
inline std::int64_t abort_after() {
  const char* e = std::getenv("GRADATTR_SWEEP_ABORT_AFTER");
  if (!e || !*e) return -1;
  return std::atoll(e);
}

// Everything a sweep's images are computed with, built and checked from the command line: usage
// errors (exit 2) before any file is read, then the model, the image list and the run's record.
// How many images a single process reads ahead of the one being computed: --prefetch, default 2
// (docs/sweep.md, "Prefetch").
inline constexpr std::int64_t kSweepMaxPrefetch = 64;

struct SweepSetup {
  std::vector<gradattr::sweep::Job> jobs;
  std::size_t prefetch = 2;  // --prefetch
  gradattr::sweep::ComputeOptions co;
  std::optional<std::int64_t> fixed_class;
  Shard shard;
  std::optional<LoadedModel> lm;
  std::optional<gradattr::sweep::ImageSource> src;
  std::int64_t listed = 0;  // images of the list after --limit
  gradattr::sweep::RunInfo info;
};

inline SweepSetup prepare_sweep(const SweepArgs& a) {
  namespace sw = gradattr::sweep;
  SweepSetup s;
  // The command line first (exit 2), before any file is read.
  const int sources = !a.images.empty() + !a.manifest.empty() + !a.idx.empty();
  if (sources != 1) throw UsageError("give exactly one of --images DIR, --manifest LIST, --idx FILE");
  if (!a.labels.empty() && a.idx.empty()) throw UsageError("--labels is an IDX label file: it goes with --idx");
  if (a.out.empty()) throw UsageError("--out results.sqlite is required");
  if (a.out == "-") throw UsageError("--out must be a file (a database), not standard output");
  s.jobs = sweep_jobs(a);
  const auto& jobs = s.jobs;
  const auto metrics = sweep_metrics(a.metrics);
  s.fixed_class = sweep_fixed_class(a.cls);
  s.shard = parse_shard(a.shard);
  const std::int64_t limit = a.limit.empty() ? 0 : parse_count("--limit", a.limit, std::int64_t{1} << 40);
  s.prefetch = static_cast<std::size_t>(parse_count("--prefetch", a.prefetch, kSweepMaxPrefetch, 0));
  sw::ComputeOptions& co = s.co;
  co.run.layer = a.layer;
  co.run.steps = parse_count("--steps", a.steps, kMaxSteps);
  co.run.samples = parse_count("--samples", a.samples, kMaxSamples);
  co.run.seed = a.seed;
  co.metrics = metrics;
  co.metric_steps = parse_count("--metric-steps", a.metric_steps, 10000);
  co.metric_batch = parse_count("--metric-batch", a.metric_batch, 4096);
  co.metric_scores = unique_list("--metric-score", a.metric_score, [](const std::string& n) { return gradattr::parse_score_kind(n); });
  if (co.metric_scores.empty()) throw UsageError("--metric-score is empty (valid: " + gradattr::score::score_names_list() + ")");
  if (a.random_baseline && metrics.empty())
    throw UsageError("--random-baseline is the reference of --metrics deletion,insertion: give --metrics too");
  co.save_maps = a.save_maps;
  bool any_layer_method = false;
  for (const auto& j : jobs) any_layer_method = any_layer_method || gradattr::is_layer_method(j.method);

  // The model and its fingerprint.
  s.lm.emplace(a.weights.empty() ? default_model() : load_model_file(a.weights));
  const LoadedModel& lm = *s.lm;
  std::string model_name = a.weights, model_sha;
  if (!a.weights.empty()) {
    model_sha = gradattr::io::sha256_file(a.weights);
  } else if (const auto dir = data_dir_override()) {
    model_name = (*dir / "fashion_vgg.safetensors").string();
    model_sha = gradattr::io::sha256_file(model_name);
  } else {
    const auto f = embedded_model();
    model_name = "embedded";
    model_sha = gradattr::io::sha256_hex(f.data, f.size);
  }
  (void)check_layer(lm.model, a.layer, any_layer_method);
  for (const auto& j : jobs) check_method_model(lm.model, j.method);
  if (s.fixed_class) check_class(*s.fixed_class, lm.model.num_classes(), a.cls);

  s.src.emplace(sw::SourceSpec{!a.images.empty() ? sw::SourceKind::Directory : !a.manifest.empty() ? sw::SourceKind::Manifest : sw::SourceKind::Idx,
                               !a.images.empty() ? a.images : !a.manifest.empty() ? a.manifest : a.idx, a.labels});
  const sw::ImageSource& src = *s.src;
  s.listed = limit ? std::min(limit, src.size()) : src.size();
  if (s.listed == 0) throw gradattr::Error(std::string("--") + sw::to_string(src.spec().kind) + " '" + src.spec().path + "' lists no images");

  sw::RunInfo& info = s.info;
  const std::string v = version_line();  // "gradattr 0.1.0 (commit abc)"
  const auto sp = v.find(' '), cp = v.find("(commit ");
  info.version = v.substr(sp + 1, v.find(' ', sp + 1) - sp - 1);
  info.commit = cp == std::string::npos ? "unknown" : v.substr(cp + 8, v.size() - cp - 9);
  info.model = model_name;
  info.model_sha256 = model_sha;
  std::string variants_text;
  for (std::size_t k = 0; k < jobs.size(); ++k)  // each (method, variant) once: the scores are their own option
    if (!jobs[k].random_map && (k == 0 || jobs[k].method != jobs[k - 1].method || jobs[k].variant != jobs[k - 1].variant))
      variants_text += (variants_text.empty() ? "" : ",") + std::string(gradattr::to_string(jobs[k].method)) + ":" + jobs[k].variant;
  info.options = {{"source", sw::to_string(src.spec().kind)}, {"path", src.spec().path}, {"--labels", a.labels},
                  {"--methods", a.methods},  {"--variant", variants_text}, {"--scores", a.scores},
                  {"--class", a.cls},        {"--layer", a.layer},    {"--steps", co.run.steps},
                  {"--samples", co.run.samples}, {"--seed", a.seed}, {"--metrics", a.metrics},
                  {"--metric-steps", co.metric_steps}, {"--metric-score", a.metric_score},
                  {"--save-maps", a.save_maps}, {"--limit", limit}};
  // Only when given, so databases made before the flag existed still resume.
  if (exact_convolutions()) info.options["--precise"] = true;
  if (co.metric_batch != 16) info.options["--metric-batch"] = co.metric_batch;
  if (a.random_baseline) info.options["--random-baseline"] = true;
  info.shard = a.shard.empty() ? "" : std::to_string(s.shard.i) + "/" + std::to_string(s.shard.n);
  info.seed = a.seed;
  info.host = host_name();
  info.threads = omp_get_max_threads();
  return s;
}

// Image i read, decoded and made the model's input (on the prefetch thread: nothing here touches
// what the computing thread changes). A failed read or a missing label is kept as `error`.
struct SweepInput {
  gradattr::sweep::ImageRecord rec;
  gradattr::Tensor<float> x;
  gradattr::Target target;
  std::string error;
};

inline SweepInput read_sweep_input(const SweepSetup& s, const std::string& cls, std::int64_t i) {
  namespace sw = gradattr::sweep;
  const auto& item = s.src->item(i);
  SweepInput in;
  in.rec = sw::ImageRecord{i, item.name, item.record >= 0 ? std::optional<std::int64_t>(item.record) : std::nullopt, item.label, ""};
  try {
    const auto img = s.src->read(i, &in.rec.sha256);
    in.x = image_input(img.picture, s.lm->input).x;
    if (in.x.dim(1) != s.lm->model.input_shape()[1])
      throw gradattr::ShapeError("input " + in.x.shape().str() + " has " + std::to_string(in.x.dim(1)) + " channels, the model takes " +
                                 std::to_string(s.lm->model.input_shape()[1]));
  } catch (const gradattr::Error& e) {
    in.error = e.what();
  }
  if (s.fixed_class) in.target = gradattr::Target::all(*s.fixed_class);
  else if (cls == "label") {
    if (item.label) in.target = gradattr::Target::all(*item.label);
    else if (in.error.empty()) in.error = "--class label: image " + item.name + " has no label";
  }
  return in;
}

// The image's rows: every job not in `done` (a failed input: a failed row each).
inline std::vector<gradattr::sweep::ResultRow> sweep_rows(const SweepSetup& s, const SweepInput& in,
                                                          const std::set<gradattr::sweep::ResultKey>& done) {
  namespace sw = gradattr::sweep;
  std::vector<sw::ResultRow> rows;
  for (const auto& j : s.jobs) {
    const auto [m, v, sc] = sw::job_key(j);
    if (done.count({in.rec.index, m, v, sc})) continue;
    if (!in.error.empty()) {
      sw::ResultRow r;
      r.method = m, r.variant = v, r.score = sc, r.error = in.error;
      rows.push_back(std::move(r));
    } else {
      rows.push_back(sw::compute_row(s.lm->model, in.x, j, in.target, s.co, in.rec.index));
    }
  }
  return rows;
}


// Reads and decodes the sweep's images on its own thread (gradattr/sweep/prefetch.hpp).
inline gradattr::sweep::Prefetcher<SweepInput> sweep_prefetcher(const SweepSetup& s, const std::string& cls) {
  return gradattr::sweep::Prefetcher<SweepInput>([&s, cls](std::int64_t i) { return read_sweep_input(s, cls, i); });
}

inline std::int64_t failed_rows(const std::vector<gradattr::sweep::ResultRow>& rows) {
  std::int64_t n = 0;
  for (const auto& r : rows) n += !r.error.empty();
  return n;
}

// Whether image i still has a job missing from `done`.
inline bool sweep_todo(const SweepSetup& s, std::int64_t i, const std::set<gradattr::sweep::ResultKey>& done) {
  for (const auto& j : s.jobs) {
    const auto [m, v, sc] = gradattr::sweep::job_key(j);
    if (!done.count({i, m, v, sc})) return true;
  }
  return false;
}

inline void sweep_summary_lines(const std::string& out, const std::string& where, std::int64_t in_list, std::int64_t committed,
                                std::int64_t new_rows, std::int64_t new_failed, double secs, std::int64_t run,
                                const gradattr::sweep::RunSummary& sum) {
  say("sweep: %lld image(s) in %s (%s), %lld computed now, %lld already done; %lld new row(s) (%lld failed) in %.2fs (%.2f images/s)\n",
      static_cast<long long>(in_list), out.c_str(), where.c_str(), static_cast<long long>(committed),
      static_cast<long long>(in_list - committed), static_cast<long long>(new_rows), static_cast<long long>(new_failed), secs,
      secs > 0 ? static_cast<double>(committed) / secs : 0.0);
  say("run %lld: %lld image(s), %lld row(s); failed: %lld image(s), %lld row(s)%s\n", static_cast<long long>(run),
      static_cast<long long>(sum.images), static_cast<long long>(sum.rows), static_cast<long long>(sum.failed_images),
      static_cast<long long>(sum.failed_rows), sum.failed_rows ? " (their errors: results.error)" : "");
}

// One process (no MPI, or an MPI job of one rank): --out directly, --shard's images.
inline int run_sweep_local(const SweepArgs& a, const SweepSetup& s) {
  namespace sw = gradattr::sweep;
  // --prefetch 0: the next image is asked for only once this one is done (no overlap: what the
  // prefetch gains is measured against it, docs/benchmarks.md)
  const std::size_t ahead = s.prefetch;
  sw::Store store = sw::Store::open_or_create(a.out);
  const std::int64_t run = store.begin_run(s.info, a.new_run);
  const auto done = store.finished(run);

  std::vector<std::int64_t> todo;
  std::int64_t in_shard = 0;
  for (std::int64_t i = s.shard.i; i < s.listed; i += s.shard.n) {
    ++in_shard;
    if (sweep_todo(s, i, done)) todo.push_back(i);
  }
  const std::int64_t abort_k = abort_after();
  ProgressBar bar("sweep");
  bar.show_rate("images");
  const auto t0 = std::chrono::steady_clock::now();
  std::int64_t committed = 0, new_rows = 0, new_failed = 0;
  auto prefetch = sweep_prefetcher(s, a.cls);
  std::size_t requested = 0;
  for (; requested < todo.size() && requested < std::max<std::size_t>(ahead, 1); ++requested) prefetch.request(todo[requested]);
  while (prefetch.outstanding() > 0) {
    const SweepInput in = prefetch.take();
    if (ahead > 0 && requested < todo.size()) prefetch.request(todo[requested++]);
    const auto rows = sweep_rows(s, in, done);
    if (ahead == 0 && requested < todo.size()) prefetch.request(todo[requested++]);
    new_failed += failed_rows(rows);
    store.commit_image(run, in.rec, rows);
    new_rows += static_cast<std::int64_t>(rows.size());
    ++committed;
    bar(static_cast<std::size_t>(committed), todo.size());
    if (abort_k >= 0 && committed >= abort_k) std::abort();
  }
  bar.finish();
  const auto sum = store.summary(run);
  store.end_run(run, true, sum);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  sweep_summary_lines(a.out, "shard " + (s.info.shard.empty() ? std::string("all") : s.info.shard), in_shard, committed, new_rows,
                      new_failed, secs, run, sum);
  return 0;
}

#ifndef GRADATTR_CLI_MPI
inline int run_sweep(const SweepArgs& a) { return run_sweep_local(a, prepare_sweep(a)); }
#endif

}  // namespace gradattr_cli
