// Store: webhook deliveries and their log (see store.h).
#include "jobs/store.h"

#include <boost/json.hpp>

namespace kuai::jobs {
namespace json = boost::json;

void Store::fan_out_events(const std::function<std::vector<std::string>(const JobEvent&)>& endpoints_for) {
  std::lock_guard lock(mu_);
  Txn txn(db_);
  std::vector<JobEvent> events;
  {
    auto st = db_.prepare(
        "SELECT id, tenant, type, job, created_at, url FROM webhook_events WHERE sent=0 ORDER BY rowid LIMIT 500");
    while (st.step()) events.push_back(JobEvent{st.text(0), st.text(1), st.text(2), st.text(3), st.i64(4), st.text(5)});
  }
  auto ins = db_.prepare(
      "INSERT OR IGNORE INTO deliveries(event, endpoint, tenant, job, type, created_at, status, next_ms) "
      "VALUES(?,?,?,?,?,?,'pending',0)");
  auto sent = db_.prepare("UPDATE webhook_events SET sent=1 WHERE id=?");
  for (const auto& e : events) {
    for (const auto& url : endpoints_for(e)) {
      ins.reset();
      ins.bind(1, e.id).bind(2, url).bind(3, e.tenant).bind(4, e.job_id).bind(5, e.type).bind(6, e.created_at);
      ins.run();
    }
    sent.reset();
    sent.bind(1, e.id);
    sent.run();
  }
  txn.commit();
}

std::vector<Delivery> Store::due_deliveries(int64_t now, int limit) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare(
      "SELECT event, tenant, type, job, created_at, endpoint, attempts FROM deliveries "
      "WHERE status='pending' AND next_ms<=? ORDER BY next_ms LIMIT ?");
  st.bind(1, now).bind(2, static_cast<int64_t>(limit));
  std::vector<Delivery> out;
  while (st.step())
    out.push_back(Delivery{JobEvent{st.text(0), st.text(1), st.text(2), st.text(3), st.i64(4), ""}, st.text(5),
                           static_cast<int>(st.i64(6))});
  return out;
}

void Store::record_delivery(const Delivery& d, const std::string& status, int64_t next_ms, int http_status,
                            const std::string& error) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare(
      "UPDATE deliveries SET status=?, attempts=?, next_ms=?, last_status=?, last_error=? WHERE event=? AND endpoint=?");
  st.bind(1, status).bind(2, static_cast<int64_t>(d.attempts)).bind(3, next_ms);
  if (http_status > 0) st.bind(4, static_cast<int64_t>(http_status));
  else st.bind_null(4);
  st.bind(5, error).bind(6, d.event.id).bind(7, d.endpoint);
  st.run();
}

void Store::disable_endpoint(const std::string& url) {
  std::lock_guard lock(mu_);
  Txn txn(db_);
  db_.prepare("INSERT OR IGNORE INTO disabled_endpoints(url, at) VALUES(?,?)").bind(1, url).bind(2, now_s()).run();
  db_.prepare("UPDATE deliveries SET status='disabled' WHERE endpoint=? AND status='pending'").bind(1, url).run();
  txn.commit();
}

bool Store::endpoint_disabled(const std::string& url) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare("SELECT 1 FROM disabled_endpoints WHERE url=?");
  st.bind(1, url);
  return st.step();
}

std::vector<json::object> Store::deliveries_of(const std::string& tenant, const std::string& job) {
  std::lock_guard lock(mu_);
  auto st = db_.prepare(
      "SELECT event, type, endpoint, status, attempts, last_status, last_error FROM deliveries "
      "WHERE tenant=? AND job=? ORDER BY rowid");
  st.bind(1, tenant).bind(2, job);
  std::vector<json::object> out;
  while (st.step()) {
    out.push_back(json::object{{"event_id", st.text(0)},
                               {"type", st.text(1)},
                               {"url", st.text(2)},
                               {"status", st.text(3)},
                               {"attempts", st.i64(4)},
                               {"last_status", st.is_null(5) ? json::value(nullptr) : json::value(st.i64(5))},
                               {"last_error", st.text(6)}});
  }
  return out;
}

}  // namespace kuai::jobs
