#include "jobs/store.h"

#include "api/request_id.h"

#include <boost/json.hpp>

#include <chrono>
#include <filesystem>
#include <limits>

namespace kuai::jobs {
namespace json = boost::json;

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

// A background job's object: a flow run ("flow.run.job") or a chat completion ("chat.completion.job").
bool is_flow_job(const json::object& obj) { return obj.contains("object") && obj.at("object") == "flow.run.job"; }
// Its webhook event type: chat.job.completed, flow.job.cancelled, …
std::string job_event_type(const json::object& obj, const char* end) {
  return std::string(is_flow_job(obj) ? "flow.job." : "chat.job.") + end;
}

// Line states in `items`.
// kPublished: queued in RabbitMQ (jobs.queue amqp://…); the broker, not the store, hands it out.
// A line not finished is in state 0, 1 or 4 ("IN (0,1,4)" below).
constexpr int64_t kQueued = 0, kRunning = 1, kDone = 2, kCancelled = 3, kPublished = 4;

constexpr std::string_view kSchema = R"(
CREATE TABLE IF NOT EXISTS files(id TEXT PRIMARY KEY, tenant TEXT NOT NULL, filename TEXT NOT NULL,
  purpose TEXT NOT NULL, bytes INTEGER NOT NULL, created_at INTEGER NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS files_tenant ON files(tenant);
CREATE TABLE IF NOT EXISTS batches(id TEXT PRIMARY KEY, tenant TEXT NOT NULL, status TEXT NOT NULL,
  end_as TEXT NOT NULL DEFAULT 'completed', expires_at INTEGER NOT NULL, finished_at INTEGER, obj TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS batches_tenant ON batches(tenant);
CREATE TABLE IF NOT EXISTS chat_jobs(id TEXT PRIMARY KEY, tenant TEXT NOT NULL, status TEXT NOT NULL,
  finished_at INTEGER, obj TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items(job TEXT NOT NULL, line INTEGER NOT NULL, tenant TEXT NOT NULL,
  kind INTEGER NOT NULL, custom_id TEXT NOT NULL, endpoint TEXT NOT NULL, body TEXT NOT NULL,
  state INTEGER NOT NULL, priority INTEGER NOT NULL, owner TEXT, lease_until INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0, enqueued_ms INTEGER NOT NULL, status_code INTEGER, request_id TEXT,
  result TEXT, PRIMARY KEY(job, line));
CREATE INDEX IF NOT EXISTS items_ready ON items(state, priority DESC);
CREATE INDEX IF NOT EXISTS items_lease ON items(state, lease_until);
CREATE TABLE IF NOT EXISTS batch_counts(id TEXT PRIMARY KEY, total INTEGER NOT NULL, ok INTEGER NOT NULL,
  failed INTEGER NOT NULL);
DROP INDEX IF EXISTS items_owner;
CREATE INDEX IF NOT EXISTS items_owner_state ON items(owner, state);
CREATE INDEX IF NOT EXISTS items_job_state ON items(job, state);
CREATE TABLE IF NOT EXISTS events(job TEXT NOT NULL, seq INTEGER NOT NULL, data TEXT NOT NULL,
  PRIMARY KEY(job, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS webhook_events(id TEXT PRIMARY KEY, tenant TEXT NOT NULL, type TEXT NOT NULL,
  job TEXT NOT NULL, created_at INTEGER NOT NULL, sent INTEGER NOT NULL DEFAULT 0, url TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS webhook_events_sent ON webhook_events(sent);
CREATE TABLE IF NOT EXISTS deliveries(event TEXT NOT NULL, endpoint TEXT NOT NULL, tenant TEXT NOT NULL,
  job TEXT NOT NULL, type TEXT NOT NULL, created_at INTEGER NOT NULL, status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, next_ms INTEGER NOT NULL, last_status INTEGER, last_error TEXT,
  PRIMARY KEY(event, endpoint));
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(status, next_ms);
CREATE INDEX IF NOT EXISTS deliveries_job ON deliveries(job);
CREATE TABLE IF NOT EXISTS disabled_endpoints(url TEXT PRIMARY KEY, at INTEGER NOT NULL);
)";

json::object parse_object(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return {};
  return std::move(v.as_object());
}

json::value parse_value(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return json::value(text);
  return v;
}

// The error object inside an OpenAI error body ({"error": {...}}), or one made from the status.
json::object error_of(const json::value& body, int status) {
  if (body.is_object())
    if (auto* e = body.as_object().if_contains("error"); e && e->is_object()) return e->as_object();
  return json::object{{"code", "http_" + std::to_string(status)}, {"message", "request failed with status " + std::to_string(status)}};
}

}  // namespace

json::object FileMeta::to_json() const {
  return json::object{{"id", id},           {"object", "file"},         {"bytes", bytes},
                      {"created_at", created_at}, {"filename", filename}, {"purpose", purpose},
                      {"status", "processed"}};
}

Store::Store(const std::string& path) : db_(path) { db_.exec(kSchema); }

std::variant<std::unique_ptr<Store>, std::string> Store::open(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return "cannot create jobs.dir '" + dir + "': " + ec.message();
  try {
    return std::unique_ptr<Store>(new Store((std::filesystem::path(dir) / "jobs.db").string()));
  } catch (const SqliteError& e) {
    return std::string("jobs store: ") + e.what();
  }
}

// ---- files

FileMeta Store::add_file(const std::string& tenant, const std::string& filename, const std::string& purpose,
                         std::string_view data) {
  FileMeta f{api::new_request_id("file-"), tenant, filename, purpose, static_cast<int64_t>(data.size()), now_s()};
  std::lock_guard lock(mu_);
  db_.prepare("INSERT INTO files(id, tenant, filename, purpose, bytes, created_at, data) VALUES(?,?,?,?,?,?,?)")
      .bind(1, f.id).bind(2, tenant).bind(3, filename).bind(4, purpose).bind(5, f.bytes).bind(6, f.created_at)
      .bind_blob(7, data)
      .run();
  return f;
}

std::optional<FileMeta> Store::file(const std::string& tenant, const std::string& id) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare("SELECT filename, purpose, bytes, created_at FROM files WHERE id=? AND tenant=?");
  st.bind(1, id).bind(2, tenant);
  if (!st.step()) return std::nullopt;
  return FileMeta{id, tenant, st.text(0), st.text(1), st.i64(2), st.i64(3)};
}

std::optional<std::string> Store::file_content(const std::string& tenant, const std::string& id) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare("SELECT data FROM files WHERE id=? AND tenant=?");
  st.bind(1, id).bind(2, tenant);
  if (!st.step()) return std::nullopt;
  return st.text(0);
}

std::vector<FileMeta> Store::list_files(const std::string& tenant, const std::string& purpose,
                                        const std::string& after, int limit, bool& has_more) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare(
      "SELECT id, filename, purpose, bytes, created_at FROM files WHERE tenant=?1 AND (?2='' OR purpose=?2) "
      "AND (?3='' OR rowid < (SELECT rowid FROM files WHERE id=?3)) ORDER BY rowid DESC LIMIT ?4");
  st.bind(1, tenant).bind(2, purpose).bind(3, after).bind(4, static_cast<int64_t>(limit) + 1);
  std::vector<FileMeta> out;
  while (st.step()) out.push_back(FileMeta{st.text(0), tenant, st.text(1), st.text(2), st.i64(3), st.i64(4)});
  has_more = static_cast<int>(out.size()) > limit;
  if (has_more) out.pop_back();
  return out;
}

bool Store::delete_file(const std::string& tenant, const std::string& id) {
  std::lock_guard lock(mu_);
  db_.prepare("DELETE FROM files WHERE id=? AND tenant=?").bind(1, id).bind(2, tenant).run();
  return db_.changes() > 0;
}

// ---- batches

void Store::create_batch(const std::string& tenant, const json::object& obj, const std::vector<BatchLine>& lines,
                         int priority) {
  std::string id = json::value_to<std::string>(obj.at("id"));
  std::string endpoint = json::value_to<std::string>(obj.at("endpoint"));
  int64_t enq = now_ms();
  std::lock_guard lock(mu_);
  Txn txn(db_);
  db_.prepare("INSERT INTO batches(id, tenant, status, expires_at, obj) VALUES(?,?,?,?,?)")
      .bind(1, id).bind(2, tenant).bind(3, json::value_to<std::string>(obj.at("status")))
      .bind(4, obj.at("expires_at").to_number<int64_t>()).bind(5, json::serialize(obj))
      .run();
  db_.prepare("INSERT INTO batch_counts(id, total, ok, failed) VALUES(?,?,0,0)")
      .bind(1, id).bind(2, static_cast<int64_t>(lines.size())).run();
  auto ins = db_.prepare(
      "INSERT INTO items(job, line, tenant, kind, custom_id, endpoint, body, state, priority, enqueued_ms) "
      "VALUES(?,?,?,0,?,?,?,0,?,?)");
  for (size_t i = 0; i < lines.size(); ++i) {
    ins.reset();
    ins.bind(1, id).bind(2, static_cast<int64_t>(i + 1)).bind(3, tenant).bind(4, lines[i].custom_id)
        .bind(5, endpoint).bind(6, lines[i].body).bind(7, static_cast<int64_t>(priority)).bind(8, enq);
    ins.run();
  }
  txn.commit();
}

void Store::create_failed_batch(const std::string& tenant, const json::object& obj) {
  std::string id = json::value_to<std::string>(obj.at("id"));
  std::lock_guard lock(mu_);
  Txn txn(db_);
  db_.prepare("INSERT INTO batches(id, tenant, status, end_as, expires_at, finished_at, obj) VALUES(?,?,'failed','failed',?,?,?)")
      .bind(1, id).bind(2, tenant).bind(3, obj.at("expires_at").to_number<int64_t>()).bind(4, now_s())
      .bind(5, json::serialize(obj))
      .run();
  record_event(tenant, "batch.failed", obj);
  txn.commit();
}

// From batch_counts (kept by create_batch and complete: a client polling a 10 000-line batch every
// 10 ms made a scan of every stored result per poll), or, for a batch made before that table, counted.
void Store::add_live_counts(const std::string& id, json::object& obj) {
  auto kept = db_.prepare("SELECT total, ok, failed FROM batch_counts WHERE id=?");
  kept.bind(1, id);
  if (kept.step()) {
    obj["request_counts"] = json::object{{"total", kept.i64(0)}, {"completed", kept.i64(1)}, {"failed", kept.i64(2)}};
    return;
  }
  auto st = db_.prepare(
      "SELECT count(*), coalesce(sum(state=2 AND status_code<400),0), coalesce(sum(state=2 AND status_code>=400),0) "
      "FROM items WHERE job=?");
  st.bind(1, id);
  if (!st.step()) return;
  obj["request_counts"] = json::object{{"total", st.i64(0)}, {"completed", st.i64(1)}, {"failed", st.i64(2)}};
}

std::optional<json::object> Store::batch(const std::string& tenant, const std::string& id) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare("SELECT obj, finished_at IS NULL FROM batches WHERE id=? AND tenant=?");
  st.bind(1, id).bind(2, tenant);
  if (!st.step()) return std::nullopt;
  json::object obj = parse_object(st.text(0));
  if (st.i64(1)) add_live_counts(id, obj);
  return obj;
}

std::vector<json::object> Store::list_batches(const std::string& tenant, const std::string& after, int limit,
                                              bool& has_more) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare(
      "SELECT id, obj, finished_at IS NULL FROM batches WHERE tenant=?1 AND (?2='' OR rowid < "
      "(SELECT rowid FROM batches WHERE id=?2)) ORDER BY rowid DESC LIMIT ?3");
  st.bind(1, tenant).bind(2, after).bind(3, static_cast<int64_t>(limit) + 1);
  std::vector<json::object> out;
  while (st.step()) {
    json::object obj = parse_object(st.text(1));
    if (st.i64(2)) add_live_counts(st.text(0), obj);
    out.push_back(std::move(obj));
  }
  has_more = static_cast<int>(out.size()) > limit;
  if (has_more) out.pop_back();
  return out;
}

