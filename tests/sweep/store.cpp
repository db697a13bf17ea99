// gradattr::sweep::Store (include/gradattr/sweep/store.hpp, docs/sweep.md) on temporary files.
#include <catch2/catch.hpp>
#include <sqlite3.h>
#include <unistd.h>

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
