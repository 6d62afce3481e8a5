// Gateway construction from config, the route table, and the outer error wall: every request gets a
// status, a Server-Timing header, a metrics sample and one access-log line.
#include "server/gateway.h"


#include "api/error.h"
#include "config/schema.h"
#include "server/error_wall.h"
#include "server/flow_caller.h"
#include "server/gateway_state.h"
#include "upstream/local_backend.h"

#include <boost/json.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <set>
#include <csignal>
#include <cstdio>

namespace kuai::server {
namespace net = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// Records the status, the time to the first body byte and (for the dashboard) the headers that tell
// what the stages did, and adds `Server-Timing: total;dur=…` to responses whose handler set none.
class RecordingWriter final : public http::ResponseWriter {
 public:
  RecordingWriter(http::ResponseWriter& inner, Clock::time_point t0, bool keep_headers)
      : inner_(inner), t0_(t0), keep_headers_(keep_headers) {}

  net::awaitable<void> send(int status, std::string_view content_type, std::string body,
                            const http::Headers& headers) override {
    status_ = status;
    first_byte_ = Clock::now();
    keep(headers);
    if (has_timing(headers)) {
      co_await inner_.send(status, content_type, std::move(body), headers);
    } else {
      http::Headers h = headers;
      h.emplace_back("Server-Timing", total_timing());
      co_await inner_.send(status, content_type, std::move(body), h);
    }
  }
  net::awaitable<bool> begin_stream(int status, std::string_view content_type, const http::Headers& headers,
                                    std::string_view trailer_names) override {
    status_ = status;
    stream_ = true;
    keep(headers);
    if (has_timing(headers)) co_return co_await inner_.begin_stream(status, content_type, headers, trailer_names);
    http::Headers h = headers;
    h.emplace_back("Server-Timing", total_timing());
    co_return co_await inner_.begin_stream(status, content_type, h, trailer_names);
  }
  net::awaitable<bool> write(std::string_view data) override {
    if (!first_byte_) first_byte_ = Clock::now();
    return inner_.write(data);
  }
  net::awaitable<void> end_stream(const http::Headers& trailers) override { return inner_.end_stream(trailers); }
  bool started() const override { return inner_.started(); }
  bool client_gone() const override { return inner_.client_gone(); }
  int status() const { return status_; }
  bool stream() const { return stream_; }
  // Seconds to the first body byte (the whole request when no body was written).
  double first_byte_seconds(Clock::time_point end) const {
    return std::chrono::duration<double>(first_byte_.value_or(end) - t0_).count();
  }
  std::string server_timing;                           // as sent (keep_headers only)
  std::vector<std::pair<std::string, std::string>> kuai;  // x-kuai-* as sent (keep_headers only)

