// The sweep database (include/gradattr/sweep/store.hpp; schema and its meaning in docs/sweep.md).
#include "gradattr/sweep/store.hpp"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <algorithm>
#include <map>
#include <ostream>
#include <sstream>

#include "gradattr/io/detail/file.hpp"
#include "gradattr/io/npy.hpp"
#include "gradattr/sweep/sqlite.hpp"

namespace gradattr::sweep {

namespace {

// The schema (docs/sweep.md, "Schema"): version 1's tables, then what version 2 added. A change
// to it bumps kSchemaVersion.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE run (
  id INTEGER PRIMARY KEY,
  gradattr_version TEXT NOT NULL,
  gradattr_commit TEXT NOT NULL,
  model TEXT NOT NULL,
  model_sha256 TEXT NOT NULL,
  options TEXT NOT NULL,
  shard TEXT NOT NULL,
  seed INTEGER NOT NULL,
  host TEXT NOT NULL,
  threads INTEGER NOT NULL,
  started TEXT NOT NULL,
  ended TEXT,
  images INTEGER,
  failed_rows INTEGER
);
CREATE TABLE session (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES run(id),
  gradattr_commit TEXT NOT NULL,
  host TEXT NOT NULL,
  pid INTEGER NOT NULL,
  threads INTEGER NOT NULL,
  started TEXT NOT NULL,
  ended TEXT,
  complete INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE images (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES run(id),
  idx INTEGER NOT NULL,
  name TEXT NOT NULL,
  record INTEGER,
  label INTEGER,
  sha256 TEXT,
  UNIQUE (run_id, idx)
);
CREATE TABLE results (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES run(id),
  image_id INTEGER NOT NULL REFERENCES images(id),
  method TEXT NOT NULL,
  variant TEXT NOT NULL,
  score TEXT NOT NULL,
  class INTEGER,
  y_c REAL,
  z_c REAL,
  s REAL,
  gradient_norm REAL,
  completeness_gap REAL,
  deletion_auc REAL,
  insertion_auc REAL,
  seconds REAL NOT NULL,
  map BLOB,
  map_shape TEXT,
  error TEXT,
  UNIQUE (run_id, image_id, method, variant, score)
);
)sql";

constexpr const char* kSchemaV2 = R"sql(
CREATE TABLE curve_aucs (
  result_id INTEGER NOT NULL REFERENCES results(id),
  metric TEXT NOT NULL,
  evaluation TEXT NOT NULL,
  auc REAL,
  PRIMARY KEY (result_id, metric, evaluation)
);
)sql";

// A version-1 database's AUCs as curve_aucs rows: its one evaluation space is the run's
// --metric-score; a NaN AUC (stored as NULL) cannot be told from a metric not computed, and is
// left out. Used to upgrade such a file (an INSERT) and, read-only, as a TEMP view of that name.
constexpr const char* kV1CurveAucs =
    "SELECT r.id, m.metric, json_extract(run.options, '$.\"--metric-score\"'), "
    "CASE m.metric WHEN 'deletion' THEN r.deletion_auc ELSE r.insertion_auc END AS auc "
    "FROM results r JOIN run ON r.run_id = run.id JOIN (SELECT 'deletion' AS metric UNION ALL SELECT 'insertion') m "
    "WHERE auc IS NOT NULL";

std::string now_utc() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::int64_t scalar_int(const sql::Db& db, const std::string& q) {
  sql::Stmt s(db, q);
  return s.step() ? s.int64(0) : 0;
}

// The database's schema version (1 or 2), checked: IoError naming the file otherwise.
std::int64_t check_schema(const sql::Db& db) {
  const std::int64_t v = scalar_int(db, "PRAGMA user_version");
  if (v > kSchemaVersion)
    throw IoError("database '" + db.path() + "' has schema version " + std::to_string(v) + ", newer than this gradattr reads (" +
                  std::to_string(kSchemaVersion) + ")");
  const std::int64_t tables = scalar_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN "
                                             "('run', 'session', 'images', 'results', 'curve_aucs')");
  if (v < 1 || tables != (v >= 2 ? 5 : 4))
    throw IoError("database '" + db.path() + "' is not a gradattr sweep database (PRAGMA user_version " + std::to_string(v) +
                  ", docs/sweep.md)");
  return v;
}

