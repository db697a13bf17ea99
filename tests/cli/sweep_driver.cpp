// `gradattr sweep`, `merge` and `export` run as a user would (docs/sweep.md), the databases read
// back here through SQLite's C API (not through gradattr's store):
//   - one run equals two --shard runs merged: the same rows, maps bitwise equal (OMP_NUM_THREADS=1);
//   - a run aborted after k images ($GRADATTR_SWEEP_ABORT_AFTER, std::abort) then rerun equals an
//     uninterrupted run: no duplicate, PRAGMA integrity_check ok;
//   - a malformed image is a failed row with its error, the sweep goes on and counts it;
//   - bad input: a bad --shard, an unknown method, a database of other options, merging other
//     runs, IDX labels that do not match: exit 2 or 1, one line naming the flag or file, no file made.
//   - mpi (with `mpi <mpirun> <fashion-mnist dir>`, docs/sweep.md "MPI"): one process, mpirun -np 2
//     and two --shard runs merged give the same rows, maps bitwise (OMP_NUM_THREADS=1 per rank); an
//     MPI sweep aborted in one rank and rerun equals the uninterrupted one, without duplicates;
//     mpirun -np 1 is the plain sweep; bad input under mpirun: one "gradattr:" line, exit 2 or 1.
//   - vit (with `vit`, an ONNX build): a ViT's attention methods and token CAM in every score space,
//     each stored map equal to `explain --save-raw`'s.
// Usage: test_sweep_driver <gradattr> <tests/data> <scratch dir> [mpi <mpirun> <fashion-mnist dir> | vit]
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <gradattr/io/image.hpp>
#include <gradattr/io/npy.hpp>

namespace fs = std::filesystem;