std::optional<json::object> Store::cancel_batch(const std::string& tenant, const std::string& id, std::string& error) {
  error.clear();
  {
    std::lock_guard lock(mu_);
    Txn txn(db_);
    auto st = db_.prepare("SELECT status, obj FROM batches WHERE id=? AND tenant=?");
    st.bind(1, id).bind(2, tenant);
    if (!st.step()) return std::nullopt;
    std::string status = st.text(0);
    if (status == "validating" || status == "in_progress") {
      json::object obj = parse_object(st.text(1));
      obj["status"] = "cancelling";
      obj["cancelling_at"] = now_s();
      db_.prepare("UPDATE batches SET status='cancelling', end_as='cancelled', obj=? WHERE id=?")
          .bind(1, json::serialize(obj)).bind(2, id).run();
      db_.prepare("UPDATE items SET state=3 WHERE job=? AND state IN (0,4)").bind(1, id).run();
      txn.commit();
    } else if (status != "cancelling" && status != "cancelled") {
      error = "Cannot cancel batch " + id + ": its status is '" + status + "'.";
      return std::nullopt;
    }
  }
  finalize_if_done(id, now_s());
  return batch(tenant, id);
}

bool Store::finalize_if_done(const std::string& batch_id, int64_t now) {
  std::lock_guard lock(mu_);
  {  // the common case (lines left) without taking the write lock
    auto left = db_.prepare("SELECT 1 FROM items WHERE job=? AND state IN (0,1,4) LIMIT 1");
    left.bind(1, batch_id);
    if (left.step()) return false;
  }
  Txn txn(db_);
  auto st = db_.prepare("SELECT tenant, status, end_as, obj FROM batches WHERE id=? AND finished_at IS NULL");
  st.bind(1, batch_id);
  if (!st.step()) return false;
  std::string tenant = st.text(0), end_as = st.text(2);
  json::object obj = parse_object(st.text(3));
  auto left = db_.prepare("SELECT count(*) FROM items WHERE job=? AND state IN (0,1,4)");
  left.bind(1, batch_id);
  left.step();
  if (left.i64(0) > 0) return false;

  std::string output, errors;
  int64_t total = 0, ok = 0, failed = 0;
  auto lines = db_.prepare(
      "SELECT line, custom_id, state, status_code, request_id, result FROM items WHERE job=? ORDER BY line");
  lines.bind(1, batch_id);
  while (lines.step()) {
    ++total;
    if (lines.i64(2) != kDone) continue;
    int status = static_cast<int>(lines.i64(3));
    json::value body = parse_value(lines.text(5));
    json::object out{{"id", "batch_req_" + batch_id.substr(batch_id.find('_') + 1) + "_" + std::to_string(lines.i64(0))},
                     {"custom_id", lines.text(1)},
                     {"response", json::object{{"status_code", status}, {"request_id", lines.text(4)}, {"body", body}}},
                     {"error", nullptr}};
    if (status < 400) {
      ++ok;
      output += json::serialize(out);
      output += '\n';
    } else {
      ++failed;
      json::object e = error_of(body, status);
      out["error"] = json::object{{"code", e.contains("code") ? e.at("code") : json::value(nullptr)},
                                  {"message", e.contains("message") ? e.at("message") : json::value("")}};
      errors += json::serialize(out);
      errors += '\n';
    }
  }
  auto add = [&](const std::string& data, const char* suffix) -> json::value {
    if (data.empty()) return nullptr;
    std::string fid = api::new_request_id("file-");
    db_.prepare("INSERT INTO files(id, tenant, filename, purpose, bytes, created_at, data) VALUES(?,?,?,?,?,?,?)")
        .bind(1, fid).bind(2, tenant).bind(3, batch_id + suffix).bind(4, std::string("batch_output"))
        .bind(5, static_cast<int64_t>(data.size())).bind(6, now).bind_blob(7, data)
        .run();
    return json::value(fid);
  };
  obj["output_file_id"] = add(output, "_output.jsonl");
  obj["error_file_id"] = add(errors, "_error.jsonl");
  obj["request_counts"] = json::object{{"total", total}, {"completed", ok}, {"failed", failed}};
  obj["finalizing_at"] = now;
  obj["status"] = end_as;
  obj[end_as + "_at"] = now;
  db_.prepare("UPDATE batches SET status=?, finished_at=?, obj=? WHERE id=?")
      .bind(1, end_as).bind(2, now).bind(3, json::serialize(obj)).bind(4, batch_id).run();
  db_.prepare("DELETE FROM items WHERE job=?").bind(1, batch_id).run();
  db_.prepare("DELETE FROM batch_counts WHERE id=?").bind(1, batch_id).run();
  record_event(tenant, "batch." + end_as, obj);
  txn.commit();
  return true;
}

