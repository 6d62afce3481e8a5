// The async-job endpoints (OpenAI's Files and Batches API, kuai's background chat jobs) over the job
// store (src/jobs). Every lookup is by (tenant, id): another tenant's id is a 404. Store calls are
// short SQLite transactions made on the I/O thread (see docs/ARCHITECTURE.md, "Async jobs").
#include "api/error.h"
#include "api/request_id.h"
#include "api/stream.h"
#include "jobs/batch_input.h"
#include "jobs/multipart.h"
#include "server/gateway_state.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <charconv>

namespace kuai::server {
namespace net = boost::asio;
namespace json = boost::json;

namespace {

void require_jobs(const State& s) {
  if (!s.job_store)
    throw api::Error::not_found("Async jobs are off on this gateway (set config 'jobs.dir').", "jobs_disabled");
}

// The path after `prefix`, split at '/': "/v1/files/abc/content" → {"abc", "content"}.
std::vector<std::string_view> segments(std::string_view path, std::string_view prefix) {
  std::vector<std::string_view> out;
  std::string_view rest = path.substr(prefix.size());
  while (!rest.empty()) {
    if (rest.front() == '/') {
      rest.remove_prefix(1);
      continue;
    }
    auto slash = rest.find('/');
    out.push_back(rest.substr(0, slash));
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash);
  }
  return out;
}

// A query parameter's value (no percent-decoding: ids and numbers only), or "".
std::string query_param(std::string_view target, std::string_view name) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view kv = rest.substr(0, amp);
    auto eq = kv.find('=');
    if (kv.substr(0, eq) == name) return eq == std::string_view::npos ? std::string() : std::string(kv.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return {};
}

int64_t int_param(std::string_view value, std::string_view name, int64_t dflt, int64_t lo, int64_t hi) {
  if (value.empty()) return dflt;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (ec != std::errc() || p != value.data() + value.size() || v < lo || v > hi)
    throw api::Error::bad_request("'" + std::string(name) + "' must be an integer from " + std::to_string(lo) + " to " +
                                      std::to_string(hi) + ".",
                                  std::string(name));
  return v;
}

net::awaitable<int> send_json(http::ResponseWriter& w, int status, const json::object& obj) {
  std::string body = json::serialize(obj);
  co_await w.send(status, "application/json", std::move(body), http::Headers{});
  co_return status;
}

json::object page(json::array data, bool has_more) {
  json::object out{{"object", "list"}, {"has_more", has_more}};
  if (!data.empty()) {
    out["first_id"] = data.front().as_object().at("id");
    out["last_id"] = data.back().as_object().at("id");
  } else {
    out["first_id"] = nullptr;
    out["last_id"] = nullptr;
  }
  out["data"] = std::move(data);
  return out;
}

api::Error no_such(std::string_view what, std::string_view id) {
  return api::Error::not_found("No " + std::string(what) + " with id '" + std::string(id) + "'.", "not_found");
}

// metadata.webhook_url: only for tenants allowed to name their own receiver.
void check_webhook_url(const State& s, const pipeline::Tenant& tenant, const json::object& metadata) {
  auto* url = metadata.if_contains("webhook_url");
  if (!url) return;
  std::string error = url->is_string() ? s.webhooks->check_request_url(tenant.name, std::string(url->as_string()))
                                       : std::string("metadata.webhook_url must be a string.");
  if (!error.empty()) throw api::Error(400, "invalid_request_error", error, "webhook_url_not_allowed", "metadata.webhook_url");
}

// The webhook delivery log of one job.
net::awaitable<int> send_deliveries(State& s, const pipeline::Tenant& tenant, const std::string& id,
                                    http::ResponseWriter& w) {
  json::array data;
  std::vector<json::object> log = s.job_store->deliveries_of(tenant.name, id);
  for (auto& d : log) data.push_back(std::move(d));
  json::object out{{"object", "list"}, {"data", std::move(data)}};
  co_return co_await send_json(w, 200, out);
}

// ---- files

net::awaitable<int> upload_file(State& s, const pipeline::Tenant& tenant, http::Request& req, http::ResponseWriter& w) {
  const std::string* ct = req.header("content-type");
  auto boundary = ct ? jobs::multipart_boundary(*ct) : std::nullopt;
  if (!boundary)
    throw api::Error(415, "invalid_request_error", "Upload files as multipart/form-data with fields 'purpose' and 'file'.",
                     "unsupported_media_type");
  auto parsed = jobs::parse_multipart(req.body, *boundary);
  if (auto* err = std::get_if<std::string>(&parsed))
    throw api::Error::bad_request("Malformed multipart/form-data body: " + *err + ".", "file");
  const jobs::FormPart* file = nullptr;
  std::string purpose;
  for (const auto& part : std::get<std::vector<jobs::FormPart>>(parsed)) {
    if (part.name == "file") file = &part;
    else if (part.name == "purpose") purpose = std::string(part.data);
  }
  if (purpose.empty()) throw api::Error::bad_request("Missing required parameter: 'purpose'.", "purpose");
  if (purpose != "batch")
    throw api::Error::bad_request("'purpose' must be 'batch' (the only purpose this gateway stores).", "purpose");
  if (!file) throw api::Error::bad_request("Missing required parameter: 'file'.", "file");
  if (static_cast<int64_t>(file->data.size()) > s.job_options.max_file_bytes)
    throw api::Error(413, "invalid_request_error",
                     "The file is " + std::to_string(file->data.size()) + " bytes; the limit is " +
                         std::to_string(s.job_options.max_file_bytes) + " (jobs.max_file_bytes).",
                     "file_too_large");
  jobs::FileMeta meta = s.job_store->add_file(tenant.name, file->filename.empty() ? "upload.jsonl" : file->filename,
                                              purpose, file->data);
  json::object out = meta.to_json();
  co_return co_await send_json(w, 200, out);
}

// ---- batches

constexpr int64_t kMaxWindowHours = 24 * 7;

net::awaitable<int> create_batch(State& s, const pipeline::Tenant& tenant, http::Request& req, http::ResponseWriter& w) {
  require_json(req);
  boost::system::error_code ec;
  json::value v = json::parse(req.body, ec);
  if (ec || !v.is_object()) throw api::Error::bad_request("The body must be a JSON object.");
  const json::object& in = v.as_object();
  auto str = [&](std::string_view key) -> std::string {
    auto* f = in.if_contains(key);
    if (!f) throw api::Error::bad_request("Missing required parameter: '" + std::string(key) + "'.", std::string(key));
    if (!f->is_string()) throw api::Error::bad_request("'" + std::string(key) + "' must be a string.", std::string(key));
    return std::string(f->as_string());
  };
  std::string input_file_id = str("input_file_id");
  std::string endpoint = str("endpoint");
  std::string window = str("completion_window");
  if (!jobs::is_batch_endpoint(endpoint))
    throw api::Error::bad_request("'endpoint' must be /v1/chat/completions, /v1/completions or /v1/embeddings.",
                                  "endpoint");
  int64_t hours = 0;
  if (window.size() < 2 || window.back() != 'h' ||
      std::from_chars(window.data(), window.data() + window.size() - 1, hours).ptr != window.data() + window.size() - 1 ||
      hours < 1 || hours > kMaxWindowHours)
    throw api::Error::bad_request("'completion_window' must be like '24h' (1h to 168h).", "completion_window");
  json::value metadata = nullptr;
  if (auto* m = in.if_contains("metadata"); m && !m->is_null()) {
    if (!m->is_object() || m->as_object().size() > 16)
      throw api::Error::bad_request("'metadata' must be an object of at most 16 string values.", "metadata");
    for (const auto& kv : m->as_object())
      if (!kv.value().is_string()) throw api::Error::bad_request("'metadata' values must be strings.", "metadata");
    metadata = *m;
    check_webhook_url(s, tenant, m->as_object());
  }
  auto content = s.job_store->file_content(tenant.name, input_file_id);
  if (!content) throw api::Error::not_found("No file with id '" + input_file_id + "'.", "file_not_found");

  int64_t now = jobs::now_s();
  json::object obj{{"id", api::new_request_id("batch_")},
                   {"object", "batch"},
                   {"endpoint", endpoint},
                   {"errors", nullptr},
                   {"input_file_id", input_file_id},
                   {"completion_window", window},
                   {"status", "in_progress"},
                   {"output_file_id", nullptr},
                   {"error_file_id", nullptr},
                   {"created_at", now},
                   {"in_progress_at", now},
                   {"expires_at", now + hours * 3600},
                   {"finalizing_at", nullptr},
                   {"completed_at", nullptr},
                   {"failed_at", nullptr},
                   {"expired_at", nullptr},
                   {"cancelling_at", nullptr},
                   {"cancelled_at", nullptr},
                   {"request_counts", json::object{{"total", 0}, {"completed", 0}, {"failed", 0}}},
                   {"metadata", metadata}};
  jobs::BatchInput input = jobs::parse_batch_input(*content, endpoint, s.job_options.max_lines);
  if (!input.errors.empty()) {
    json::array data;
    for (const auto& e : input.errors) {
      json::object d{{"code", e.code}, {"message", e.message}, {"param", e.param.empty() ? json::value(nullptr) : json::value(e.param)},
                     {"line", e.line > 0 ? json::value(e.line) : json::value(nullptr)}};
      data.push_back(std::move(d));
    }
    obj["status"] = "failed";
    obj["in_progress_at"] = nullptr;
    obj["failed_at"] = now;
    obj["errors"] = json::object{{"object", "list"}, {"data", std::move(data)}};
    s.job_store->create_failed_batch(tenant.name, obj);
    if (s.workers) s.workers->notify_final();
    co_return co_await send_json(w, 200, obj);
  }
  obj["request_counts"] = json::object{{"total", static_cast<int64_t>(input.lines.size())}, {"completed", 0}, {"failed", 0}};
  s.job_store->create_batch(tenant.name, obj, input.lines, tenant.priority);
  s.workers->notify();
  co_return co_await send_json(w, 200, obj);
}

// ---- chat job events: SSE, resumable by event id

constexpr auto kEventPoll = std::chrono::milliseconds(20);
constexpr int kPollsPerKeepAlive = 750;  // an SSE comment every 15 s of silence: a gone client is noticed

bool is_final(std::string_view status) { return status == "completed" || status == "failed" || status == "cancelled"; }

net::awaitable<int> stream_events(State& s, const pipeline::Tenant& tenant, const std::string& id, http::Request& req,
                                  http::ResponseWriter& w) {
  std::string last = query_param(req.target, "starting_after");
  if (const std::string* h = req.header("last-event-id")) last = *h;
  int64_t after = int_param(last, "starting_after", 0, 0, INT64_MAX);
  if (!s.job_store->chat_job(tenant.name, id)) throw no_such("chat job", id);
  http::Headers headers{{"x-accel-buffering", "no"}};
  if (!co_await w.begin_stream(200, "text/event-stream", headers)) co_return 499;
  net::steady_timer timer(co_await net::this_coro::executor);
  int idle_polls = 0;
  while (true) {
    auto events = s.job_store->events_after(id, after, 256);
    for (const auto& [seq, data] : events) {
      std::string ev = "id: " + std::to_string(seq) + "\ndata: " + data + "\n\n";
      if (!co_await w.write(ev)) co_return 499;
      after = seq;
    }
    if (!events.empty()) continue;
    auto job = s.job_store->chat_job(tenant.name, id);
    std::string status = job ? std::string(job->at("status").as_string()) : "cancelled";
    if (is_final(status)) {
      if (!s.job_store->events_after(id, after, 1).empty()) continue;  // chunks stored just before the end
      if (status != "completed") {
        json::object err = job && job->contains("error") && job->at("error").is_object()
                               ? job->at("error").as_object()
                               : json::object{{"message", "The job was " + status + "."}, {"type", "invalid_request_error"},
                                              {"param", nullptr}, {"code", status}};
        std::string ev = "data: " + json::serialize(json::object{{"error", err}}) + "\n\n";
        co_await w.write(ev);
      } else {
        co_await w.write(api::kSseDone);
      }
      co_await w.end_stream(http::Headers{});
      co_return 200;
    }
    if (++idle_polls % kPollsPerKeepAlive == 0 && !co_await w.write(": keep-alive\n\n")) co_return 499;
    timer.expires_after(kEventPoll);
    co_await timer.async_wait(net::as_tuple(net::use_awaitable));
  }
}

// A new background job's object: queued, every *_at time null; the request's `metadata` (an object)
// is kept, its webhook_url checked against the tenant's permission.
json::object queued_job(State& s, const pipeline::Tenant& tenant, const char* id_prefix, const char* object,
                        const json::object* request) {
  json::object obj{{"id", api::new_request_id(id_prefix)},
                   {"object", object},
                   {"status", "queued"},
                   {"created_at", jobs::now_s()},
                   {"started_at", nullptr},
                   {"completed_at", nullptr},
                   {"failed_at", nullptr},
                   {"cancelled_at", nullptr}};
  if (const json::value* m = request ? request->if_contains("metadata") : nullptr; m && m->is_object()) {
    check_webhook_url(s, tenant, m->as_object());
    obj["metadata"] = *m;
  }
  return obj;
}

}  // namespace