 private:
  void keep(const http::Headers& headers) {
    if (!keep_headers_) return;
    for (const auto& [k, v] : headers) {
      if (k == "Server-Timing") server_timing = v;
      else if (k.size() > 7 && (k.compare(0, 7, "x-kuai-") == 0 || k.compare(0, 7, "X-Kuai-") == 0)) kuai.emplace_back(k, v);
    }
  }
  static bool has_timing(const http::Headers& h) {
    for (const auto& [k, v] : h)
      if (k == "Server-Timing") return true;
    return false;
  }
  std::string total_timing() const {
    std::string out;
    pipeline::append_server_timing(out, "total", std::chrono::duration<double, std::milli>(Clock::now() - t0_).count());
    return out;
  }
  http::ResponseWriter& inner_;
  Clock::time_point t0_;
  bool keep_headers_;
  int status_ = 0;
  bool stream_ = false;
  std::optional<Clock::time_point> first_byte_;
};

Route route_of(std::string_view path) {
  if (path == "/v1/chat/completions") return Route::chat;
  if (path == "/v1/completions") return Route::completions;
  if (path == "/v1/embeddings") return Route::embeddings;
  if (path == "/v1/models") return Route::models;
  if (path == "/healthz") return Route::healthz;
  if (path == "/metrics") return Route::metrics;
  if (path.substr(0, 17) == "/v1/admin/stages/") return Route::admin;
  if (path.substr(0, 10) == "/v1/cache/") return Route::stage;
  if (path == "/dashboard" || path.substr(0, 11) == "/dashboard/") return Route::dashboard;
  if (path == "/v1/files" || path.substr(0, 10) == "/v1/files/") return Route::files;
  if (path == "/v1/batches" || path.substr(0, 12) == "/v1/batches/") return Route::batches;
  if (path.substr(0, 14) == "/v1/chat/jobs/") return Route::chat_jobs;
  if (path == "/v1/flows" || path.substr(0, 10) == "/v1/flows/") return Route::flows;
  return Route::other;
}

net::awaitable<int> dispatch(State& s, Route route, const pipeline::Tenant*& tenant, http::Request& req,
                             http::ResponseWriter& w) {
  if (route == Route::chat || route == Route::completions || route == Route::embeddings || route == Route::models ||
      route == Route::stage || route == Route::files || route == Route::batches || route == Route::chat_jobs ||
      route == Route::flows)
    tenant = &s.tenants.authenticate(req.header("authorization"));
  switch (route) {
    case Route::chat: co_return co_await handle_chat(s, *tenant, req, w);
    case Route::completions: co_return co_await handle_completions(s, *tenant, req, w);
    case Route::embeddings: co_return co_await handle_embeddings(s, *tenant, req, w);
    case Route::models: co_return co_await handle_models(s, *tenant, req, w);
    case Route::admin: co_return co_await handle_admin(s, req, w);
    case Route::stage: co_return co_await handle_stage_client(s, *tenant, req, w);
    case Route::files: co_return co_await handle_files(s, *tenant, req, w);
    case Route::batches: co_return co_await handle_batches(s, *tenant, req, w);
    case Route::chat_jobs: co_return co_await handle_chat_jobs(s, *tenant, req, w);
    case Route::flows: co_return co_await handle_flows(s, *tenant, req, w);
    case Route::healthz:
      co_await w.send(200, "application/json", std::string(R"({"status":"ok"})"), http::Headers{});
      co_return 200;
    case Route::metrics: {
      std::string text = s.metrics.serialize();
      co_await w.send(200, "text/plain; version=0.0.4; charset=utf-8", std::move(text), http::Headers{});
      co_return 200;
    }
    case Route::websocket:
      throw api::Error::bad_request("This endpoint expects a WebSocket upgrade request.");
    case Route::dashboard:
      if (s.dashboard.enabled) co_return co_await handle_dashboard(s, req, w);
      break;
    case Route::other:
    case Route::count_:
      break;
  }
  throw api::Error::not_found("Unknown request URL: " + req.method + " " + std::string(req.path()) +
                                  ". Please check the URL for typos.",
                              "unknown_url");
}

// The model the client named and (dashboard.show_content) its last user message, from the body. Only
// bodies up to 64 KiB are parsed a second time (a few µs); the dashboard shows larger ones without them.
void read_body_fields(const http::Request& req, bool content, RequestRecord& r) {
  if (req.body.empty() || req.body.size() > (64u << 10)) return;
  boost::system::error_code ec;
  auto v = boost::json::parse(req.body, ec);
  if (ec || !v.is_object()) return;
  const auto& o = v.get_object();
  if (auto* m = o.if_contains("model"); m && m->is_string()) r.model = m->get_string();
  if (!content) return;
  if (auto* msgs = o.if_contains("messages"); msgs && msgs->is_array()) {
    for (const auto& m : msgs->get_array()) {
      if (!m.is_object()) continue;
      auto* role = m.get_object().if_contains("role");
      auto* text = m.get_object().if_contains("content");
      if (role && role->is_string() && role->get_string() == "user" && text && text->is_string())
        r.content = text->get_string();
    }
  } else if (auto* p = o.if_contains("prompt"); p && p->is_string()) {
    r.content = p->get_string();
  }
}

void remember(State& s, RequestRecord r, const http::Request& req, RecordingWriter& w, int status, double secs,
              double first_byte, const pipeline::Tenant* tenant, const std::optional<api::Error>& failure) {
  r.unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
                  .count();
  r.method = req.method;
  r.path = std::string(req.path());
  r.tenant = tenant ? tenant->name : "-";
  r.status = status;
  r.stream = w.stream();
  r.total_ms = secs * 1000;
  r.first_byte_ms = first_byte * 1000;
  r.server_timing = std::move(w.server_timing);
  r.kuai = std::move(w.kuai);
  if (failure) r.error = failure->what();
  s.recent_requests->add(std::move(r));
}

net::awaitable<void> handle(State& s, http::Request& req, http::ResponseWriter& inner) {
  auto t0 = Clock::now();
  Route route = route_of(req.path());
  if (route == Route::other && req.path() == "/v1/chat/ws") route = Route::websocket;
  s.request_metrics->started(route);
  const bool record = s.recent_requests && route != Route::dashboard && route != Route::metrics && route != Route::healthz;
  RecordingWriter w(inner, t0, record);
  RequestRecord record_fields;  // read before the handler takes the body
  if (record) read_body_fields(req, s.dashboard.show_content, record_fields);
  std::optional<api::Error> failure;
  int status = 0;
  const pipeline::Tenant* tenant = nullptr;
  try {
    status = co_await dispatch(s, route, tenant, req, w);
  } catch (...) {
    failure = error_of(std::current_exception(), req.method + " " + req.target);
  }
  if (failure) {
    status = failure->status();
    if (!w.started()) {
      std::string body = failure->body();
      http::Headers headers;
      add_error_headers(headers, *failure);
      co_await w.send(status, "application/json", std::move(body), headers);
    }
  }
  if (status == 0) status = w.status();
  const auto end = Clock::now();
  double secs = std::chrono::duration<double>(end - t0).count();
  s.request_metrics->finished(route, status, secs, w.first_byte_seconds(end));
  if (record) remember(s, std::move(record_fields), req, w, status, secs, w.first_byte_seconds(end), tenant, failure);
  if (s.access_log) {
    std::string_view who = tenant ? std::string_view(tenant->name) : std::string_view("-");
    if (failure) {
      spdlog::info("{} {} {} {:.3f}ms tenant={} error=\"{}\"", req.method, req.path(), status, secs * 1000, who,
                   failure->what());
    } else {
      spdlog::info("{} {} {} {:.3f}ms tenant={}", req.method, req.path(), status, secs * 1000, who);
    }
  }
}

}  // namespace