std::vector<std::string> Store::batches_to_finalize() {
  std::lock_guard lock(mu_);
  auto st = db_.prepare(
      "SELECT id FROM batches b WHERE finished_at IS NULL AND NOT EXISTS "
      "(SELECT 1 FROM items i WHERE i.job=b.id AND i.state IN (0,1,4))");
  std::vector<std::string> out;
  while (st.step()) out.push_back(st.text(0));
  return out;
}

int Store::expire_batches(int64_t now) {
  std::lock_guard lock(mu_);
  Txn txn(db_);
  auto st = db_.prepare("SELECT id FROM batches WHERE status='in_progress' AND expires_at < ?");
  st.bind(1, now);
  std::vector<std::string> ids;
  while (st.step()) ids.push_back(st.text(0));
  for (const auto& id : ids) {
    db_.prepare("UPDATE batches SET end_as='expired' WHERE id=?").bind(1, id).run();
    db_.prepare("UPDATE items SET state=3 WHERE job=? AND state IN (0,4)").bind(1, id).run();
  }
  txn.commit();
  return static_cast<int>(ids.size());
}

// ---- chat jobs

void Store::create_chat_job(const std::string& tenant, const json::object& obj, const std::string& body, int priority,
                            const std::string& endpoint) {
  std::string id = json::value_to<std::string>(obj.at("id"));
  std::lock_guard lock(mu_);
  Txn txn(db_);
  db_.prepare("INSERT INTO chat_jobs(id, tenant, status, obj) VALUES(?,?,'queued',?)")
      .bind(1, id).bind(2, tenant).bind(3, json::serialize(obj)).run();
  db_.prepare(
         "INSERT INTO items(job, line, tenant, kind, custom_id, endpoint, body, state, priority, enqueued_ms) "
         "VALUES(?,0,?,1,'',?,?,0,?,?)")
      .bind(1, id).bind(2, tenant).bind(3, endpoint).bind(4, body).bind(5, static_cast<int64_t>(priority)).bind(6, now_ms())
      .run();
  txn.commit();
}

