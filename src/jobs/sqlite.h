// A thin RAII face of SQLite3: one connection (Db), prepared statements (Stmt) with bind-by-position
// and typed columns, and a transaction guard. Errors throw SqliteError (the store turns them into
// messages at its boundary). Thread-safety: none; the Store serialises every call with its mutex.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

struct sqlite3;
struct sqlite3_stmt;

namespace kuai::jobs {

class SqliteError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Stmt {
 public:
  Stmt(sqlite3* db, std::string_view sql);
  // A statement lent by Db's cache: reset (bindings cleared) and handed back when destroyed.
  Stmt(sqlite3* db, sqlite3_stmt* cached, bool* in_use);
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  // Binds position i (1-based).
  Stmt& bind(int i, int64_t v);
  Stmt& bind(int i, std::string_view text);
  Stmt& bind_blob(int i, std::string_view bytes);
  Stmt& bind_null(int i);
  // Ready to run again (bindings cleared).
  void reset();
  // True while a row is available; false when done.
  bool step();
  // Runs to completion (for statements without rows).
  void run();
  int64_t i64(int col) const;
  std::string text(int col) const;
  bool is_null(int col) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* st_ = nullptr;
  bool* in_use_ = nullptr;  // set for a cached statement
};

class Db {
 public:
  // Opens (creating) the file in WAL mode with synchronous=NORMAL (a committed transaction survives a
  // process crash; an OS crash may lose the last ones) and a busy timeout for other processes.
  explicit Db(const std::string& path);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  void exec(std::string_view sql);
  // A prepared statement for `sql`, compiled once per connection and reused (a nested use of the
  // same text gets a fresh one).
  Stmt prepare(std::string_view sql);
  int64_t changes() const;
  sqlite3* raw() { return db_; }

 private:
  struct Cached {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
  };
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, Cached> cache_;
};

// BEGIN IMMEDIATE … COMMIT; rolled back when destroyed without commit() (an exception).
class Txn {
 public:
  explicit Txn(Db& db);
  ~Txn();
  void commit();

 private:
  Db& db_;
  bool done_ = false;
};

}  // namespace kuai::jobs