net::awaitable<int> handle_background_chat(State& s, const pipeline::Tenant& tenant, http::Request& req,
                                           http::ResponseWriter& w) {
  require_jobs(s);
  boost::system::error_code ec;
  json::value body = json::parse(req.body, ec);  // parsed once already by handle_chat
  json::object obj = queued_job(s, tenant, "chatjob_", "chat.completion.job", !ec && body.is_object() ? &body.as_object() : nullptr);
  s.job_store->create_chat_job(tenant.name, obj, req.body, tenant.priority);
  s.workers->notify();
  co_return co_await send_json(w, 202, obj);
}

net::awaitable<int> handle_background_flow(State& s, const pipeline::Tenant& tenant, const std::string& flow_name,
                                           json::object request, http::ResponseWriter& w) {
  require_jobs(s);
  json::object obj = queued_job(s, tenant, "flowjob_", "flow.run.job", &request);
  obj["flow"] = flow_name.empty() ? json::value(nullptr) : json::value(flow_name);
  request.erase("metadata");
  if (!flow_name.empty()) request["name"] = flow_name;
  s.job_store->create_chat_job(tenant.name, obj, json::serialize(request), tenant.priority, "/v1/flows/runs");
  s.workers->notify();
  co_return co_await send_json(w, 202, obj);
}