std::optional<json::object> Store::chat_job(const std::string& tenant, const std::string& id) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare("SELECT obj FROM chat_jobs WHERE id=? AND tenant=?");
  st.bind(1, id).bind(2, tenant);
  if (!st.step()) return std::nullopt;
  return parse_object(st.text(0));
}

std::optional<json::object> Store::cancel_chat_job(const std::string& tenant, const std::string& id) {
  std::lock_guard lock(mu_);
  Txn txn(db_);
  auto st = db_.prepare("SELECT status, obj FROM chat_jobs WHERE id=? AND tenant=?");
  st.bind(1, id).bind(2, tenant);
  if (!st.step()) return std::nullopt;
  std::string status = st.text(0);
  json::object obj = parse_object(st.text(1));
  if (status == "queued" || status == "in_progress") {
    obj["status"] = "cancelled";
    obj["cancelled_at"] = now_s();
    db_.prepare("UPDATE chat_jobs SET status='cancelled', finished_at=?, obj=? WHERE id=?")
        .bind(1, now_s()).bind(2, json::serialize(obj)).bind(3, id).run();
    db_.prepare("UPDATE items SET state=3 WHERE job=? AND state IN (0,1,4)").bind(1, id).run();
    record_event(tenant, job_event_type(obj, "cancelled"), obj);
  }
  txn.commit();
  return obj;
}