std::string option_text(const nlohmann::ordered_json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// The first difference between a stored run and the one asked for, as a sentence; empty if none.
std::string first_difference(const RunInfo& stored, const RunInfo& asked, bool compare_shard) {
  if (stored.model_sha256 != asked.model_sha256)
    return "--weights: the model differs (SHA-256 " + stored.model_sha256.substr(0, 12) + "... of " + stored.model + " there, " +
           asked.model_sha256.substr(0, 12) + "... of " + asked.model + " now)";
  for (auto it = asked.options.begin(); it != asked.options.end(); ++it) {
    const auto s = stored.options.find(it.key());
    if (s == stored.options.end()) return it.key() + " is not in the stored run (made by another gradattr version?)";
    if (*s != it.value()) return it.key() + " was '" + option_text(*s) + "', now '" + option_text(it.value()) + "'";
  }
  for (auto it = stored.options.begin(); it != stored.options.end(); ++it)
    if (!asked.options.contains(it.key())) return "the stored run has option " + it.key() + ", unknown to this gradattr";
  if (compare_shard && stored.shard != asked.shard)
    return "--shard was '" + (stored.shard.empty() ? std::string("(none)") : stored.shard) + "', now '" +
           (asked.shard.empty() ? std::string("(none)") : asked.shard) + "'";
  return {};
}

RunInfo read_run(const sql::Db& db, std::int64_t run) {
  sql::Stmt s(db, "SELECT gradattr_version, gradattr_commit, model, model_sha256, options, shard, seed, host, threads, started, ended "
                  "FROM run WHERE id = ?");
  s.bind(1, run);
  if (!s.step()) throw Error("database '" + db.path() + "' has no run " + std::to_string(run));
  RunInfo r;
  r.version = s.text(0);
  r.commit = s.text(1);
  r.model = s.text(2);
  r.model_sha256 = s.text(3);
  try {
    r.options = nlohmann::ordered_json::parse(s.text(4));
  } catch (const nlohmann::json::exception& e) {
    throw FormatError("database '" + db.path() + "': run " + std::to_string(run) + " has malformed options: " + e.what());
  }
  r.shard = s.text(5);
  r.seed = static_cast<std::uint64_t>(s.int64(6));
  r.host = s.text(7);
  r.threads = static_cast<int>(s.int64(8));
  r.started = s.text(9);
  r.ended = s.is_null(10) ? "" : s.text(10);
  return r;
}

std::vector<std::int64_t> run_ids(const sql::Db& db) {
  std::vector<std::int64_t> ids;
  sql::Stmt s(db, "SELECT id FROM run ORDER BY id");
  while (s.step()) ids.push_back(s.int64(0));
  return ids;
}

std::int64_t insert_run(const sql::Db& db, const RunInfo& i, const std::string& started) {
  sql::Stmt s(db,
              "INSERT INTO run (gradattr_version, gradattr_commit, model, model_sha256, options, shard, seed, host, threads, started) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  s.bind(1, i.version).bind(2, i.commit).bind(3, i.model).bind(4, i.model_sha256).bind(5, i.options.dump()).bind(6, i.shard);
  s.bind(7, static_cast<std::int64_t>(i.seed)).bind(8, i.host).bind(9, i.threads).bind(10, started);
  s.run();
  return sqlite3_last_insert_rowid(db.get());
}

std::int64_t upsert_image(const sql::Db& db, std::int64_t run, const ImageRecord& im) {
  sql::Stmt ins(db, "INSERT INTO images (run_id, idx, name, record, label, sha256) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (run_id, idx) DO NOTHING");
  ins.bind(1, run).bind(2, im.index).bind(3, im.name).bind(4, im.record).bind(5, im.label);
  if (im.sha256.empty()) ins.bind_null(6);
  else ins.bind(6, im.sha256);
  ins.run();
  sql::Stmt q(db, "SELECT id FROM images WHERE run_id = ? AND idx = ?");
  q.bind(1, run).bind(2, im.index);
  if (!q.step()) db.fail("image " + std::to_string(im.index) + " vanished");
  return q.int64(0);
}

constexpr const char* kResultColumns =
    "method, variant, score, class, y_c, z_c, s, gradient_norm, completeness_gap, deletion_auc, insertion_auc, seconds, map, "
    "map_shape, error";

void insert_auc(const sql::Db& db, std::int64_t result_id, const std::string& metric, const std::string& evaluation,
                std::optional<double> auc) {
  sql::Stmt s(db, "INSERT INTO curve_aucs (result_id, metric, evaluation, auc) VALUES (?, ?, ?, ?)");
  s.bind(1, result_id).bind(2, metric).bind(3, evaluation);
  if (auc && !std::isnan(*auc)) s.bind(4, *auc);
  else s.bind_null(4);
  s.run();
}

// A result's curve AUCs, keyed by (metric, evaluation).
std::map<std::pair<std::string, std::string>, std::optional<double>> read_aucs(const sql::Db& db, std::int64_t result_id) {
  std::map<std::pair<std::string, std::string>, std::optional<double>> out;
  sql::Stmt s(db, "SELECT metric, evaluation, auc FROM curve_aucs WHERE result_id = ?");
  s.bind(1, result_id);
  while (s.step()) out[{s.text(0), s.text(1)}] = s.opt_real(2);
  return out;
}

// A stored map: the float32 BLOB in column `blob_col`, its JSON shape in `shape_col`, checked
// against each other (FormatError naming the database otherwise).
void read_map(const sql::Stmt& s, int blob_col, int shape_col, const std::string& db_path, std::vector<float>& map,
              std::vector<std::int64_t>& shape) {
  const auto blob = s.blob(blob_col);
  try {
    shape = nlohmann::json::parse(s.text(shape_col)).get<std::vector<std::int64_t>>();
  } catch (const nlohmann::json::exception&) {
    throw FormatError("database '" + db_path + "': malformed map_shape '" + s.text(shape_col) + "'");
  }
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  if (static_cast<std::size_t>(n) * sizeof(float) != blob.size())
    throw FormatError("database '" + db_path + "': a map of " + std::to_string(blob.size()) + " bytes for shape " + s.text(shape_col));
  map.resize(static_cast<std::size_t>(n));
  std::memcpy(map.data(), blob.data(), blob.size());
}

void insert_result(const sql::Db& db, std::int64_t run, std::int64_t image_id, const ResultRow& r) {
  sql::Stmt s(db, std::string("INSERT INTO results (run_id, image_id, ") + kResultColumns +
                      ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  s.bind(1, run).bind(2, image_id).bind(3, r.method).bind(4, r.variant).bind(5, r.score).bind(6, r.cls);
  // NaN is stored as NULL by SQLite itself; say so explicitly.
  auto real = [&](int i, const std::optional<double>& v) {
    if (v && std::isfinite(*v)) s.bind(i, *v);
    else if (v && std::isinf(*v)) s.bind(i, *v);
    else s.bind_null(i);
  };
  real(7, r.y_c);
  real(8, r.z_c);
  real(9, r.s);
  real(10, r.gradient_norm);
  real(11, r.completeness_gap);
  real(12, r.deletion);
  real(13, r.insertion);
  s.bind(14, r.seconds);
  if (r.map.empty()) {
    s.bind_null(15).bind_null(16);
  } else {
    // float32 little-endian (x86-64, AArch64: the native order)
    s.bind_blob(15, r.map.data(), r.map.size() * sizeof(float));
    s.bind(16, nlohmann::json(r.map_shape).dump());
  }
  if (r.error.empty()) s.bind_null(17);
  else s.bind(17, r.error);
  s.run();
  const std::int64_t id = sqlite3_last_insert_rowid(db.get());
  for (const auto& a : r.aucs) insert_auc(db, id, a.metric, a.evaluation, a.auc);
}

}  // namespace

struct Store::Impl {
  sql::Db db;
  std::int64_t session = 0;
};

Store::Store(Impl* impl) : impl_(impl) {}
Store::~Store() { delete impl_; }
Store::Store(Store&& o) noexcept : impl_(o.impl_) { o.impl_ = nullptr; }
const std::string& Store::path() const { return impl_->db.path(); }

Store Store::open_or_create(const std::string& path) {
  std::error_code ec;
  const bool existed = std::filesystem::exists(path, ec);
  if (existed && !std::filesystem::is_regular_file(path, ec))
    throw IoError("database '" + path + "': not a regular file");
  auto* impl = new Impl{sql::Db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE), 0};
  Store st(impl);
  const sql::Db& db = impl->db;
  // The first read tells a non-database apart ("file is not a database") before anything is written.
  std::int64_t tables = 0;
  try {
    tables = scalar_int(db, "SELECT count(*) FROM sqlite_schema");
  } catch (const IoError& e) {
    throw IoError(std::string(e.what()) + " (not an SQLite database?)");
  }
  if (!existed || (tables == 0 && scalar_int(db, "PRAGMA user_version") == 0)) {
    db.exec("PRAGMA journal_mode = WAL");
    sql::Transaction t(db);
    db.exec(kSchemaV1);
    db.exec(kSchemaV2);
    db.exec("PRAGMA user_version = " + std::to_string(kSchemaVersion));
    t.commit();
  } else {
    if (check_schema(db) == 1) {  // upgrade: add curve_aucs, holding the AUCs already stored
      sql::Transaction t(db);
      db.exec(kSchemaV2);
      db.exec(std::string("INSERT INTO curve_aucs (result_id, metric, evaluation, auc) ") + kV1CurveAucs);
      db.exec("PRAGMA user_version = " + std::to_string(kSchemaVersion));
      t.commit();
    }
    db.exec("PRAGMA journal_mode = WAL");
  }
  // WAL + NORMAL: a commit survives the process being killed; a power cut may lose the last
  // commits, never the file's integrity (https://sqlite.org/wal.html). They are recomputed on resume.
  db.exec("PRAGMA synchronous = NORMAL");
  db.exec("PRAGMA foreign_keys = ON");
  return st;
}

Store Store::open_read_only(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw IoError("database '" + path + "': no such file");
  // Read-write when allowed (nothing is written): the last connection to close then folds the
  // WAL back into the file and removes it; a read-only one would leave -wal and -shm behind.
  auto* impl = new Impl{sql::Db(path, ::access(path.c_str(), W_OK) == 0 ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY), 0};
  Store st(impl);
  std::int64_t version = 0;
  try {
    version = check_schema(impl->db);
  } catch (const IoError& e) {
    const std::string m = e.what();
    if (m.find("not a database") != std::string::npos) throw IoError(m + " (not an SQLite database?)");
    throw;
  }
  // Version 1, unchanged on disk: its AUCs read through a view of version 2's table (the TEMP
  // schema is this connection's own, writable even when the file is not).
  if (version == 1) impl->db.exec(std::string("CREATE TEMP VIEW curve_aucs (result_id, metric, evaluation, auc) AS ") + kV1CurveAucs);
  return st;
}

std::int64_t Store::begin_run(const RunInfo& info, bool new_run) {
  const sql::Db& db = impl_->db;
  sql::Transaction t(db);
  const auto ids = run_ids(db);
  std::int64_t run = 0;
  if (!new_run && !ids.empty()) {
    const RunInfo stored = read_run(db, ids.back());
    const std::string diff = first_difference(stored, info, true);
    if (!diff.empty())
      throw OptionsMismatch("'" + db.path() + "' holds a run made with other options: " + diff +
                            " (rerun with the same options to resume it, add --new-run to start another run in it, or use another --out)");
    run = ids.back();
  } else {
    run = insert_run(db, info, now_utc());
  }
  sql::Stmt s(db, "INSERT INTO session (run_id, gradattr_commit, host, pid, threads, started) VALUES (?, ?, ?, ?, ?, ?)");
  s.bind(1, run).bind(2, info.commit).bind(3, info.host).bind(4, static_cast<std::int64_t>(getpid())).bind(5, info.threads).bind(6, now_utc());
  s.run();
  impl_->session = sqlite3_last_insert_rowid(db.get());
  t.commit();
  return run;
}

std::set<ResultKey> Store::finished(std::int64_t run) const {
  std::set<ResultKey> keys;
  sql::Stmt s(impl_->db, "SELECT i.idx, r.method, r.variant, r.score FROM results r JOIN images i ON r.image_id = i.id WHERE r.run_id = ?");
  s.bind(1, run);
  while (s.step()) keys.emplace(s.int64(0), s.text(1), s.text(2), s.text(3));
  return keys;
}

void Store::commit_image(std::int64_t run, const ImageRecord& image, const std::vector<ResultRow>& rows) {
  const sql::Db& db = impl_->db;
  sql::Transaction t(db);
  const std::int64_t id = upsert_image(db, run, image);
  for (const auto& r : rows) insert_result(db, run, id, r);
  t.commit();
}

void Store::end_run(std::int64_t run, bool complete, const RunSummary& summary) {
  const sql::Db& db = impl_->db;
  sql::Transaction t(db);
  const std::string now = now_utc();
  if (complete) {
    sql::Stmt s(db, "UPDATE run SET ended = ?, images = ?, failed_rows = ? WHERE id = ?");
    s.bind(1, now).bind(2, summary.images).bind(3, summary.failed_rows).bind(4, run);
    s.run();
  }
  sql::Stmt s(db, "UPDATE session SET ended = ?, complete = ? WHERE id = ?");
  s.bind(1, now).bind(2, complete ? 1 : 0).bind(3, impl_->session);
  s.run();
  t.commit();
}

RunSummary Store::summary(std::int64_t run) const {
  sql::Stmt s(impl_->db,
              "SELECT count(DISTINCT image_id), count(*), count(error), count(DISTINCT CASE WHEN error IS NOT NULL THEN image_id END) "
              "FROM results WHERE run_id = ?");
  s.bind(1, run);
  s.step();
  return RunSummary{s.int64(0), s.int64(3), s.int64(2), s.int64(1)};
}

std::vector<Store::StoredResult> Store::results(std::int64_t run, bool with_maps) const {
  const sql::Db& db = impl_->db;
  sql::Stmt s(db, std::string("SELECT i.idx, r.id, ") + kResultColumns +
                      " FROM results r JOIN images i ON r.image_id = i.id WHERE r.run_id = ? ORDER BY i.idx, r.method, r.variant, r.score");
  s.bind(1, run);
  sql::Stmt a(db, "SELECT metric, evaluation, auc FROM curve_aucs WHERE result_id = ? ORDER BY metric, evaluation");
  std::vector<StoredResult> out;
  while (s.step()) {
    StoredResult sr;
    sr.image = s.int64(0);
    ResultRow& r = sr.row;
    // kResultColumns from column 2: method, variant, score, class, y_c, z_c, s, gradient_norm,
    // completeness_gap, deletion_auc, insertion_auc, seconds, map, map_shape, error
    r.method = s.text(2);
    r.variant = s.text(3);
    r.score = s.text(4);
    r.cls = s.opt_int64(5);
    r.y_c = s.opt_real(6);
    r.z_c = s.opt_real(7);
    r.s = s.opt_real(8);
    r.gradient_norm = s.opt_real(9);
    r.completeness_gap = s.opt_real(10);
    r.deletion = s.opt_real(11);
    r.insertion = s.opt_real(12);
    r.seconds = s.real(13);
    if (with_maps && !s.is_null(14)) read_map(s, 14, 15, db.path(), r.map, r.map_shape);
    if (!s.is_null(16)) r.error = s.text(16);
    a.bind(1, s.int64(1));
    while (a.step()) r.aucs.push_back({a.text(0), a.text(1), a.is_null(2) ? std::nan("") : a.real(2)});
    a.reset();
    out.push_back(std::move(sr));
  }
  return out;
}

std::vector<std::int64_t> Store::runs() const { return run_ids(impl_->db); }
RunInfo Store::run_info(std::int64_t run) const { return read_run(impl_->db, run); }

std::vector<std::string> option_items(const RunInfo& run, const std::string& key) {
  std::vector<std::string> out;
  const auto it = run.options.find(key);
  if (it == run.options.end() || !it->is_string()) return out;
  std::stringstream ss(it->get<std::string>());
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

std::string run_difference(const RunInfo& stored, const RunInfo& asked, bool compare_shard) {
  return first_difference(stored, asked, compare_shard);
}

// ---------------------------------------------------------------------------------------------
// merge

namespace {

struct Removal {  // removes a temporary database (and its WAL companions) unless disarmed
  std::string path;
  bool armed = true;
  ~Removal() {
    if (!armed) return;
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) std::filesystem::remove(path + suffix, ec);
  }
};

// Every result column after (run_id, image_id) compared, except seconds (timings differ).
bool same_result(sql::Stmt& a, sql::Stmt& b) {
  for (int c = 0; c < 15; ++c) {
    if (c == 11) continue;  // seconds
    if (a.is_null(c) != b.is_null(c)) return false;
    if (a.is_null(c)) continue;
    if (c == 12) {
      if (a.blob(c) != b.blob(c)) return false;
    } else if (a.text(c) != b.text(c)) {
      const double x = a.real(c), y = b.real(c);
      if (!(x == y)) return false;
    }
  }
  return true;
}

}  // namespace

MergeSummary merge_databases(const std::vector<std::string>& inputs, const std::string& out) {
  if (inputs.size() < 2) throw ArgumentError("merge needs at least two databases");
  std::error_code ec;
  if (std::filesystem::exists(std::filesystem::symlink_status(out, ec)))
    throw IoError("--out '" + out + "' exists (merge writes a new database; remove it or choose another path)");
  for (const auto& in : inputs)
    if (std::filesystem::equivalent(in, out, ec)) throw IoError("--out '" + out + "' is one of the inputs");
  std::vector<Store> stores;
  std::vector<std::int64_t> runs;
  std::vector<RunInfo> infos;
  for (const auto& in : inputs) {
    stores.push_back(Store::open_read_only(in));
    const auto ids = stores.back().runs();
    if (ids.size() != 1)
      throw Error("'" + in + "' holds " + std::to_string(ids.size()) + " runs; merge takes databases of one run each (a sweep's --out, or its shards)");
    runs.push_back(ids[0]);
    infos.push_back(stores.back().run_info(ids[0]));
    const std::string diff = first_difference(infos[0], infos.back(), false);
    if (!diff.empty())
      throw OptionsMismatch("'" + in + "' and '" + inputs[0] + "' are not of the same run: " + diff + " (the first is '" + inputs[0] + "')");
  }
  // The merged run's shard: none when the inputs are shards 0..n-1 of n; else the list.
  std::set<std::string> shards;
  std::string shard_list;
  for (const auto& i : infos) {
    shards.insert(i.shard);
    shard_list += (shard_list.empty() ? "" : ",") + (i.shard.empty() ? std::string("all") : i.shard);
  }
  RunInfo merged = infos[0];
  merged.shard = shard_list;
  if (shards.count("")) merged.shard = "";
  else {
    const auto slash = infos[0].shard.find('/');
    const std::string n = infos[0].shard.substr(slash + 1);
    bool complete = true;
    for (std::int64_t i = 0; i < std::stoll(n); ++i) complete = complete && shards.count(std::to_string(i) + "/" + n);
    if (complete) merged.shard = "";
  }
  std::set<std::string> hosts;
  for (const auto& i : infos) hosts.insert(i.host);
  merged.host.clear();
  for (const auto& h : hosts) merged.host += (merged.host.empty() ? "" : ",") + h;

  const std::string tmp = out + ".tmp-merge-" + std::to_string(getpid());
  Removal cleanup{tmp};
  MergeSummary summary;
  {
    Store dst = Store::open_or_create(tmp);
    const sql::Db& db = dst.impl().db;
    sql::Transaction t(db);
    // Started: the earliest; ended: the latest, or NULL when some input did not finish.
    std::string started, ended;
    bool all_ended = true;
    std::int64_t total_images = 0, failed = 0;
    for (std::size_t k = 0; k < stores.size(); ++k) {
      sql::Stmt s(stores[k].impl().db, "SELECT started, ended, images, failed_rows FROM run WHERE id = ?");
      s.bind(1, runs[k]);
      s.step();
      if (started.empty() || s.text(0) < started) started = s.text(0);
      if (s.is_null(1)) all_ended = false;
      else if (s.text(1) > ended) ended = s.text(1);
      total_images += s.int64(2);
      failed += s.int64(3);
    }
    const std::int64_t run = insert_run(db, merged, started);
    for (std::size_t k = 0; k < stores.size(); ++k) {
      const sql::Db& src = stores[k].impl().db;
      sql::Stmt ses(src, "SELECT gradattr_commit, host, pid, threads, started, ended, complete FROM session WHERE run_id = ?");
      ses.bind(1, runs[k]);
      sql::Stmt put(db, "INSERT INTO session (run_id, gradattr_commit, host, pid, threads, started, ended, complete) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
      while (ses.step()) {
        put.bind(1, run).bind(2, ses.text(0)).bind(3, ses.text(1)).bind(4, ses.int64(2)).bind(5, ses.int64(3)).bind(6, ses.text(4));
        if (ses.is_null(5)) put.bind_null(7);
        else put.bind(7, ses.text(5));
        put.bind(8, ses.int64(6));
        put.run();
      }
      sql::Stmt im(src, "SELECT id, idx, name, record, label, sha256 FROM images WHERE run_id = ? ORDER BY idx");
      im.bind(1, runs[k]);
      while (im.step()) {
        ImageRecord rec{im.int64(1), im.text(2), im.opt_int64(3), im.opt_int64(4), im.is_null(5) ? "" : im.text(5)};
        sql::Stmt have(db, "SELECT id, sha256 FROM images WHERE run_id = ? AND idx = ?");
        have.bind(1, run).bind(2, rec.index);
        std::int64_t dst_id = 0;
        if (have.step()) {
          if (have.text(1) != rec.sha256)
            throw Error("'" + inputs[k] + "' and an earlier input disagree on image " + std::to_string(rec.index) + " (" + rec.name +
                        "): different SHA-256");
          dst_id = have.int64(0);
        } else {
          dst_id = upsert_image(db, run, rec);
          ++summary.images;
        }
        // the result columns, then the row's id (column 15: its curve_aucs)
        sql::Stmt rs(src, std::string("SELECT ") + kResultColumns + ", id FROM results WHERE image_id = ?");
        rs.bind(1, im.int64(0));
        while (rs.step()) {
          const auto aucs = read_aucs(src, rs.int64(15));
          sql::Stmt old(db, std::string("SELECT ") + kResultColumns + ", id FROM results WHERE image_id = ? AND method = ? AND variant = ? AND score = ?");
          old.bind(1, dst_id).bind(2, rs.text(0)).bind(3, rs.text(1)).bind(4, rs.text(2));
          if (old.step()) {
            if (!same_result(old, rs) || read_aucs(db, old.int64(15)) != aucs)
              throw Error("'" + inputs[k] + "' and an earlier input disagree on image " + std::to_string(rec.index) + " " + rs.text(0) +
                          (rs.text(1).empty() ? "" : "/" + rs.text(1)) + " score " + rs.text(2));
            ++summary.duplicates;
            continue;
          }
          sql::Stmt put_r(db, std::string("INSERT INTO results (run_id, image_id, ") + kResultColumns +
                                  ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
          put_r.bind(1, run).bind(2, dst_id);
          for (int c = 0; c < 15; ++c) {
            const int i = c + 3;
            if (rs.is_null(c)) put_r.bind_null(i);
            else if (c == 12) {
              const auto b = rs.blob(c);
              put_r.bind_blob(i, b.data(), b.size());
            } else if (c == 3) put_r.bind(i, rs.int64(c));
            else if ((c >= 4 && c <= 11)) put_r.bind(i, rs.real(c));
            else put_r.bind(i, rs.text(c));
          }
          put_r.run();
          const std::int64_t id = sqlite3_last_insert_rowid(db.get());
          for (const auto& [key, auc] : aucs) insert_auc(db, id, key.first, key.second, auc);
          ++summary.rows;
        }
      }
    }
    sql::Stmt fin(db, "UPDATE run SET ended = ?, images = ?, failed_rows = ? WHERE id = ?");
    if (all_ended) fin.bind(1, ended);
    else fin.bind_null(1);
    fin.bind(2, total_images).bind(3, failed).bind(4, run);
    fin.run();
    t.commit();
  }  // closed: the WAL is checkpointed into the file and removed
  std::filesystem::rename(tmp, out, ec);
  if (ec) throw IoError("merge: cannot write '" + out + "': " + ec.message());
  cleanup.armed = false;
  return summary;
}

// ---------------------------------------------------------------------------------------------
// export

namespace {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

// A number as CSV text, round-trip exact; empty for none.
std::string csv_real(std::optional<double> v) {
  if (!v) return {};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", *v);
  return buf;
}
std::string csv_number(sql::Stmt& s, int c) { return csv_real(s.opt_real(c)); }

}  // namespace

std::int64_t export_results(const std::string& path, const ExportOptions& o) {
  if (o.csv.empty() && o.maps.empty()) throw ArgumentError("export: give --csv and/or --maps");
  Store st = Store::open_read_only(path);
  const sql::Db& db = st.impl().db;
  const auto ids = run_ids(db);
  if (ids.empty()) throw Error("database '" + path + "' holds no run");
  std::int64_t run = ids.back();
  if (o.run) {
    if (std::find(ids.begin(), ids.end(), *o.run) == ids.end())
      throw Error("database '" + path + "' has no run " + std::to_string(*o.run));
    run = *o.run;
  }
  sql::Stmt s(db,
              "SELECT i.idx, i.name, i.label, i.sha256, r.method, r.variant, r.score, r.class, r.y_c, r.z_c, r.s, r.gradient_norm, "
              "r.completeness_gap, r.deletion_auc, r.insertion_auc, r.seconds, r.error, r.map, r.map_shape, r.id "
              "FROM results r JOIN images i ON r.image_id = i.id WHERE r.run_id = ?1 AND (?2 = '' OR r.method = ?2) "
              "ORDER BY i.idx, r.method, r.variant, r.score");
  s.bind(1, run).bind(2, o.method);
  std::string csv = "image,name,label,sha256,method,variant,score,class,y_c,z_c,S,gradient_norm,completeness_gap,deletion_auc,"
                    "insertion_auc,seconds,error,map_row";
  // A run evaluated in several score spaces: one more column per (metric, evaluation space),
  // <metric>_auc_<space>, in the order of --metrics and --metric-score.
  std::vector<std::pair<std::string, std::string>> auc_columns;
  {
    const RunInfo info = read_run(db, run);
    const auto spaces = option_items(info, "--metric-score");
    if (spaces.size() > 1)
      for (const auto& m : option_items(info, "--metrics"))
        for (const auto& e : spaces) {
          auc_columns.emplace_back(m, e);
          csv += "," + m + "_auc_" + e;
        }
  }
  csv += "\n";
  std::vector<float> maps;
  std::vector<std::int64_t> shape;
  std::string shape_owner;
  std::int64_t rows = 0, map_rows = 0;
  while (s.step()) {
    ++rows;
    std::string line = std::to_string(s.int64(0)) + "," + csv_field(s.text(1)) + "," + (s.is_null(2) ? "" : std::to_string(s.int64(2))) +
                       "," + s.text(3) + "," + csv_field(s.text(4)) + "," + csv_field(s.text(5)) + "," + csv_field(s.text(6)) + "," +
                       (s.is_null(7) ? "" : std::to_string(s.int64(7)));
    for (int c = 8; c <= 15; ++c) {  // appended piecewise: GCC 12 warns (-Wrestrict) on "," + temporary
      line += ',';
      line += csv_number(s, c);
    }
    line += ',';
    line += csv_field(s.text(16));
    line += ',';
    if (!s.is_null(17)) {
      std::vector<float> one;
      std::vector<std::int64_t> sh;
      read_map(s, 17, 18, path, one, sh);
      const std::string who = "image " + std::to_string(s.int64(0)) + " " + s.text(4);
      if (!o.maps.empty() && map_rows > 0 && sh != shape)
        throw Error("export --maps: the maps have different shapes (" + s.text(18) + " for " + who + ", " +
                    nlohmann::json(shape).dump() + " for " + shape_owner + "): export one method at a time with --method");
      if (map_rows == 0) shape = sh, shape_owner = who;
      maps.insert(maps.end(), one.begin(), one.end());
      line += std::to_string(map_rows++);
    }
    if (!auc_columns.empty()) {
      const auto aucs = read_aucs(db, s.int64(19));
      for (const auto& key : auc_columns) {
        line += ',';
        const auto a = aucs.find(key);
        if (a != aucs.end()) line += csv_real(a->second);
      }
    }
    csv += line + "\n";
  }
  if (!o.maps.empty() && map_rows == 0)
    throw Error("export --maps: no saved maps in '" + path + "'" + (o.method.empty() ? "" : " for --method " + o.method) +
                " (the sweep runs without --save-maps?)");
  // Both outputs are built before either is written; a failed second write removes the first.
  const bool csv_existed = !o.csv.empty() && std::filesystem::exists(o.csv);
  if (!o.csv.empty())
    io::detail::write_file_atomic(o.csv, "export --csv", [&](std::ostream& out) { out.write(csv.data(), static_cast<std::streamsize>(csv.size())); });
  if (!o.maps.empty()) {
    try {
      Shape full;
      full.push(map_rows);
      for (auto d : shape) full.push(d);  // ShapeError past rank 4
      Tensor<float> t(full);
      std::copy(maps.begin(), maps.end(), t.data());
      io::write_npy(o.maps, t);
    } catch (...) {
      std::error_code ec;
      if (!o.csv.empty() && !csv_existed && o.csv != "-") std::filesystem::remove(o.csv, ec);
      throw;
    }
  }
  return rows;
}

}  // namespace gradattr::sweep