net::awaitable<int> handle_files(State& s, const pipeline::Tenant& tenant, http::Request& req, http::ResponseWriter& w) {
  require_jobs(s);
  auto seg = segments(req.path(), "/v1/files");
  if (seg.empty()) {
    if (req.method == "POST") co_return co_await upload_file(s, tenant, req, w);
    require_method(req, "GET");
    int limit = static_cast<int>(int_param(query_param(req.target, "limit"), "limit", 10000, 1, 10000));
    bool more = false;
    json::array data;
    std::vector<jobs::FileMeta> files = s.job_store->list_files(tenant.name, query_param(req.target, "purpose"),
                                                                query_param(req.target, "after"), limit, more);
    for (const auto& f : files) data.push_back(f.to_json());
    json::object out = page(std::move(data), more);
    co_return co_await send_json(w, 200, out);
  }
  std::string id(seg[0]);
  if (seg.size() == 2 && seg[1] == "content") {
    require_method(req, "GET");
    auto content = s.job_store->file_content(tenant.name, id);
    if (!content) throw no_such("file", id);
    co_await w.send(200, "application/octet-stream", std::move(*content), http::Headers{});
    co_return 200;
  }
  if (seg.size() != 1) throw no_such("file", req.path());
  if (req.method == "DELETE") {
    if (!s.job_store->delete_file(tenant.name, id)) throw no_such("file", id);
    json::object out{{"id", id}, {"object", "file"}, {"deleted", true}};
    co_return co_await send_json(w, 200, out);
  }
  require_method(req, "GET");
  auto meta = s.job_store->file(tenant.name, id);
  if (!meta) throw no_such("file", id);
  json::object out = meta->to_json();
  co_return co_await send_json(w, 200, out);
}