int64_t Store::append_event(const std::string& job, std::string_view data) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare(
      "INSERT INTO events(job, seq, data) SELECT ?1, coalesce(max(seq),0)+1, ?2 FROM events WHERE job=?1 RETURNING seq");
  st.bind(1, job).bind(2, data);
  int64_t seq = st.step() ? st.i64(0) : 0;
  while (st.step()) {
  }
  return seq;
}

void Store::begin_run(const std::string& job, int attempt) {
  std::lock_guard lock(mu_);
  auto any = db_.prepare("SELECT 1 FROM events WHERE job=? LIMIT 1");
  any.bind(1, job);
  if (!any.step()) return;
  json::object restart{{"object", "chat.completion.job.restart"},
                       {"attempt", attempt},
                       {"message", "The job's worker stopped before the answer was complete; the answer starts again "
                                   "after this event (discard the chunks before it)."}};
  db_.prepare("INSERT INTO events(job, seq, data) SELECT ?1, coalesce(max(seq),0)+1, ?2 FROM events WHERE job=?1")
      .bind(1, job).bind(2, json::serialize(restart)).run();
}

std::vector<std::pair<int64_t, std::string>> Store::events_after(const std::string& job, int64_t after, int limit) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare("SELECT seq, data FROM events WHERE job=? AND seq>? ORDER BY seq LIMIT ?");
  st.bind(1, job).bind(2, after).bind(3, static_cast<int64_t>(limit));
  std::vector<std::pair<int64_t, std::string>> out;
  while (st.step()) out.emplace_back(st.i64(0), st.text(1));
  return out;
}

