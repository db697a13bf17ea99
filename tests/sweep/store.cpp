// gradattr::sweep::Store (include/gradattr/sweep/store.hpp, docs/sweep.md) on temporary files.
#include <catch2/catch.hpp>
#include <sqlite3.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "gradattr/sweep/store.hpp"

namespace fs = std::filesystem;
namespace sw = gradattr::sweep;

namespace {

struct TempDir {
  fs::path p = fs::temp_directory_path() / ("gradattr-store-" + std::to_string(::getpid()));
  TempDir() {
    fs::remove_all(p);
    fs::create_directories(p);
  }
  ~TempDir() { fs::remove_all(p); }
};

sw::RunInfo info(const std::string& scores = "post") {
  sw::RunInfo i;
  i.version = "0.1.0";
  i.commit = "test";
  i.model = "m.safetensors";
  i.model_sha256 = std::string(64, 'a');
  i.options = {{"--methods", "gradcam"}, {"--scores", scores}, {"--steps", 50}};
  i.host = "h";
  return i;
}

sw::ResultRow row(const std::string& score, double y) {
  sw::ResultRow r;
  r.method = "gradcam";
  r.score = score;
  r.cls = 3;
  r.y_c = y;
  r.map = {1.f, 2.f, 3.f, 4.f};
  r.map_shape = {2, 2};
  return r;
}

std::string query(const fs::path& db, const std::string& q) {
  sqlite3* d = nullptr;
  sqlite3_open_v2(db.c_str(), &d, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* s = nullptr;
  std::string out = "<error>";
  if (sqlite3_prepare_v2(d, q.c_str(), -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
    const auto* t = sqlite3_column_text(s, 0);
    out = t ? reinterpret_cast<const char*>(t) : "<null>";
  }
  sqlite3_finalize(s);
  sqlite3_close(d);
  return out;
}

}  // namespace

TEST_CASE("store: rows committed per image, found again as finished keys", "[sweep]") {
  TempDir t;
  const auto db = (t.p / "r.sqlite").string();
  {
    auto st = sw::Store::open_or_create(db);
    const auto run = st.begin_run(info(), false);
    st.commit_image(run, {5, "a.png", std::nullopt, 2, std::string(64, 'b')}, {row("post", 0.5), row("pre", 0.25)});
    const auto done = st.finished(run);
    CHECK(done == std::set<sw::ResultKey>{{5, "gradcam", "", "post"}, {5, "gradcam", "", "pre"}});
    // The same key again: the UNIQUE constraint refuses it and the whole image's transaction is rolled back.
    CHECK_THROWS_WITH(st.commit_image(run, {6, "b.png", std::nullopt, std::nullopt, ""}, {row("log", 1), row("log", 2)}),
                      Catch::Contains("UNIQUE"));
    CHECK(st.finished(run).size() == 2);
    const auto s = st.summary(run);
    CHECK(s.images == 1);
    CHECK(s.rows == 2);
  }
  CHECK(query(db, "SELECT count(*) FROM images") == "1");
  CHECK(query(db, "PRAGMA user_version") == std::to_string(sw::kSchemaVersion));
  CHECK(query(db, "SELECT hex(map) FROM results WHERE score = 'pre'") == "0000803F000000400000404000008040");  // 1, 2, 3, 4 as float32 LE
  CHECK(query(db, "SELECT map_shape FROM results WHERE score = 'pre'") == "[2,2]");
  CHECK(query(db, "SELECT label FROM images") == "2");
}

TEST_CASE("store: a run with other options is refused naming the option, --new-run adds one", "[sweep]") {
  TempDir t;
  const auto db = (t.p / "r.sqlite").string();
  {
    auto st = sw::Store::open_or_create(db);
    CHECK(st.begin_run(info(), false) == 1);
    CHECK(st.begin_run(info(), false) == 1);  // same options: resumed
    CHECK_THROWS_AS(st.begin_run(info("pre,post"), false), sw::OptionsMismatch);
    CHECK_THROWS_WITH(st.begin_run(info("pre,post"), false), Catch::Contains("--scores was 'post', now 'pre,post'"));
    auto other_model = info();
    other_model.model_sha256 = std::string(64, 'c');
    CHECK_THROWS_WITH(st.begin_run(other_model, false), Catch::Contains("--weights: the model differs"));
    auto other_shard = info();
    other_shard.shard = "1/2";
    CHECK_THROWS_WITH(st.begin_run(other_shard, false), Catch::Contains("--shard was '(none)', now '1/2'"));
    CHECK(st.begin_run(info("pre"), true) == 2);
    CHECK(st.runs() == std::vector<std::int64_t>{1, 2});
    CHECK(st.run_info(2).options["--scores"] == "pre");
  }
  CHECK(query(db, "SELECT count(*) FROM session") == "3");
}

TEST_CASE("store: files that are not sweep databases are refused and left alone", "[sweep]") {
  TempDir t;
  const auto text = t.p / "text.sqlite";
  std::ofstream(text) << "not a database at all, but long enough to have a header of sorts........................................";
  const auto size = fs::file_size(text);
  CHECK_THROWS_WITH(sw::Store::open_or_create(text.string()), Catch::Contains("text.sqlite") && Catch::Contains("not an SQLite database"));
  CHECK(fs::file_size(text) == size);
  // An SQLite file of someone else's schema.
  const auto other = t.p / "other.sqlite";
  sqlite3* d = nullptr;
  sqlite3_open(other.c_str(), &d);
  sqlite3_exec(d, "CREATE TABLE t (x)", nullptr, nullptr, nullptr);
  sqlite3_close(d);
  CHECK_THROWS_WITH(sw::Store::open_or_create(other.string()), Catch::Contains("not a gradattr sweep database"));
  // A newer schema version.
  const auto newer = t.p / "newer.sqlite";
  { auto st = sw::Store::open_or_create(newer.string()); }
  sqlite3_open(newer.c_str(), &d);
  sqlite3_exec(d, "PRAGMA user_version = 99", nullptr, nullptr, nullptr);
  sqlite3_close(d);
  CHECK_THROWS_WITH(sw::Store::open_or_create(newer.string()), Catch::Contains("schema version 99, newer"));
  CHECK_THROWS_WITH(sw::Store::open_read_only((t.p / "missing.sqlite").string()), Catch::Contains("missing.sqlite"));
}

namespace {

// A row with AUCs under two evaluation spaces; deletion/insertion are the first space's.
sw::ResultRow row_with_aucs(const std::string& score, double base) {
  sw::ResultRow r = row(score, base);
  r.aucs = {{"deletion", "pre", base + 0.1}, {"deletion", "post", base + 0.2}, {"insertion", "pre", base + 0.3},
            {"insertion", "post", std::nan("")}};
  r.deletion = base + 0.1;
  r.insertion = base + 0.3;
  return r;
}

sw::RunInfo curve_info() {
  auto i = info();
  i.options["--metrics"] = "deletion,insertion";
  i.options["--metric-score"] = "pre,post";
  return i;
}

void exec(const fs::path& db, const std::string& sql) {
  sqlite3* d = nullptr;
  sqlite3_open(db.c_str(), &d);
  char* err = nullptr;
  const int rc = sqlite3_exec(d, sql.c_str(), nullptr, nullptr, &err);
  INFO(sql << ": " << (err ? err : ""));
  CHECK(rc == SQLITE_OK);
  sqlite3_free(err);
  sqlite3_close(d);
}

}  // namespace

TEST_CASE("store: curve AUCs per evaluation space round-trip, a NaN as NaN", "[sweep]") {
  TempDir t;
  const auto db = (t.p / "aucs.sqlite").string();
  auto st = sw::Store::open_or_create(db);
  const auto run = st.begin_run(curve_info(), false);
  st.commit_image(run, {1, "a.png", std::nullopt, std::nullopt, ""}, {row_with_aucs("post", 0.5)});
  st.commit_image(run, {0, "b.png", std::nullopt, std::nullopt, ""}, {row_with_aucs("pre", 0.25), row_with_aucs("post", 0.0)});
  CHECK(query(db, "PRAGMA user_version") == "2");
  CHECK(query(db, "SELECT count(*) FROM curve_aucs") == "12");
  const auto rows = st.results(run);
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].image == 0);  // ordered by image, then method, variant, score
  CHECK(rows[0].row.score == "post");
  CHECK(rows[1].row.score == "pre");
  CHECK(rows[2].image == 1);
  const auto& r = rows[1].row;
  CHECK(*r.y_c == 0.25);
  CHECK(*r.deletion == 0.25 + 0.1);
  REQUIRE(r.aucs.size() == 4);
  for (const auto& a : r.aucs) {
    INFO(a.metric << " " << a.evaluation);
    if (a.metric == "insertion" && a.evaluation == "post") CHECK(std::isnan(a.auc));
    else if (a.metric == "deletion" && a.evaluation == "post") CHECK(a.auc == 0.25 + 0.2);
  }
  CHECK(r.map.empty());  // without with_maps
  CHECK(st.results(run, true)[1].row.map == std::vector<float>{1.f, 2.f, 3.f, 4.f});
}