namespace {

std::string g_cli;
fs::path g_data, g_dir;
int g_failures = 0, g_checks = 0;

void expect(bool ok, const std::string& what) {
  ++g_checks;
  if (!ok) {
    ++g_failures;
    std::printf("FAIL %s\n", what.c_str());
  }
}

struct Result {
  int code = -1, signal = 0;
  std::string out, err;
};

// Runs gradattr in g_dir with stdout/stderr captured to files; `env` is added to the environment.
// `launcher` (mpirun and its options) goes before the program.
Result run(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {},
           const std::vector<std::string>& launcher = {}) {
  const fs::path out = g_dir / ".out", err = g_dir / ".err";
  const pid_t pid = fork();
  if (pid == 0) {
    if (chdir(g_dir.c_str()) != 0) _exit(126);
    const int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(o, 1);
    dup2(e, 2);
    setenv("OMP_NUM_THREADS", "1", 1);  // bitwise-equal maps between runs
    setenv("OMP_WAIT_POLICY", "passive", 1);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> argv;
    for (const auto& l : launcher) argv.push_back(const_cast<char*>(l.c_str()));
    argv.push_back(const_cast<char*>(g_cli.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  Result r;
  if (WIFEXITED(status)) r.code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  auto slurp = [](const fs::path& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  r.out = slurp(out);
  r.err = slurp(err);
  fs::remove(out);
  fs::remove(err);
  return r;
}

// A failure as the CLI contract wants it: the status, one line "gradattr: ..." containing `msg`.
void expect_failure(const std::string& name, const Result& r, int code, const std::string& msg) {
  expect(r.code == code, name + ": exit " + std::to_string(r.code) + " (signal " + std::to_string(r.signal) + "), expected " +
                             std::to_string(code) + "; stderr: " + r.err);
  expect(r.err.rfind("gradattr: ", 0) == 0 && r.err.find('\n') == r.err.size() - 1, name + ": stderr is not one 'gradattr: ' line: " + r.err);
  expect(r.err.find(msg) != std::string::npos, name + ": stderr does not mention '" + msg + "': " + r.err);
}
void expect_ok(const std::string& name, const Result& r) {
  expect(r.code == 0, name + ": exit " + std::to_string(r.code) + " (signal " + std::to_string(r.signal) + "); stderr: " + r.err);
}

// ---- the databases, read with SQLite directly ----
struct Db {
  sqlite3* db = nullptr;
  explicit Db(const fs::path& p) {
    if (sqlite3_open_v2(p.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      std::printf("FAIL cannot open %s\n", p.c_str());
      std::exit(1);
    }
  }
  ~Db() { sqlite3_close(db); }
  // Every row of the query, each row its columns as bytes (NULL -> "<null>"), joined by '|'.
  std::vector<std::string> rows(const std::string& q) const {
    sqlite3_stmt* s = nullptr;
    std::vector<std::string> out;
    if (sqlite3_prepare_v2(db, q.c_str(), -1, &s, nullptr) != SQLITE_OK) {
      std::printf("FAIL query %s: %s\n", q.c_str(), sqlite3_errmsg(db));
      ++g_failures;
      return out;
    }
    while (sqlite3_step(s) == SQLITE_ROW) {
      std::string row;
      for (int c = 0; c < sqlite3_column_count(s); ++c) {
        if (c) row += '|';
        if (sqlite3_column_type(s, c) == SQLITE_NULL) {
          row += "<null>";
        } else if (sqlite3_column_type(s, c) == SQLITE_FLOAT) {
          const double v = sqlite3_column_double(s, c);  // the bits, not a rounding of them
          char buf[32];
          std::snprintf(buf, sizeof buf, "%a", v);
          row += buf;
        } else {
          const auto* p = static_cast<const char*>(sqlite3_column_blob(s, c));
          row.append(p ? p : "", static_cast<std::size_t>(sqlite3_column_bytes(s, c)));
        }
      }
      out.push_back(row);
    }
    sqlite3_finalize(s);
    return out;
  }
  std::string one(const std::string& q) const {
    const auto r = rows(q);
    return r.empty() ? "<none>" : r[0];
  }
};

// Everything a result row says except its timing, in a fixed order.
const char* kRows =
    "SELECT i.idx, i.name, i.label, i.sha256, r.method, r.variant, r.score, r.class, r.y_c, r.z_c, r.s, r.gradient_norm, "
    "r.completeness_gap, r.deletion_auc, r.insertion_auc, r.map, r.map_shape, r.error FROM results r JOIN images i ON r.image_id = i.id "
    "ORDER BY i.idx, r.method, r.variant, r.score";

// ---- inputs ----
// Seeded PNG images (28x28 RGB, the shipped model's size) and one malformed file.
// `side` x `side` pixels into g_dir / `sub`; with_bad adds the malformed one.
fs::path make_images(int n, int side = 28, const std::string& sub = "imgs", bool with_bad = true) {
  const fs::path dir = g_dir / sub;
  fs::create_directories(dir);
  std::mt19937 rng(7);
  for (int k = 0; k < n; ++k) {
    std::vector<std::uint8_t> px(static_cast<std::size_t>(side * side * 3));
    for (auto& v : px) v = static_cast<std::uint8_t>(rng() % 256);
    char name[32];
    std::snprintf(name, sizeof name, "img%02d.png", k);
    gradattr::io::write_png(dir / name, px.data(), side, side, 3);
  }
  if (!with_bad) return dir;
  fs::copy_file(g_data / "bad" / "images" / "truncated.png", dir / "img03_bad.png");  // sorts between img03 and img04
  std::ofstream(dir / "notes.txt") << "not an image: not listed";
  return dir;
}

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

void group_sweep() {
  const auto imgs = make_images(7);  // 8 files listed (one malformed), 6 jobs each
  const std::vector<std::string> base = {"sweep", "--images", "imgs", "--methods", "gradcam,ig", "--scores", "pre,post,log",
                                         "--steps", "3", "--metrics", "deletion,insertion", "--metric-steps", "4", "--save-maps"};
  auto with = [&](std::vector<std::string> extra) {
    auto a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  // One uninterrupted run.
  auto r = run(with({"--out", "full.sqlite"}));
  expect_ok("full", r);
  expect(r.out.find("failed: 1 image(s), 6 row(s)") != std::string::npos, "full: the summary does not count the failed image: " + r.out);
  const Db full(g_dir / "full.sqlite");
  const auto full_rows = full.rows(kRows);
  expect(full_rows.size() == 48, "full: " + std::to_string(full_rows.size()) + " rows, expected 8 images x 6");
  expect(full.one("SELECT count(*) FROM results WHERE error IS NOT NULL") == "6", "full: failed rows");
  expect(full.one("SELECT DISTINCT error FROM results WHERE error IS NOT NULL").find("img03_bad.png") != std::string::npos,
         "full: the error does not name the malformed file");
  expect(full.one("SELECT count(*) FROM results WHERE error IS NULL AND (map IS NULL OR deletion_auc IS NULL OR insertion_auc IS NULL)") == "0",
         "full: a computed row lacks its map or metrics");
  expect(full.one("SELECT count(*) FROM results WHERE method = 'ig' AND error IS NULL AND completeness_gap IS NULL") == "0",
         "full: IG rows need their completeness gap");
  expect(full.one("SELECT count(*) FROM results WHERE method = 'gradcam' AND completeness_gap IS NOT NULL") == "0",
         "full: Grad-CAM has no completeness gap");
  expect(full.one("SELECT DISTINCT map_shape FROM results WHERE method = 'gradcam' AND map IS NOT NULL") == "[7,7]", "full: Grad-CAM map shape");
  expect(full.one("SELECT DISTINCT length(map) FROM results WHERE method = 'ig' AND map IS NOT NULL") == std::to_string(28 * 28 * 4),
         "full: IG map bytes");
  expect(full.one("PRAGMA user_version") == "2", "full: schema version");
  expect(full.one("PRAGMA journal_mode") == "wal", "full: WAL mode");
  expect(full.one("SELECT count(*) FROM images WHERE name LIKE '%notes.txt'") == "0", "full: a .txt file was listed");
  // Every listed file has its SHA-256 (tests/sweep/sha256.cpp checks the digest itself), the
  // malformed one included: its bytes were read.
  expect(full.one("SELECT count(*) FROM images WHERE length(sha256) = 64") == "8", "full: image SHA-256");

  // Resume of a finished run: nothing recomputed, nothing duplicated.
  r = run(with({"--out", "full.sqlite"}));
  expect_ok("rerun", r);
  expect(r.out.find("0 computed now, 8 already done") != std::string::npos, "rerun: " + r.out);
  expect(full.rows(kRows) == full_rows, "rerun changed the rows");

  // No read-ahead, and a deep one: the same rows, maps bitwise (the prefetch changes only when an
  // image is read).
  expect_ok("prefetch 0", run(with({"--prefetch", "0", "--out", "p0.sqlite"})));
  expect(Db(g_dir / "p0.sqlite").rows(kRows) == full_rows, "--prefetch 0 changed the rows");
  expect_ok("prefetch 5", run(with({"--prefetch", "5", "--out", "p5.sqlite"})));
  expect(Db(g_dir / "p5.sqlite").rows(kRows) == full_rows, "--prefetch 5 changed the rows");

  // Two shards merged = the single run, maps bitwise.
  expect_ok("shard 0/2", run(with({"--shard", "0/2", "--out", "s0.sqlite"})));
  expect_ok("shard 1/2", run(with({"--shard", "1/2", "--out", "s1.sqlite"})));
  expect(Db(g_dir / "s0.sqlite").one("SELECT group_concat(idx) FROM (SELECT idx FROM images ORDER BY idx)") == "0,2,4,6", "shard 0/2 images");
  r = run({"merge", "s0.sqlite", "s1.sqlite", "--out", "merged.sqlite"});
  expect_ok("merge", r);
  {
    const Db m(g_dir / "merged.sqlite");
    expect(m.rows(kRows) == full_rows, "merge: the merged shards differ from the single run");
    expect(m.one("SELECT shard FROM run").empty(), "merge: shards 0/2 and 1/2 make the whole run (shard '')");
  }
  // The merged database resumes as the single run would: nothing to do.
  r = run(with({"--out", "merged.sqlite"}));
  expect_ok("resume merged", r);
  expect(r.out.find("0 computed now") != std::string::npos, "resume merged: " + r.out);

  // Aborted after 3 images, then rerun: equals the uninterrupted run.
  r = run(with({"--out", "killed.sqlite"}), {{"GRADATTR_SWEEP_ABORT_AFTER", "3"}});
  expect(r.signal == SIGABRT, "abort hook: the run was not aborted (exit " + std::to_string(r.code) + ")");
  {
    const Db k(g_dir / "killed.sqlite");
    expect(k.one("SELECT count(*) FROM results") == "18", "aborted: " + k.one("SELECT count(*) FROM results") + " rows, expected 3 images x 6");
    expect(k.one("SELECT ended FROM run") == "<null>", "aborted: the run is marked ended");
  }
  r = run(with({"--out", "killed.sqlite"}));
  expect_ok("resume", r);
  expect(r.out.find("5 computed now, 3 already done") != std::string::npos, "resume: " + r.out);
  {
    const Db k(g_dir / "killed.sqlite");
    expect(k.rows(kRows) == full_rows, "resume: the resumed run differs from the uninterrupted one");
    expect(k.one("SELECT count(*) FROM (SELECT DISTINCT image_id, method, variant, score FROM results)") == "48", "resume: duplicates");
    expect(k.one("PRAGMA integrity_check") == "ok", "resume: integrity_check");
    expect(k.one("SELECT count(*) FROM session") == "2", "resume: one session per invocation");
  }

  // Other options: refused, the database untouched; --new-run starts a second run.
  r = run({"sweep", "--images", "imgs", "--methods", "gradcam,ig", "--scores", "post", "--out", "full.sqlite"});
  expect_failure("other options", r, 1, "--scores was 'pre,post,log', now 'post'");
  expect(full.rows(kRows) == full_rows, "other options: the database changed");
  r = run({"sweep", "--images", "imgs", "--methods", "gradcam", "--scores", "post", "--limit", "2", "--out", "full.sqlite", "--new-run"});
  expect_ok("new run", r);
  expect(full.one("SELECT count(*) FROM run") == "2", "new run: runs");
  expect(full.one("SELECT count(*) FROM results WHERE run_id = 2") == "2", "new run: --limit 2 rows");

  // Merging different runs is refused, no output.
  expect_ok("other run", run({"sweep", "--images", "imgs", "--methods", "gradcam,ig", "--scores", "post", "--out", "other.sqlite"}));
  r = run({"merge", "s0.sqlite", "other.sqlite", "--out", "bad_merge.sqlite"});
  expect_failure("merge other runs", r, 1, "--scores was 'pre,post,log', now 'post'");
  expect(!fs::exists(g_dir / "bad_merge.sqlite"), "merge other runs: left the output");
  r = run({"merge", "s0.sqlite", "s1.sqlite", "--out", "merged.sqlite"});
  expect_failure("merge onto an existing file", r, 1, "exists");

  // Export: every row as CSV; maps of one shape.
  r = run({"export", "merged.sqlite", "--csv", "summary.csv", "--maps", "gc.npy", "--method", "gradcam"});
  expect_ok("export", r);
  {
    std::ifstream in(g_dir / "summary.csv");
    int lines = 0;
    for (std::string l; std::getline(in, l);) ++lines;
    expect(lines == 1 + 24, "export: " + std::to_string(lines) + " CSV lines, expected a header and 8 x 3 Grad-CAM rows");
    std::ifstream npy(g_dir / "gc.npy", std::ios::binary);
    std::string head(128, '\0');
    npy.read(head.data(), 128);
    expect(head.find("'shape': (21, 7, 7)") != std::string::npos, "export: maps.npy header " + head.substr(10, 70));
  }
  r = run({"export", "merged.sqlite", "--maps", "all.npy"});
  expect_failure("export mixed shapes", r, 1, "--method");
  expect(!fs::exists(g_dir / "all.npy"), "export mixed shapes: left the output");

  // Bad command lines: exit 2, no database made.
  expect_failure("bad shard", run(with({"--shard", "2/2", "--out", "x.sqlite"})), 2, "--shard 2/2: need 0 <= i < n");
  expect_failure("shard syntax", run(with({"--shard", "half", "--out", "x.sqlite"})), 2, "--shard must be i/n");
  expect_failure("bad prefetch", run(with({"--prefetch", "65", "--out", "x.sqlite"})), 2, "--prefetch must be at most 64, got 65");
  expect_failure("negative prefetch", run(with({"--prefetch", "-1", "--out", "x.sqlite"})), 2, "--prefetch must be at least 0, got -1");
  expect_failure("unknown method", run({"sweep", "--images", "imgs", "--methods", "gradcam,nosuch", "--out", "x.sqlite"}), 2,
                 "--methods: unknown method 'nosuch'");
  expect_failure("unknown metric", run({"sweep", "--images", "imgs", "--metrics", "area", "--out", "x.sqlite"}), 2, "--metrics: unknown metric 'area'");
  expect_failure("two sources", run({"sweep", "--images", "imgs", "--idx", "x.idx", "--out", "x.sqlite"}), 2, "exactly one of");
  expect_failure("no out", run({"sweep", "--images", "imgs"}), 2, "--out");
  expect_failure("variant of no method", run({"sweep", "--images", "imgs", "--variant", "guided", "--out", "x.sqlite"}), 2, "--variant guided");
  expect_failure("class out of range", run({"sweep", "--images", "imgs", "--class", "10", "--out", "x.sqlite"}), 2, "--class 10 is out of range");
  expect_failure("missing directory", run({"sweep", "--images", "nope", "--out", "x.sqlite"}), 1, "'nope' is not a directory");
  expect(!fs::exists(g_dir / "x.sqlite"), "bad command lines: a database was made");
  // Curves under two evaluation spaces and the random-map reference (--random-baseline): one more
  // row per image, an AUC per metric x space in curve_aucs; the row's deletion/insertion are the
  // first space's. Two shards merged equal the single run, curve_aucs included.
  const std::vector<std::string> faith = {"sweep", "--images", "imgs", "--methods", "gradcam", "--scores", "pre,post", "--metrics",
                                          "deletion,insertion", "--metric-score", "pre,post", "--metric-steps", "4", "--metric-batch", "3",
                                          "--random-baseline", "--save-maps"};
  auto faith_with = [&](std::vector<std::string> extra) {
    auto a = faith;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  const char* kAucs = "SELECT i.idx, r.method, r.score, a.metric, a.evaluation, a.auc FROM curve_aucs a JOIN results r ON a.result_id = r.id "
                      "JOIN images i ON r.image_id = i.id ORDER BY 1, 2, 3, 4, 5";
  expect_ok("faithfulness", run(faith_with({"--out", "faith.sqlite"})));
  {
    const Db f(g_dir / "faith.sqlite");
    expect(f.one("SELECT count(*) FROM results") == "24", "faithfulness: rows (8 images x (2 scores + random))");
    expect(f.one("SELECT count(*) FROM results WHERE method = 'random' AND score = 'none' AND variant = ''") == "8", "faithfulness: random rows");
    expect(f.one("SELECT count(*) FROM curve_aucs") == std::to_string(7 * 3 * 4), "faithfulness: curve_aucs rows");
    expect(f.one("SELECT count(*) FROM results r JOIN curve_aucs a ON a.result_id = r.id AND a.evaluation = 'pre' WHERE "
                 "(a.metric = 'deletion' AND a.auc IS NOT r.deletion_auc) OR (a.metric = 'insertion' AND a.auc IS NOT r.insertion_auc)") == "0",
           "faithfulness: deletion_auc/insertion_auc are not the first evaluation space's");
    expect(f.one("SELECT count(*) FROM curve_aucs a JOIN curve_aucs b ON a.result_id = b.result_id AND a.metric = b.metric "
                 "AND a.evaluation = 'pre' AND b.evaluation = 'post' WHERE a.auc = b.auc") == "0",
           "faithfulness: the Pre and Post curves are the same");
    expect(f.one("SELECT DISTINCT map_shape FROM results WHERE method = 'random' AND map IS NOT NULL") == "[28,28]", "faithfulness: random map shape");
    expect(f.one("SELECT json_extract(options, '$.\"--metric-batch\"') || ',' || json_extract(options, '$.\"--random-baseline\"') FROM run") == "3,1",
           "faithfulness: the run's options");
    // a run made without the new flags records neither (older databases still resume)
    expect(full.one("SELECT json_type(options, '$.\"--metric-batch\"') IS NULL AND json_type(options, '$.\"--random-baseline\"') IS NULL FROM run") == "1",
           "faithfulness: a default run records --metric-batch or --random-baseline");
    expect_ok("faithfulness shard 0/2", run(faith_with({"--shard", "0/2", "--out", "fs0.sqlite"})));
    expect_ok("faithfulness shard 1/2", run(faith_with({"--shard", "1/2", "--out", "fs1.sqlite"})));
    expect_ok("faithfulness merge", run({"merge", "fs0.sqlite", "fs1.sqlite", "--out", "fmerged.sqlite"}));
    const Db m(g_dir / "fmerged.sqlite");
    expect(m.rows(kRows) == f.rows(kRows), "faithfulness: the merged shards' rows differ from the single run's");
    expect(m.rows(kAucs) == f.rows(kAucs), "faithfulness: the merged shards' curve AUCs differ from the single run's");
  }
  expect_ok("faithfulness export", run({"export", "faith.sqlite", "--csv", "faith.csv"}));
  {
    std::ifstream in(g_dir / "faith.csv");
    std::string header;
    std::getline(in, header);
    expect(header.find(",map_row,deletion_auc_pre,deletion_auc_post,insertion_auc_pre,insertion_auc_post") != std::string::npos,
           "faithfulness export: header " + header);
  }
  expect_failure("random baseline without metrics", run({"sweep", "--images", "imgs", "--random-baseline", "--out", "x.sqlite"}), 2,
                 "--random-baseline");
  expect_failure("metric score twice",
                 run({"sweep", "--images", "imgs", "--metrics", "deletion", "--metric-score", "post,post", "--out", "x.sqlite"}), 2,
                 "--metric-score lists post twice");
  expect_failure("metric batch 0", run({"sweep", "--images", "imgs", "--metrics", "deletion", "--metric-batch", "0", "--out", "x.sqlite"}), 2,
                 "--metric-batch");
  expect(!fs::exists(g_dir / "x.sqlite"), "faithfulness: a bad command line made a database");

  // Not a database: refused, the file left as it was.
  std::ofstream(g_dir / "text.sqlite") << "hello, not a database\n";
  expect_failure("not a database", run({"sweep", "--images", "imgs", "--limit", "1", "--out", "text.sqlite"}), 1, "text.sqlite");
  expect(fs::file_size(g_dir / "text.sqlite") == 22, "not a database: the file changed");
}

// gradattr view (docs/sweep.md, "Gallery"): pages, overlays and inputs on disk, every referenced
// file there and decodable; an input that cannot be re-read is said on its page; atomic output.
// (The browser's view of it: tests/cli/view_browser_test.cmake.)
void group_view() {
  auto r = run({"view", "merged.sqlite", "--out", "gallery/"});
  expect_ok("view", r);
  expect(r.out.find("8 image page(s), 42 map(s)") != std::string::npos && r.out.find("7 shown, 1 not") != std::string::npos,
         "view: summary " + r.out);
  const fs::path gal = g_dir / "gallery";
  auto slurp = [](const fs::path& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  // Every src= of every page: a file of the gallery that decodes.
  int pages = 0, refs = 0, maps = 0;
  std::vector<fs::path> htmls{gal / "index.html"};
  for (int k = 0; k < 8; ++k) htmls.push_back(gal / "images" / (std::to_string(k) + ".html"));
  for (const auto& h : htmls) {
    expect(fs::exists(h), "view: missing page " + h.string());
    const std::string text = slurp(h);
    ++pages;
    for (std::size_t p = text.find("src=\""); p != std::string::npos; p = text.find("src=\"", p + 1)) {
      const auto e = text.find('"', p + 5);
      const fs::path f = (h.parent_path() / text.substr(p + 5, e - p - 5)).lexically_normal();
      ++refs;
      try {
        const auto img = gradattr::io::read_image(f);
        expect(img.width == 112 && img.height == 112, "view: " + f.string() + " is not 112x112");
      } catch (const std::exception& x) {
        expect(false, "view: " + h.filename().string() + " refers to " + f.string() + ": " + x.what());
      }
    }
    if (h.parent_path().filename() == "images") {
      for (std::size_t p = text.find("class=\"px map\""); p != std::string::npos; p = text.find("class=\"px map\"", p + 1)) ++maps;
    }
  }
  expect(refs == 42 + 42 + 7, "view: " + std::to_string(refs) + " image references, expected 42 thumbnails + 42 maps + 7 inputs");
  expect(maps == 42, "view: " + std::to_string(maps) + " map <img> on the image pages, expected 42");
  const std::string bad = slurp(gal / "images" / "4.html");  // img03_bad.png
  expect(bad.find("input not shown") != std::string::npos && bad.find("img03_bad.png") != std::string::npos && bad.find("failed: ") != std::string::npos,
         "view: the malformed image's page does not say why it has no input");
  // The source moved away: every page says so; the maps are still drawn.
  fs::rename(g_dir / "imgs", g_dir / "imgs.moved");
  r = run({"view", "merged.sqlite", "--out", "gallery2"});
  fs::rename(g_dir / "imgs.moved", g_dir / "imgs");
  expect_ok("view without the source", r);
  expect(r.out.find("0 shown, 8 not: the sweep's source cannot be opened") != std::string::npos, "view without the source: " + r.out);
  expect(slurp(g_dir / "gallery2" / "images" / "0.html").find("input not shown: the sweep&#39;s source cannot be opened") != std::string::npos,
         "view without the source: the page does not say so");
  // A rerun replaces the gallery; --out onto something else is refused, left as it was, nothing else made.
  expect_ok("view again", run({"view", "merged.sqlite", "--out", "gallery", "--limit", "2"}));
  expect(!fs::exists(gal / "images" / "2.html") && fs::exists(gal / "images" / "1.html"), "view again: not replaced");
  std::ofstream(g_dir / "notagallery") << "x";
  expect_failure("view onto a file", run({"view", "merged.sqlite", "--out", "notagallery"}), 1, "not a gallery");
  expect(fs::file_size(g_dir / "notagallery") == 1, "view onto a file: changed it");
  fs::create_directories(g_dir / "somedir");
  expect_failure("view onto a directory", run({"view", "merged.sqlite", "--out", "somedir"}), 1, "not a gallery");
  expect_failure("view of a non-database", run({"view", "text.sqlite", "--out", "g3"}), 1, "text.sqlite");
  expect_failure("view without --out", run({"view", "merged.sqlite"}), 2, "--out");
  expect(!fs::exists(g_dir / "g3"), "view of a non-database: made a gallery");
  for (const auto& e : fs::directory_iterator(g_dir))
    expect(e.path().filename().string().find(".tmp-view-") == std::string::npos, "view: left " + e.path().string());
  // Rows without maps (run 2 of full.sqlite: no --save-maps): numbers only, said so.
  r = run({"view", "full.sqlite", "--out", "g4"});
  expect_ok("view without maps", r);
  expect(r.out.find("2 row(s) have no stored map") != std::string::npos, "view without maps: " + r.out);
}

// IDX images with labels, --class label; a manifest with a missing file.
void group_idx_manifest() {
  std::string images = be32(0x803) + be32(5) + be32(28) + be32(28), labels = be32(0x801) + be32(5);
  std::mt19937 rng(3);
  for (int i = 0; i < 5 * 28 * 28; ++i) images += static_cast<char>(rng() % 256);
  const int lab[5] = {3, 0, 9, 9, 1};
  for (int l : lab) labels += static_cast<char>(l);
  std::ofstream(g_dir / "x.idx", std::ios::binary) << images;
  std::ofstream(g_dir / "y.idx", std::ios::binary) << labels;
  auto r = run({"sweep", "--idx", "x.idx", "--labels", "y.idx", "--class", "label", "--methods", "hirescam", "--out", "idx.sqlite"});
  expect_ok("idx", r);
  const Db d(g_dir / "idx.sqlite");
  expect(d.one("SELECT group_concat(class) FROM (SELECT r.class FROM results r JOIN images i ON r.image_id = i.id ORDER BY i.idx)") == "3,0,9,9,1",
         "idx: the classes explained are not the labels");
  expect(d.one("SELECT group_concat(label) FROM (SELECT label FROM images ORDER BY idx)") == "3,0,9,9,1", "idx: labels");
  expect(d.one("SELECT group_concat(record) FROM (SELECT record FROM images ORDER BY idx)") == "0,1,2,3,4", "idx: records");
  std::ofstream(g_dir / "y4.idx", std::ios::binary) << be32(0x801) + be32(4) + std::string("\x01\x02\x03\x04", 4);
  expect_failure("idx label count", run({"sweep", "--idx", "x.idx", "--labels", "y4.idx", "--out", "idx2.sqlite"}), 1, "has 4 labels for 5 images");
  expect(!fs::exists(g_dir / "idx2.sqlite"), "idx label count: a database was made");

  fs::create_directories(g_dir / "m");
  fs::copy_file(g_data / "preprocess" / "photo.png", g_dir / "m" / "photo.png");
  std::ofstream(g_dir / "m" / "list.txt") << "# a comment\nphoto.png\t4\n\nmissing.png\t2\n";
  r = run({"sweep", "--manifest", "m/list.txt", "--class", "label", "--out", "man.sqlite"});
  expect_ok("manifest", r);
  const Db m(g_dir / "man.sqlite");
  expect(m.one("SELECT r.class FROM results r JOIN images i ON r.image_id = i.id WHERE i.idx = 0") == "4", "manifest: label class");
  expect(m.one("SELECT r.error FROM results r JOIN images i ON r.image_id = i.id WHERE i.idx = 1").find("missing.png': no such file") !=
             std::string::npos,
         "manifest: the missing file's row: " + m.one("SELECT r.error FROM results r JOIN images i ON r.image_id = i.id WHERE i.idx = 1"));
  std::ofstream(g_dir / "m" / "bad.txt") << "photo.png\tcat\n";
  expect_failure("manifest label", run({"sweep", "--manifest", "m/bad.txt", "--out", "man2.sqlite"}), 1, "line 1: label 'cat'");
  // --class label without labels: each row fails, saying so.
  r = run({"sweep", "--images", "m", "--class", "label", "--out", "nolabel.sqlite"});
  expect_ok("no labels", r);
  expect(Db(g_dir / "nolabel.sqlite").one("SELECT error FROM results").find("has no label") != std::string::npos, "no labels: error text");
}

// mpirun -np 2 against one process and two merged shards: Fashion-MNIST records, IDX labels.
void group_mpi(const std::string& mpirun, const fs::path& fm) {
  const fs::path images = fm / "t10k-images-idx3-ubyte.gz", labels = fm / "t10k-labels-idx1-ubyte.gz";
  if (!fs::exists(images) || !fs::exists(labels)) {
    expect(false, "mpi: Fashion-MNIST is not at " + fm.string() + " (Debian: dataset-fashion-mnist)");
    return;
  }
  const std::vector<std::string> base = {"sweep", "--idx", images.string(), "--labels", labels.string(), "--class", "label",
                                         "--methods", "gradcam,ig", "--scores", "pre,post", "--steps", "3", "--metrics",
                                         "deletion", "--metric-steps", "4", "--save-maps", "--limit", "9"};
  auto with = [&](std::vector<std::string> extra) {
    auto a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  auto mpi = [&](int np) {
    return std::vector<std::string>{mpirun, "--allow-run-as-root", "--oversubscribe", "-np", std::to_string(np),
                                    "-x", "OMP_NUM_THREADS", "-x", "OMP_WAIT_POLICY"};
  };
  auto gradattr_lines = [](const std::string& err) {
    int n = 0;
    for (std::size_t p = err.find("gradattr: "); p != std::string::npos; p = err.find("gradattr: ", p + 1)) ++n;
    return n;
  };
  auto r = run(with({"--out", "one.sqlite"}));
  expect_ok("mpi: one process", r);
  const auto one = Db(g_dir / "one.sqlite").rows(kRows);
  expect(one.size() == 9 * 4, "mpi: one process: " + std::to_string(one.size()) + " rows, expected 9 images x 4");

  r = run(with({"--out", "mpi.sqlite"}), {}, mpi(2));
  expect_ok("mpi: -np 2", r);
  expect(r.out.find("(mpi: 2 ranks), 9 computed now") != std::string::npos, "mpi: -np 2 summary: " + r.out);
  {
    const Db m(g_dir / "mpi.sqlite");
    expect(m.rows(kRows) == one, "mpi: mpirun -np 2 differs from one process");
    expect(m.one("SELECT count(*) FROM session") == "2", "mpi: one session per rank");
    expect(m.one("SELECT count(DISTINCT pid) FROM session") == "2", "mpi: two processes");
    expect(m.one("SELECT shard FROM run").empty() && m.one("SELECT ended FROM run") != "<null>", "mpi: the merged run is whole and ended");
    expect(m.one("SELECT images FROM run") == "9", "mpi: run.images");
  }
  for (int k = 0; k < 2; ++k)
    expect(!fs::exists(g_dir / ("mpi.sqlite.rank" + std::to_string(k))), "mpi: rank database " + std::to_string(k) + " left after the merge");

  expect_ok("mpi: shard 0/2", run(with({"--shard", "0/2", "--out", "m0.sqlite"})));
  expect_ok("mpi: shard 1/2", run(with({"--shard", "1/2", "--out", "m1.sqlite"})));
  expect_ok("mpi: merge shards", run({"merge", "m0.sqlite", "m1.sqlite", "--out", "shards.sqlite"}));
  expect(Db(g_dir / "shards.sqlite").rows(kRows) == one, "mpi: two merged --shard runs differ from one process");

  // One rank: the plain sweep, --out written directly.
  r = run(with({"--out", "np1.sqlite"}), {}, mpi(1));
  expect_ok("mpi: -np 1", r);
  expect(r.out.find("(shard all)") != std::string::npos && !fs::exists(g_dir / "np1.sqlite.rank0"), "mpi: -np 1 is not the plain sweep: " + r.out);
  expect(Db(g_dir / "np1.sqlite").rows(kRows) == one, "mpi: -np 1 differs from one process");

  // Killed: every rank aborts after its 2nd image (the first to abort ends the job); rerun resumes.
  auto killer = mpi(2);
  killer.insert(killer.end(), {"-x", "GRADATTR_SWEEP_ABORT_AFTER"});
  r = run(with({"--out", "killed.sqlite"}), {{"GRADATTR_SWEEP_ABORT_AFTER", "2"}}, killer);
  expect(r.code != 0, "mpi: the aborted job exited 0");
  expect(!fs::exists(g_dir / "killed.sqlite"), "mpi: the aborted job wrote --out");
  std::int64_t kept = 0;
  for (int k = 0; k < 2; ++k) {
    const fs::path p = g_dir / ("killed.sqlite.rank" + std::to_string(k));
    if (fs::exists(p)) kept += std::stoll(Db(p).one("SELECT count(*) FROM images"));
  }
  expect(kept >= 2 && kept < 9, "mpi: after the abort the rank databases hold " + std::to_string(kept) + " images, expected 2 to 8");
  r = run(with({"--out", "killed.sqlite"}), {}, mpi(2));
  expect_ok("mpi: resume", r);
  expect(r.out.find(std::to_string(9 - kept) + " computed now, " + std::to_string(kept) + " already done") != std::string::npos,
         "mpi: resume recomputed committed images: " + r.out);
  {
    const Db k(g_dir / "killed.sqlite");
    expect(k.rows(kRows) == one, "mpi: the resumed run differs from one process");
    expect(k.one("SELECT count(*) FROM (SELECT DISTINCT image_id, method, variant, score FROM results)") == "36" &&
               k.one("SELECT count(*) FROM results") == "36",
           "mpi: resume: duplicates");
    expect(k.one("PRAGMA integrity_check") == "ok", "mpi: resume: integrity_check");
  }
  // A finished run with more ranks: nothing to do.
  r = run(with({"--out", "killed.sqlite"}), {}, mpi(3));
  expect_ok("mpi: rerun -np 3", r);
  expect(r.out.find("0 computed now, 9 already done") != std::string::npos, "mpi: rerun -np 3: " + r.out);
  expect(Db(g_dir / "killed.sqlite").rows(kRows) == one, "mpi: rerun -np 3 changed the rows");

  // Bad input under mpirun: one line from gradattr (rank 0), every rank's status the same.
  r = run(with({"--shard", "0/2", "--out", "bad.sqlite"}), {}, mpi(2));
  expect(r.code == 2, "mpi: --shard under mpirun: exit " + std::to_string(r.code) + ", expected 2: " + r.err);
  expect(gradattr_lines(r.err) == 1 && r.err.find("gradattr: --shard with mpirun") != std::string::npos, "mpi: --shard: stderr " + r.err);
  auto other = base;
  other[10] = "post";  // --scores
  r = run([&] { auto a = other; a.insert(a.end(), {"--out", "one.sqlite"}); return a; }(), {}, mpi(2));
  expect(r.code == 1, "mpi: other options: exit " + std::to_string(r.code) + ", expected 1: " + r.err);
  expect(gradattr_lines(r.err) == 1 && r.err.find("--scores was 'pre,post', now 'post'") != std::string::npos, "mpi: other options: stderr " + r.err);
  expect(Db(g_dir / "one.sqlite").rows(kRows) == one && !fs::exists(g_dir / "one.sqlite.rank0") && !fs::exists(g_dir / "bad.sqlite.rank0"),
         "mpi: a refused run changed or made files");
}

// A Vision Transformer from ONNX (tests/data/onnx/vit_narrow: 32x32 RGB, 8x8 patches, two
// attention layers) through the sweep: the attention methods and a token CAM in every score
// space, each row's map equal to what `gradattr explain --save-raw` writes for that image.
void group_vit() {
  const fs::path vit = g_data / "onnx" / "vit_narrow" / "model.onnx";
  make_images(3, 32, "vit_imgs", false);
  const std::string methods = "rollout,attention-relevance,gradcam";
  auto r = run({"sweep", "--weights", vit.string(), "--images", "vit_imgs", "--methods", methods, "--scores", "pre,post,log,centered",
                "--metrics", "deletion,insertion", "--metric-steps", "4", "--save-maps", "--out", "vit.sqlite"});
  expect_ok("vit sweep", r);
  const Db db(g_dir / "vit.sqlite");
  expect(db.one("SELECT count(*) FROM results WHERE error IS NULL AND map IS NOT NULL AND deletion_auc IS NOT NULL") == "36",
         "vit: " + db.one("SELECT count(*) FROM results") + " rows, expected 3 images x 3 methods x 4 score spaces, all computed");
  // 32 / 8 = a 4x4 patch grid: the attention maps and the token CAM (class token dropped) are on it.
  expect(db.one("SELECT group_concat(DISTINCT map_shape) FROM results") == "[4,4]", "vit: map shapes " +
                                                                                        db.one("SELECT group_concat(DISTINCT map_shape) FROM results"));
  // Rollout takes no gradient: one map per image whatever the score space.
  expect(db.one("SELECT count(*) FROM (SELECT DISTINCT image_id, map FROM results WHERE method = 'rollout')") == "3",
         "vit: rollout maps differ between score spaces");
  // Relevance weighs the attention by dS/dA: Pre's map is not Post's on any image.
  expect(db.one("SELECT count(*) FROM results p JOIN results q ON p.image_id = q.image_id AND p.method = q.method "
                "WHERE p.method = 'attention-relevance' AND p.score = 'pre' AND q.score = 'post' AND p.map = q.map") == "0",
         "vit: attention-relevance Pre and Post maps are equal");
  // Each stored map equals the one explain writes for the same image, method and score space.
  for (const std::string m : {"rollout", "attention-relevance", "gradcam"}) {
    for (const std::string sc : {"pre", "log"}) {
      const std::string name = "vit " + m + " " + sc;
      r = run({"explain", "--weights", vit.string(), "--image", "vit_imgs/img01.png", "--method", m, "--score", sc, "--save-raw",
               "vit_raw.npy", "--out", "vit_overlay.png"});
      expect_ok(name + ": explain", r);
      if (r.code != 0) continue;
      const auto raw = gradattr::io::read_npy_f32(g_dir / "vit_raw.npy");
      const std::string bytes(reinterpret_cast<const char*>(raw.data()), sizeof(float) * static_cast<std::size_t>(raw.numel()));
      const std::string stored = db.one("SELECT r.map FROM results r JOIN images i ON r.image_id = i.id WHERE i.name LIKE '%img01.png' "
                                        "AND r.method = '" + m + "' AND r.score = '" + sc + "'");
      expect(stored == bytes, name + ": the sweep's map differs from explain --save-raw (" + std::to_string(stored.size()) + " vs " +
                                  std::to_string(bytes.size()) + " bytes)");
    }
  }
  // The CNN-only check holds in a sweep as in explain: rollout on the shipped VGG is a usage error.
  expect_failure("vit: rollout on a CNN", run({"sweep", "--images", "vit_imgs", "--methods", "rollout", "--out", "cnn.sqlite"}), 2,
                 "--method rollout needs a model with attention layers");
  expect(!fs::exists(g_dir / "cnn.sqlite"), "vit: a refused sweep left a database");
}

}  // namespace

int main(int argc, char** argv) {
  const bool mpi = argc == 7 && std::string(argv[4]) == "mpi";
  const bool vit = argc == 5 && std::string(argv[4]) == "vit";
  if (argc != 4 && !mpi && !vit) {
    std::fprintf(stderr, "usage: %s <gradattr> <tests/data> <scratch dir> [mpi <mpirun> <fashion-mnist dir> | vit]\n", argv[0]);
    return 3;
  }
  g_cli = fs::absolute(argv[1]).string();
  g_data = fs::absolute(argv[2]);
  g_dir = fs::absolute(argv[3]);
  fs::remove_all(g_dir);
  fs::create_directories(g_dir);
  if (mpi) {
    group_mpi(argv[5], argv[6]);
  } else if (vit) {
    group_vit();
  } else {
    group_sweep();
    group_view();
    group_idx_manifest();
  }
  std::printf("%d checks, %d failed\n", g_checks, g_failures);
  if (g_failures == 0) fs::remove_all(g_dir);
  return g_failures == 0 ? 0 : 1;
}