// ---- queue

std::optional<Item> Store::claim(const std::string& owner, int64_t now, int64_t lease_ms) {
  std::vector<Item> one = claim_many(owner, now, lease_ms, 1);
  if (one.empty()) return std::nullopt;
  return std::move(one.front());
}

std::vector<Item> Store::claim_many(const std::string& owner, int64_t now, int64_t lease_ms, int max) {
  std::lock_guard lock(mu_);
  Txn txn(db_);
  std::vector<Item> out;
  while (static_cast<int>(out.size()) < max) {
    std::optional<Item> it = claim_locked(owner, now, lease_ms);
    if (!it) break;
    out.push_back(std::move(*it));
  }
  if (!out.empty()) txn.commit();
  return out;
}

std::optional<Item> Store::claim_locked(const std::string& owner, int64_t now, int64_t lease_ms) {
  auto pick = db_.prepare("SELECT rowid FROM items WHERE state=0 ORDER BY priority DESC, rowid LIMIT 1");
  int64_t rowid = -1;
  if (pick.step()) {
    rowid = pick.i64(0);
  } else {
    auto expired = db_.prepare("SELECT rowid FROM items WHERE state=1 AND lease_until<? LIMIT 1");
    expired.bind(1, now);
    if (expired.step()) rowid = expired.i64(0);
  }
  if (rowid < 0) return std::nullopt;
  auto st = db_.prepare(
      "UPDATE items SET state=1, owner=?, lease_until=?, attempts=attempts+1 WHERE rowid=? "
      "RETURNING job, line, kind, tenant, custom_id, endpoint, body, attempts, enqueued_ms");
  st.bind(1, owner).bind(2, now + lease_ms).bind(3, rowid);
  if (!st.step()) return std::nullopt;
  Item it{st.text(0), st.i64(1), static_cast<Kind>(st.i64(2)), st.text(3), st.text(4), st.text(5), st.text(6),
          static_cast<int>(st.i64(7)), st.i64(8)};
  while (st.step()) {
  }
  if (it.kind == Kind::chat) {
    auto job = db_.prepare("SELECT obj FROM chat_jobs WHERE id=?");
    job.bind(1, it.job);
    if (job.step()) {
      json::object obj = parse_object(job.text(0));
      obj["status"] = "in_progress";
      if (!obj.contains("started_at") || obj.at("started_at").is_null()) obj["started_at"] = now / 1000;
      db_.prepare("UPDATE chat_jobs SET status='in_progress', obj=? WHERE id=?")
          .bind(1, json::serialize(obj)).bind(2, it.job).run();
    }
  }
  return it;
}

