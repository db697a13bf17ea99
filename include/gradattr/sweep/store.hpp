#pragma once
// The sweep's results database (docs/sweep.md has the schema, version 2): one SQLite file in
// WAL mode holding the run (what made the results), the images and one row per (image, method,
// variant, score). Each image's rows are committed in one transaction, so an interrupted sweep
// loses at most the image in progress and a rerun resumes where it stopped.
//
//   Store st = Store::open_or_create("results.sqlite");
//   std::int64_t run = st.begin_run(info, new_run);  // OptionsMismatch if the file holds another run
//   auto done = st.finished(run);                     // keys already stored: skipped
//   st.commit_image(run, image, rows);                // one transaction
//   st.end_run(run, summary);
//   merge_databases({"a.sqlite", "b.sqlite"}, "c.sqlite");
//   export_results("results.sqlite", {.csv = "summary.csv", .maps = "maps.npy"});
//
// Needs gradattr::sweep (src/sweep/store.cpp, SQLite). Errors: IoError naming the database
// for anything SQLite refuses (not a database, a full disk, a lock held too long).
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "gradattr/core/error.hpp"

namespace gradattr::sweep {

// PRAGMA user_version of the files written here. Version 1 (no curve_aucs table) is still read,
// and upgraded in place when a sweep resumes into it (docs/sweep.md, "Schema versions").
inline constexpr int kSchemaVersion = 2;

// What made the results: compared on resume (options, model_sha256, shard) and on merge
// (options, model_sha256).
struct RunInfo {
  std::string version, commit;        // gradattr's version and `git describe` of its build
  std::string model, model_sha256;    // the weights file (or "embedded"), the SHA-256 of its bytes
  nlohmann::ordered_json options;     // every option that decides the results, by flag name
  std::string shard;                  // "i/n", or empty for every image
  std::uint64_t seed = 0;
  std::string host;
  int threads = 0;                    // OpenMP threads (recorded, not compared)
  std::string started, ended;         // UTC, ISO 8601 (read from a database; ended empty while running)
};

// The items of one of the run's comma-separated options ("--methods", "--metric-score", ...), in
// order; empty when the run does not have it.
std::vector<std::string> option_items(const RunInfo& run, const std::string& key);

// A database holding another run: the message names the first option that differs.
struct OptionsMismatch : Error {
  using Error::Error;
};

struct ImageRecord {
  std::int64_t index = 0;               // position in the sweep's list (shard-independent)
  std::string name;                     // path, or "<idx file>#<record>"
  std::optional<std::int64_t> record;   // IDX record
  std::optional<std::int64_t> label;
  std::string sha256;                   // empty when the file could not be read
};

// One deletion or insertion curve's AUC under one evaluation score space (table curve_aucs).
struct CurveAuc {
  std::string metric, evaluation;  // "deletion" | "insertion"; "pre", "post", "log", "centered"
  double auc = 0;
};

struct ResultRow {
  std::string method, variant, score;   // variant: "" for a method without variants
  std::optional<std::int64_t> cls;
  std::optional<double> y_c, z_c, s, gradient_norm, completeness_gap;
  std::optional<double> deletion, insertion;  // the AUCs under the first evaluation score space
  std::vector<CurveAuc> aucs;                 // every curve's AUC (metric x evaluation space)
  double seconds = 0;
  std::vector<float> map;               // the raw map, when --save-maps
  std::vector<std::int64_t> map_shape;
  std::string error;                    // non-empty: this (image, method, variant, score) failed
};

using ResultKey = std::tuple<std::int64_t, std::string, std::string, std::string>;  // image index, method, variant, score

struct RunSummary {
  std::int64_t images = 0, failed_images = 0, failed_rows = 0, rows = 0;
};

class Store {
 public:
  // Opens `path`, creating it (with the schema) when missing. IoError if it is not a sweep
  // database of a schema version this gradattr reads.
  static Store open_or_create(const std::string& path);
  // Opens an existing database read-only (merge, export).
  static Store open_read_only(const std::string& path);
  ~Store();
  Store(Store&&) noexcept;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // The run to write to: the database's latest run when its options, model and shard equal
  // `info`'s (a resume; a new session is recorded), else OptionsMismatch naming what differs;
  // with new_run, always a new run.
  std::int64_t begin_run(const RunInfo& info, bool new_run);
  std::set<ResultKey> finished(std::int64_t run) const;
  void commit_image(std::int64_t run, const ImageRecord& image, const std::vector<ResultRow>& rows);
  void end_run(std::int64_t run, bool complete, const RunSummary& summary);

  // What the run holds now: images with rows, rows, failed rows and the images they belong to.
  RunSummary summary(std::int64_t run) const;
  // Every result row of `run` with its image's index, ordered by image index, method, variant,
  // score; the curve AUCs included, the maps only when with_maps.
  struct StoredResult {
    std::int64_t image = 0;
    ResultRow row;
  };
  std::vector<StoredResult> results(std::int64_t run, bool with_maps = false) const;
  std::vector<std::int64_t> runs() const;
  RunInfo run_info(std::int64_t run) const;
  const std::string& path() const;

  struct Impl;  // the connection (src/sweep/store.cpp)
  Impl& impl() const { return *impl_; }

 private:
  explicit Store(Impl* impl);
  Impl* impl_;
};

// The first difference between a stored run and the one asked for, as a sentence ("--scores was
// 'pre', now 'post'"); empty when they are the same run (model, options, and shard if compared).
std::string run_difference(const RunInfo& stored, const RunInfo& asked, bool compare_shard);

// The rows of every input (each one run, same options and model) into a new database `out`
// (written under a temporary name, renamed when complete). OptionsMismatch naming the input
// and the option when runs differ; Error when two inputs disagree on a row they both hold.
struct MergeSummary {
  std::int64_t images = 0, rows = 0, duplicates = 0;
};
MergeSummary merge_databases(const std::vector<std::string>& inputs, const std::string& out);

struct ExportOptions {
  std::string csv;                  // one line per result row (docs/sweep.md); "" for none
  std::string maps;                 // float32 NPY [rows, ...] of the saved maps; "" for none
  std::string method;               // only this method's rows ("" for all)
  std::optional<std::int64_t> run;  // default: the latest run
};
std::int64_t export_results(const std::string& db, const ExportOptions& o);

}  // namespace gradattr::sweep