net::awaitable<int> handle_batches(State& s, const pipeline::Tenant& tenant, http::Request& req,
                                   http::ResponseWriter& w) {
  require_jobs(s);
  auto seg = segments(req.path(), "/v1/batches");
  if (seg.empty()) {
    if (req.method == "POST") co_return co_await create_batch(s, tenant, req, w);
    require_method(req, "GET");
    int limit = static_cast<int>(int_param(query_param(req.target, "limit"), "limit", 20, 1, 100));
    bool more = false;
    json::array data;
    std::vector<json::object> batches = s.job_store->list_batches(tenant.name, query_param(req.target, "after"), limit, more);
    for (auto& b : batches) data.push_back(std::move(b));
    json::object out = page(std::move(data), more);
    co_return co_await send_json(w, 200, out);
  }
  std::string id(seg[0]);
  if (seg.size() == 2 && seg[1] == "cancel") {
    require_method(req, "POST");
    std::string error;
    auto b = s.job_store->cancel_batch(tenant.name, id, error);
    if (!b && !error.empty()) throw api::Error(409, "invalid_request_error", error, "batch_not_cancellable");
    if (!b) throw no_such("batch", id);
    if (s.workers) s.workers->notify_final();
    co_return co_await send_json(w, 200, *b);
  }
  if (seg.size() == 2 && seg[1] == "webhook_deliveries") {
    require_method(req, "GET");
    if (!s.job_store->batch(tenant.name, id)) throw no_such("batch", id);
    co_return co_await send_deliveries(s, tenant, id, w);
  }
  if (seg.size() != 1) throw no_such("batch", req.path());
  require_method(req, "GET");
  auto b = s.job_store->batch(tenant.name, id);
  if (!b) throw no_such("batch", id);
  co_return co_await send_json(w, 200, *b);
}