std::vector<Item> Store::unpublished(int limit) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare(
      "SELECT job, line, kind, tenant, custom_id, endpoint, body, attempts, enqueued_ms, priority FROM items WHERE state=0 "
      "ORDER BY priority DESC, rowid LIMIT ?");
  st.bind(1, static_cast<int64_t>(limit));
  std::vector<Item> out;
  while (st.step())
    out.push_back(Item{st.text(0), st.i64(1), static_cast<Kind>(st.i64(2)), st.text(3), st.text(4), st.text(5), st.text(6),
                       static_cast<int>(st.i64(7)), st.i64(8), static_cast<int>(st.i64(9))});
  return out;
}

void Store::mark_published(const std::vector<Item>& items) {
  std::lock_guard lock(mu_);
  Txn txn(db_);
  for (const auto& it : items)
    db_.prepare("UPDATE items SET state=4 WHERE job=? AND line=? AND state=0").bind(1, it.job).bind(2, it.line).run();
  txn.commit();
}

bool Store::started(const std::string& job, int64_t line, const std::string& owner, int attempt) {
  std::lock_guard lock(mu_);
  Txn txn(db_);
  db_.prepare("UPDATE items SET state=1, owner=?, lease_until=?, attempts=? WHERE job=? AND line=? AND state IN (0,1,4)")
      .bind(1, owner).bind(2, std::numeric_limits<int64_t>::max()).bind(3, static_cast<int64_t>(attempt))
      .bind(4, job).bind(5, line).run();
  if (db_.changes() == 0) return false;
  auto st = db_.prepare("SELECT obj FROM chat_jobs WHERE id=? AND status IN ('queued','in_progress')");
  st.bind(1, job);
  if (st.step()) {
    json::object obj = parse_object(st.text(0));
    obj["status"] = "in_progress";
    if (!obj.contains("started_at") || obj.at("started_at").is_null()) obj["started_at"] = now_s();
    db_.prepare("UPDATE chat_jobs SET status='in_progress', obj=? WHERE id=?").bind(1, json::serialize(obj)).bind(2, job).run();
  }
  txn.commit();
  return true;
}

std::vector<std::string> Store::heartbeat(const std::string& owner, int64_t lease_until) {
  std::lock_guard lock(mu_);
  db_.prepare("UPDATE items SET lease_until=? WHERE owner=? AND state=1").bind(1, lease_until).bind(2, owner).run();
  auto st = db_.prepare("SELECT job FROM items WHERE owner=? AND state=3");
  st.bind(1, owner);
  std::vector<std::string> out;
  while (st.step()) out.push_back(st.text(0));
  return out;
}

bool Store::complete(const Item& item, const Result& result) {
  const std::pair<Item, Result> one[1] = {{item, result}};
  return complete_many(one).front();
}

std::vector<bool> Store::complete_many(std::span<const std::pair<Item, Result>> done) {
  std::lock_guard lock(mu_);
  Txn txn(db_);
  std::vector<bool> first;
  first.reserve(done.size());
  for (const auto& [item, result] : done) first.push_back(complete_locked(item, result));
  txn.commit();
  return first;
}

bool Store::complete_locked(const Item& item, const Result& result) {
  db_.prepare("UPDATE items SET state=2, status_code=?, request_id=?, result=? WHERE job=? AND line=? AND state IN (0,1,4)")
      .bind(1, static_cast<int64_t>(result.status_code)).bind(2, result.request_id).bind(3, result.body)
      .bind(4, item.job).bind(5, item.line)
      .run();
  bool first = db_.changes() > 0;
  if (first && item.kind == Kind::batch_line)
    db_.prepare("UPDATE batch_counts SET ok=ok+?, failed=failed+? WHERE id=?")
        .bind(1, static_cast<int64_t>(result.status_code < 400)).bind(2, static_cast<int64_t>(result.status_code >= 400))
        .bind(3, item.job).run();
  if (item.kind == Kind::chat) {
    if (first) {
      auto job = db_.prepare("SELECT tenant, obj FROM chat_jobs WHERE id=?");
      job.bind(1, item.job);
      if (job.step()) {
        std::string tenant = job.text(0);
        json::object obj = parse_object(job.text(1));
        bool ok = result.status_code < 400;
        json::value body = parse_value(result.body);
        bool flow = is_flow_job(obj);
        obj["status"] = ok ? "completed" : "failed";
        obj[ok ? "completed_at" : "failed_at"] = now_s();
        if (ok) obj[flow ? "run" : "completion"] = body;
        else obj["error"] = error_of(body, result.status_code);
        db_.prepare("UPDATE chat_jobs SET status=?, finished_at=?, obj=? WHERE id=?")
            .bind(1, std::string(ok ? "completed" : "failed")).bind(2, now_s()).bind(3, json::serialize(obj))
            .bind(4, item.job).run();
        record_event(tenant, job_event_type(obj, ok ? "completed" : "failed"), obj);
      }
    }
    db_.prepare("DELETE FROM items WHERE job=? AND line=?").bind(1, item.job).bind(2, item.line).run();
  }
  return first;
}

