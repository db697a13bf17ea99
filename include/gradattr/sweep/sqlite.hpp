#pragma once
// A thin RAII wrapper over SQLite's C API (https://sqlite.org/c3ref/intro.html) for the sweep
// database (docs/sweep.md): a connection (Db) and prepared statements (Stmt), every failure an
// IoError carrying the database's path and SQLite's message. Needs gradattr::sweep (it links
// SQLite::SQLite3).
//
//   Db db("results.sqlite", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
//   Stmt s(db, "SELECT id FROM run WHERE options = ?");
//   s.bind(1, text); while (s.step()) s.int64(0);
//   Transaction t(db); ...; t.commit();   // rolled back if destroyed uncommitted
#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gradattr/core/error.hpp"

namespace gradattr::sweep::sql {

class Db {
 public:
  Db(const std::string& path, int flags) : path_(path) {
    const int rc = sqlite3_open_v2(path.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      const std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close(db_);
      db_ = nullptr;
      throw IoError("database '" + path + "': cannot open: " + msg);
    }
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, 10000);  // another process's transaction: wait up to 10 s
  }
  ~Db() {
    if (db_) sqlite3_close_v2(db_);
  }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  Db(Db&& o) noexcept : db_(o.db_), path_(std::move(o.path_)) { o.db_ = nullptr; }

  sqlite3* get() const noexcept { return db_; }
  const std::string& path() const noexcept { return path_; }

  [[noreturn]] void fail(const std::string& what) const {
    throw IoError("database '" + path_ + "': " + what + ": " + sqlite3_errmsg(db_));
  }
  // Runs statements with no results (schema, PRAGMAs, BEGIN/COMMIT).
  void exec(const std::string& sql) const {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      const std::string msg = err ? err : sqlite3_errmsg(db_);
      sqlite3_free(err);
      throw IoError("database '" + path_ + "': " + msg + " (in: " + sql.substr(0, 60) + ")");
    }
  }

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
};

class Stmt {
 public:
  Stmt(const Db& db, const std::string& sql) : db_(&db) {
    if (sqlite3_prepare_v2(db.get(), sql.c_str(), static_cast<int>(sql.size()), &s_, nullptr) != SQLITE_OK)
      db.fail("cannot prepare '" + sql.substr(0, 60) + "'");
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int i, std::int64_t v) { return check(sqlite3_bind_int64(s_, i, v)); }
  Stmt& bind(int i, int v) { return bind(i, static_cast<std::int64_t>(v)); }
  Stmt& bind(int i, double v) { return check(sqlite3_bind_double(s_, i, v)); }
  Stmt& bind(int i, const std::string& v) {
    return check(sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
  }
  Stmt& bind(int i, const char* v) { return bind(i, std::string(v)); }
  Stmt& bind_blob(int i, const void* p, std::size_t n) {
    return check(sqlite3_bind_blob64(s_, i, p, static_cast<sqlite3_uint64>(n), SQLITE_TRANSIENT));
  }
  Stmt& bind_null(int i) { return check(sqlite3_bind_null(s_, i)); }
  template <class V>
  Stmt& bind(int i, const std::optional<V>& v) {
    return v ? bind(i, *v) : bind_null(i);
  }

  // One step: true while a row is available, false when done; IoError on failure (a UNIQUE
  // violation included).
  bool step() {
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    last_rc_ = rc;
    db_->fail("statement failed");
  }
  // Runs a statement with no result rows, then resets it for another use.
  void run() {
    while (step()) {
    }
    reset();
  }
  void reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }

  bool is_null(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
  std::int64_t int64(int c) const { return sqlite3_column_int64(s_, c); }
  double real(int c) const { return sqlite3_column_double(s_, c); }
  std::string text(int c) const {
    const auto* p = sqlite3_column_text(s_, c);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(s_, c))) : std::string();
  }
  std::optional<std::int64_t> opt_int64(int c) const { return is_null(c) ? std::nullopt : std::optional<std::int64_t>(int64(c)); }
  std::optional<double> opt_real(int c) const { return is_null(c) ? std::nullopt : std::optional<double>(real(c)); }
  std::vector<unsigned char> blob(int c) const {
    const auto* p = static_cast<const unsigned char*>(sqlite3_column_blob(s_, c));
    return p ? std::vector<unsigned char>(p, p + sqlite3_column_bytes(s_, c)) : std::vector<unsigned char>();
  }
  int last_rc() const noexcept { return last_rc_; }

 private:
  Stmt& check(int rc) {
    if (rc != SQLITE_OK) db_->fail("cannot bind a value");
    return *this;
  }
  const Db* db_;
  sqlite3_stmt* s_ = nullptr;
  int last_rc_ = 0;
};

// BEGIN IMMEDIATE ... COMMIT; rolled back when destroyed without commit() (an exception).
class Transaction {
 public:
  explicit Transaction(const Db& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }
  ~Transaction() {
    if (open_) sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit() {
    db_.exec("COMMIT");
    open_ = false;
  }

 private:
  const Db& db_;
  bool open_ = true;
};

}  // namespace gradattr::sweep::sql