TEST_CASE("store: a schema-1 database is read through a view, and upgraded when a sweep resumes into it", "[sweep]") {
  TempDir t;
  const auto db = t.p / "v1.sqlite";
  auto i = info();
  i.options["--metrics"] = "deletion,insertion";
  i.options["--metric-score"] = "log";
  {
    auto st = sw::Store::open_or_create(db.string());
    const auto run = st.begin_run(i, false);
    auto a = row("post", 0.5), b = row("pre", 0.5);
    a.deletion = 0.125, a.insertion = 0.75;  // b: no curves
    st.commit_image(run, {0, "a.png", std::nullopt, std::nullopt, ""}, {a, b});
  }
  // What version 1 wrote: the same tables without curve_aucs.
  exec(db, "DROP TABLE curve_aucs; PRAGMA user_version = 1;");
  auto check_aucs = [](const sw::Store& st) {
    const auto rows = st.results(st.runs().back());
    REQUIRE(rows.size() == 2);
    const auto& a = rows[0].row;  // post sorts first
    REQUIRE(a.aucs.size() == 2);
    CHECK(a.aucs[0].metric == "deletion");
    CHECK(a.aucs[0].evaluation == "log");  // the run's --metric-score
    CHECK(a.aucs[0].auc == 0.125);
    CHECK(a.aucs[1].metric == "insertion");
    CHECK(a.aucs[1].auc == 0.75);
    CHECK(rows[1].row.aucs.empty());
  };
  {
    const auto st = sw::Store::open_read_only(db.string());
    check_aucs(st);
  }
  CHECK(query(db, "PRAGMA user_version") == "1");  // reading left the file as it was
  {
    auto st = sw::Store::open_or_create(db.string());
    check_aucs(st);
    const auto run = st.begin_run(i, false);  // the same options: a resume of run 1
    CHECK(run == 1);
  }
  CHECK(query(db, "PRAGMA user_version") == "2");
  CHECK(query(db, "SELECT count(*) FROM curve_aucs") == "2");
  CHECK(query(db, "PRAGMA integrity_check") == "ok");
}