net::awaitable<int> handle_chat_jobs(State& s, const pipeline::Tenant& tenant, http::Request& req,
                                     http::ResponseWriter& w, std::string_view prefix) {
  require_jobs(s);
  auto seg = segments(req.path(), prefix);
  if (seg.empty() || seg.size() > 2) throw api::Error::not_found("Unknown request URL: " + req.method + " " + std::string(req.path()) + ".", "unknown_url");
  std::string id(seg[0]);
  if (seg.size() == 2 && seg[1] == "events") {
    require_method(req, "GET");
    co_return co_await stream_events(s, tenant, id, req, w);
  }
  if (seg.size() == 2 && seg[1] == "cancel") {
    require_method(req, "POST");
    auto before = s.job_store->chat_job(tenant.name, id);
    if (!before) throw no_such("chat job", id);
    auto job = s.job_store->cancel_chat_job(tenant.name, id);
    if (!job) throw no_such("chat job", id);
    if (before->at("status").as_string() == "in_progress") s.workers->cancel(id);
    if (!is_final(before->at("status").as_string())) s.workers->notify_final();
    co_return co_await send_json(w, 200, *job);
  }
  if (seg.size() == 2 && seg[1] == "webhook_deliveries") {
    require_method(req, "GET");
    if (!s.job_store->chat_job(tenant.name, id)) throw no_such("chat job", id);
    co_return co_await send_deliveries(s, tenant, id, w);
  }
  if (seg.size() != 1) throw no_such("chat job", req.path());
  require_method(req, "GET");
  auto job = s.job_store->chat_job(tenant.name, id);
  if (!job) throw no_such("chat job", id);
  co_return co_await send_json(w, 200, *job);
}

}  // namespace kuai::server