Gateway::Gateway() : state_(std::make_unique<State>()) {}

Gateway::~Gateway() {
  if (!state_) return;
  // Pending coroutines (a request cut by the drain timeout) are destroyed while the pipeline and the
  // dispatcher they use still exist; then the objects owning sockets go before the io_context.
  if (state_->workers) state_->workers->stop();  // lines held go back to the queue
  if (state_->webhooks) state_->webhooks->stop();
  if (state_->server) state_->server->shutdown_io();
  state_->webhooks.reset();
  state_->workers.reset();
  state_->job_executor.reset();
  state_->pipeline.reset();
  state_->dispatcher.reset();
  state_->server.reset();
}

std::variant<std::unique_ptr<Gateway>, std::string> Gateway::create(const config::Config& cfg,
                                                                    const pipeline::StageRegistry& stages,
                                                                    const TokenCounterFactory& tokens, Role role) {
  // Every key typed and range-checked before anything starts; stages registered from outside the
  // built-in set check their own keys.
  std::vector<std::string> free_subtrees;
  static const std::set<std::string> kBuiltin{"cache", "route", "extract", "slim", "window", "summarize"};
  for (const auto& name : stages.names())
    if (!kBuiltin.count(name)) free_subtrees.push_back("stages." + name);
  if (auto err = config::validate(cfg, free_subtrees)) return "config: " + *err;
  std::unique_ptr<Gateway> gw(new Gateway());
  State& s = *gw->state_;
  s.config = cfg;
  http::ServerOptions opts;
  opts.host = cfg.get<std::string>("server.host", opts.host);
  int port = cfg.get<int>("server.port", opts.port);
  if (port < 0 || port > 65535) return std::string("config 'server.port' must be 0..65535");
  opts.port = static_cast<uint16_t>(port);
  opts.io_threads = cfg.get<int>("server.io_threads", opts.io_threads);
  int64_t max_body = cfg.get<int64_t>("server.max_body_bytes", static_cast<int64_t>(opts.max_body_bytes));
  if (max_body <= 0) return std::string("config 'server.max_body_bytes' must be positive");
  opts.max_body_bytes = static_cast<size_t>(max_body);
  opts.header_timeout_ms = cfg.get<int>("server.header_timeout_ms", opts.header_timeout_ms);
  opts.idle_timeout_ms = cfg.get<int>("server.idle_timeout_ms", opts.idle_timeout_ms);
  opts.body_timeout_ms = cfg.get<int>("server.body_timeout_ms", opts.body_timeout_ms);
  opts.drain_timeout_ms = cfg.get<int>("server.drain_timeout_ms", opts.drain_timeout_ms);
  opts.ws_idle_timeout_ms = cfg.get<int>("server.ws_idle_timeout_ms", opts.ws_idle_timeout_ms);
  if (opts.header_timeout_ms <= 0 || opts.idle_timeout_ms <= 0 || opts.body_timeout_ms <= 0 || opts.drain_timeout_ms < 0)
    return std::string("config 'server.*_timeout_ms' must be positive");
  auto job_opts = jobs::options_from_config(cfg);
  if (auto* err = std::get_if<std::string>(&job_opts)) return *err;
  s.job_options = std::get<jobs::Options>(job_opts);
  // An upload is bounded by jobs.max_file_bytes, not by server.max_body_bytes (plus room for the
  // multipart framing around the file).
  if (s.job_options.enabled())
    opts.body_limit_by_path["/v1/files"] = static_cast<size_t>(s.job_options.max_file_bytes) + (64u << 10);
  s.fallback_model = cfg.get<std::string>("server.fallback_model", "");
  s.dashboard = DashboardOptions::from_config(cfg);
  if (s.dashboard.enabled) s.recent_requests = std::make_unique<RecentRequests>(s.dashboard.max_requests);
  s.access_log = cfg.get<bool>("server.access_log", true);

  if (auto err = TenantTable::from_config(cfg, s.tenants)) return *err;

  State* sp = &s;
  s.server = std::make_unique<http::Server>(opts, [sp](http::Request& req, http::ResponseWriter& w) {
    return handle(*sp, req, w);
  });
  s.server->set_error_formatter(openai_error_reply);  // the HTTP layer's own errors, as OpenAI bodies
  s.server->set_websocket({"/v1/chat/ws"}, [sp](http::Request& req, http::WebSocket& ws) {
    return handle_chat_websocket(*sp, req, ws);
  });

  auto disp = upstream::Dispatcher::from_config(s.config, s.server->executor(), &s.metrics);
  if (auto* err = std::get_if<std::string>(&disp)) return *err;
  s.dispatcher = std::move(std::get<std::unique_ptr<upstream::Dispatcher>>(disp));
  // Embedded-engine models (engine.models, `kuai serve --model`): LocalBackends in the same dispatcher.
  if (auto err = upstream::add_local_models(s.config, *s.dispatcher, &s.metrics)) return *err;
  for (auto& name : s.dispatcher->model_names()) s.known_models.insert(name);
  if (!s.fallback_model.empty() && !s.known_models.count(s.fallback_model))
    return "config 'server.fallback_model' names '" + s.fallback_model + "', which is not in 'models'";

  s.services.executor = s.server->executor();
  s.services.config = &s.config;
  s.services.metrics = &s.metrics;
  s.model_caller = std::make_unique<DispatcherModelCaller>(*s.dispatcher);
  s.services.models = s.model_caller.get();
  if (tokens) {
    std::string error;
    s.token_counter = tokens(s.config, error);
    if (!s.token_counter) return "stages.window.tokenizers: " + error;
    s.services.tokens = s.token_counter.get();
  }
  auto built = pipeline::build_pipeline(s.config, s.services, stages);
  if (auto* err = std::get_if<std::string>(&built)) return *err;
  s.pipeline = std::make_unique<pipeline::Pipeline>(std::move(std::get<pipeline::Pipeline>(built)));
  s.request_metrics = std::make_unique<RequestMetrics>(s.metrics);

  if (role == Role::worker && !s.job_options.enabled() && !s.job_options.amqp())
    return std::string("kuai worker needs jobs.dir (the gateway's job store) or jobs.queue: amqp://… (RabbitMQ)");
  if (s.job_options.amqp() && role == Role::serve && !s.job_options.enabled())
    return std::string("config 'jobs.queue' is RabbitMQ: the gateway also needs jobs.dir (its job store)");
  if (s.job_options.enabled() || role == Role::worker) {
    if (s.job_options.enabled() && (role == Role::serve || !s.job_options.amqp())) {  // an AMQP worker has no store
      auto store = jobs::Store::open(s.job_options.dir);
      if (auto* err = std::get_if<std::string>(&store)) return *err;
      s.job_store = std::move(std::get<std::unique_ptr<jobs::Store>>(store));
    }
    s.job_executor = make_job_executor(s);
    auto queue = jobs::make_queue(role == Role::serve ? jobs::Role::serve : jobs::Role::worker, s.job_options,
                                  s.job_store.get(), *s.job_executor, s.server->executor(), &s.metrics);
    if (auto* err = std::get_if<std::string>(&queue)) return *err;
    s.workers = std::move(std::get<std::unique_ptr<jobs::Queue>>(queue));
    if (role == Role::serve) {
      auto hook_opts = jobs::webhook_options_from_config(s.config);
      if (auto* err = std::get_if<std::string>(&hook_opts)) return *err;
      auto hooks = jobs::WebhookSender::create(*s.job_store, s.server->executor(),
                                               std::move(std::get<jobs::WebhookOptions>(hook_opts)), &s.metrics);
      if (auto* err = std::get_if<std::string>(&hooks)) return *err;
      s.webhooks = std::move(std::get<std::unique_ptr<jobs::WebhookSender>>(hooks));
      s.workers->on_final([w = s.webhooks.get()] { w->notify(); });
      s.webhooks->start();
    }
    s.workers->start();
  }
  // Flows: every one validated now (references, cycles, models), so a bad flow stops the start.
  auto lib = flows::FlowLibrary::load(s.config.at("flows"), s.config.file(),
                                      [sp](std::string_view m) { return sp->known_models.count(std::string(m)) > 0; });
  if (auto* err = std::get_if<std::string>(&lib)) return *err;
  s.flows = std::move(std::get<flows::FlowLibrary>(lib));
  s.flow_runs.set_capacity(static_cast<size_t>(s.config.get<int>("flows.max_stored_runs", 100)));
  return gw;
}