TEST_CASE("store: merge carries the curve AUCs; export adds a column per metric and evaluation space", "[sweep]") {
  TempDir t;
  const auto a = (t.p / "a.sqlite").string(), b = (t.p / "b.sqlite").string(), m = (t.p / "m.sqlite").string();
  for (const auto& [path, image] : {std::pair{a, 0}, std::pair{b, 1}}) {
    auto st = sw::Store::open_or_create(path);
    const auto run = st.begin_run(curve_info(), false);
    st.commit_image(run, {image, "i" + std::to_string(image), std::nullopt, std::nullopt, ""}, {row_with_aucs("post", 0.5 * image)});
    st.end_run(run, true, st.summary(run));
  }
  const auto s = sw::merge_databases({a, b}, m);
  CHECK(s.rows == 2);
  {
    const auto st = sw::Store::open_read_only(m);
    const auto rows = st.results(st.runs().back());
    REQUIRE(rows.size() == 2);
    CHECK(rows[1].row.aucs.size() == 4);
    CHECK(rows[1].row.aucs[0].evaluation == "post");  // ordered by metric, then evaluation
    CHECK(rows[1].row.aucs[0].auc == 0.5 + 0.2);
  }
  // The same image in both inputs with other AUCs: a disagreement, refused.
  const auto c = (t.p / "c.sqlite").string();
  {
    auto st = sw::Store::open_or_create(c);
    const auto run = st.begin_run(curve_info(), false);
    auto r = row_with_aucs("post", 0.0);
    r.aucs[1].auc = 0.9;
    st.commit_image(run, {0, "i0", std::nullopt, std::nullopt, ""}, {r});
    st.end_run(run, true, st.summary(run));
  }
  CHECK_THROWS_WITH(sw::merge_databases({a, c}, (t.p / "bad.sqlite").string()), Catch::Contains("disagree"));

  const auto csv = (t.p / "r.csv").string();
  sw::ExportOptions eo;
  eo.csv = csv;
  sw::export_results(m, eo);
  std::ifstream in(csv);
  std::string header, first;
  std::getline(in, header);
  std::getline(in, first);
  CHECK(header.find(",map_row,deletion_auc_pre,deletion_auc_post,insertion_auc_pre,insertion_auc_post") != std::string::npos);
  // image 0's row: 0.1, 0.2, 0.3 and the NaN as an empty field
  CHECK(first.substr(first.size() - std::string("0.10000000000000001,0.20000000000000001,0.29999999999999999,").size()) ==
        "0.10000000000000001,0.20000000000000001,0.29999999999999999,");
}