bool Store::give_up(const Item& item, const std::string& why) {
  json::object err{{"error", json::object{{"message", why}, {"type", "server_error"}, {"param", nullptr},
                                          {"code", "max_attempts_exceeded"}}}};
  return complete(item, Result{500, json::serialize(err), ""});
}

void Store::release(const std::string& owner) {
  std::lock_guard lock(mu_);
  db_.prepare("UPDATE items SET state=0, owner=NULL, attempts=max(attempts-1,0) WHERE owner=? AND state=1")
      .bind(1, owner).run();
  db_.prepare("DELETE FROM items WHERE owner=? AND state=3 AND kind=1").bind(1, owner).run();
}

int Store::purge(int64_t cutoff) {
  std::lock_guard lock(mu_);
  Txn txn(db_);
  int n = 0;
  db_.prepare("DELETE FROM files WHERE created_at < ?").bind(1, cutoff).run();
  n += static_cast<int>(db_.changes());
  db_.prepare("DELETE FROM batches WHERE finished_at < ?").bind(1, cutoff).run();
  n += static_cast<int>(db_.changes());
  db_.prepare("DELETE FROM events WHERE job IN (SELECT id FROM chat_jobs WHERE finished_at < ?)").bind(1, cutoff).run();
  db_.prepare("DELETE FROM chat_jobs WHERE finished_at < ?").bind(1, cutoff).run();
  n += static_cast<int>(db_.changes());
  db_.prepare("DELETE FROM webhook_events WHERE sent=1 AND created_at < ?").bind(1, cutoff).run();
  db_.prepare("DELETE FROM deliveries WHERE status<>'pending' AND created_at < ?").bind(1, cutoff).run();
  txn.commit();
  return n;
}

QueueCounts Store::counts() {
  std::lock_guard lock(mu_);
  // counted in the (state, priority) index: a scan of the table would read every stored result
  auto st = db_.prepare(
      "SELECT (SELECT count(*) FROM items WHERE state IN (0,4)), (SELECT count(*) FROM items WHERE state=1)");
  st.step();
  return QueueCounts{st.i64(0), st.i64(1)};
}

// ---- webhook events

void Store::record_event(const std::string& tenant, const std::string& type, const json::object& job) {
  std::string url;
  if (auto* m = job.if_contains("metadata"); m && m->is_object())
    if (auto* u = m->as_object().if_contains("webhook_url"); u && u->is_string()) url = std::string(u->as_string());
  db_.prepare("INSERT INTO webhook_events(id, tenant, type, job, created_at, url) VALUES(?,?,?,?,?,?)")
      .bind(1, api::new_request_id("evt_")).bind(2, tenant).bind(3, type)
      .bind(4, json::value_to<std::string>(job.at("id"))).bind(5, now_s()).bind(6, url)
      .run();
}

std::vector<JobEvent> Store::pending_events(int limit) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare(
      "SELECT id, tenant, type, job, created_at, url FROM webhook_events WHERE sent=0 ORDER BY rowid LIMIT ?");
  st.bind(1, static_cast<int64_t>(limit));
  std::vector<JobEvent> out;
  while (st.step()) out.push_back(JobEvent{st.text(0), st.text(1), st.text(2), st.text(3), st.i64(4), st.text(5)});
  return out;
}

void Store::mark_event_sent(const std::string& event_id) {
  std::lock_guard lock(mu_);
  db_.prepare("UPDATE webhook_events SET sent=1 WHERE id=?").bind(1, event_id).run();
}

}  // namespace kuai::jobs