std::optional<std::string> Gateway::listen() { return state_->server->listen(); }
uint16_t Gateway::port() const { return state_->server->port(); }
std::string Gateway::host() const { return state_->server->options().host; }
void Gateway::run() { state_->server->run(); }
void Gateway::stop() {
  state_->stopping = true;
  state_->server->stop();
}

bool Gateway::has_model(std::string_view public_name) const {
  return state_->known_models.count(std::string(public_name)) > 0;
}

const flows::Flow* Gateway::find_flow(std::string_view name) const { return state_->flows.find(name); }

std::optional<flows::RunResult> Gateway::run_flow(const flows::Flow& flow, boost::json::object inputs,
                                                  flows::EventFn on_event) {
  State& s = *state_;
  pipeline::Tenant tenant;
  tenant.name = "cli";
  PipelineStepCaller caller(s, tenant);
  std::optional<flows::RunResult> out;
  std::exception_ptr error;
  auto body = [&]() -> net::awaitable<void> {
    flows::FlowRun run(flow, std::move(inputs), caller, std::move(on_event));
    out = co_await run.execute();
  };
  net::co_spawn(s.server->executor(), body(), [&](std::exception_ptr e) {
    error = e;
    s.server->stop();
  });
  s.server->run();
  s.server->shutdown_io();
  if (error) std::rethrow_exception(error);
  return out;
}

void Gateway::run_worker() {
  State& s = *state_;
  auto ex = s.server->executor();
  // Outstanding work until the queue has drained: an idle RabbitMQ worker has no coroutine waiting.
  net::any_io_executor work = net::prefer(ex, net::execution::outstanding_work.tracked);
  net::signal_set signals(ex, SIGINT, SIGTERM);
  signals.async_wait([&s](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    s.stopping = true;
    spdlog::info("signal {}: taking no more job lines; running ones get {} ms (jobs.stop_grace_ms)", sig,
                 s.job_options.stop_grace_ms);
    s.workers->drain(std::chrono::milliseconds(s.job_options.stop_grace_ms), [&s] { s.server->stop(); });
  });
  s.server->run();
  work = net::any_io_executor();
}

void Gateway::stop_on_signals() {
  State* s = state_.get();
  state_->server->stop_on_signals({SIGINT, SIGTERM}, [s](int sig) {
    s->stopping = true;
    spdlog::info("signal {}: stopping (finishing in-flight requests)", sig);
  });
}

}  // namespace kuai::server
