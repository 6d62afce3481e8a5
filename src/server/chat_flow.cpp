// Chat completions (and legacy completions) end to end: auth → parse → Pipeline::run_request →
// (stage answer | Dispatcher complete/stream) → response, over plain HTTP, SSE or WebSocket.
// Server-Timing: stage timings (+ upstream time to first byte) as a header before the first byte;
// the full set (+ upstream, total) as a trailer on streams and in the WebSocket final message.
#include "api/error.h"
#include "api/parse.h"
#include "api/request_id.h"
#include "api/stream.h"
#include "server/error_wall.h"
#include "server/gateway_state.h"

#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>

#include <chrono>

namespace kuai::server {
namespace net = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

enum class Format { chat, completion };

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Stage timings, then `upstream` (when >= 0), then `total` (when asked).
std::string server_timing(const pipeline::Context& ctx, double upstream_ms, bool total,
                          const char* upstream_desc = nullptr) {
  std::string st = ctx.trace.server_timing();
  if (upstream_ms >= 0) pipeline::append_server_timing(st, "upstream", upstream_ms, upstream_desc ? upstream_desc : "");
  if (total) pipeline::append_server_timing(st, "total", ms_since(ctx.trace.started));
  return st;
}

http::Headers response_headers(const pipeline::Context& ctx, std::string timing) {
  http::Headers h;
  h.reserve(3 + ctx.response_headers.size());
  h.emplace_back("Server-Timing", std::move(timing));
  h.emplace_back("x-request-id", ctx.request_id);
  h.emplace_back("x-kuai-tokens-saved", std::to_string(ctx.tokens_saved));
  for (const auto& kv : ctx.response_headers) h.push_back(kv);
  return h;
}

// A stage's answer may leave the envelope empty; give it the request's.
void fill_answer(const pipeline::Context& ctx, api::ChatResponse& r) {
  if (r.id.empty()) r.id = ctx.request_id;
  if (r.model.empty()) r.model = ctx.request.model;
  if (r.created == 0) r.created = api::unix_now();
  if (r.choices.empty()) r.choices.emplace_back();
}

// Where a chat stream goes: SSE over HTTP, or WebSocket messages.
class ChunkOut {
 public:
  virtual ~ChunkOut() = default;
  // One chunk's JSON; the first call opens the stream. False when the client is gone.
  virtual net::awaitable<bool> chunk(std::string_view json) = 0;
  // After the last chunk: [DONE] and trailers, or the final WebSocket message.
  virtual net::awaitable<void> done() = 0;
  // An error after the stream started (before it, the caller answers a plain error).
  virtual net::awaitable<void> error(const api::Error& e) = 0;
  virtual bool started() const = 0;

  Clock::time_point upstream_started{};  // set when the dispatcher is called
  double upstream_first_ms = -1;         // time to the first upstream chunk
};

class SseOut final : public ChunkOut {
 public:
  SseOut(http::ResponseWriter& w, pipeline::Context& ctx) : w_(w), ctx_(ctx) {}

  net::awaitable<bool> chunk(std::string_view json) override {
    if (!w_.started()) {
      if (upstream_started != Clock::time_point{}) upstream_first_ms = ms_since(upstream_started);
      auto headers = response_headers(ctx_, server_timing(ctx_, upstream_first_ms, false, "first byte"));
      headers.emplace_back("x-accel-buffering", "no");
      if (!co_await w_.begin_stream(200, "text/event-stream", headers, "Server-Timing")) co_return false;
    }
    std::string ev;
    ev.reserve(json.size() + 8);
    ev += "data: ";
    ev += json;
    ev += "\n\n";
    co_return co_await w_.write(ev);
  }

  net::awaitable<void> done() override {
    if (!w_.started() && !co_await chunk_open()) co_return;
    if (!co_await w_.write(api::kSseDone)) co_return;
    double up = upstream_started != Clock::time_point{} ? ms_since(upstream_started) : -1;
    http::Headers trailers;
    trailers.emplace_back("Server-Timing", server_timing(ctx_, up, true));
    co_await w_.end_stream(trailers);
  }

  net::awaitable<void> error(const api::Error& e) override {
    if (!w_.started() && !co_await chunk_open()) co_return;
    std::string event = api::sse_event(e.body());
    if (!co_await w_.write(event)) co_return;
    http::Headers trailers;
    trailers.emplace_back("Server-Timing", server_timing(ctx_, -1, true));
    co_await w_.end_stream(trailers);
  }

  bool started() const override { return w_.started(); }

 private:
  net::awaitable<bool> chunk_open() {
    auto headers = response_headers(ctx_, server_timing(ctx_, -1, false));
    co_return co_await w_.begin_stream(200, "text/event-stream", headers, "Server-Timing");
  }

  http::ResponseWriter& w_;
  pipeline::Context& ctx_;
};

class WsOut final : public ChunkOut {
 public:
  WsOut(http::WebSocket& ws, pipeline::Context& ctx) : ws_(ws), ctx_(ctx) {}

  net::awaitable<bool> chunk(std::string_view json) override {
    if (!started_ && upstream_started != Clock::time_point{}) upstream_first_ms = ms_since(upstream_started);
    started_ = true;
    co_return co_await ws_.write(json);
  }

  net::awaitable<void> done() override {
    double up = upstream_started != Clock::time_point{} ? ms_since(upstream_started) : -1;
    boost::json::object headers;
    for (const auto& [k, v] : ctx_.response_headers) headers[k] = v;
    boost::json::object msg{{"object", "kuai.done"},
                            {"id", ctx_.request_id},
                            {"server_timing", server_timing(ctx_, up, true)},
                            {"tokens_saved", ctx_.tokens_saved},
                            {"headers", std::move(headers)}};
    std::string text = boost::json::serialize(msg);
    co_await ws_.write(text);
  }

  net::awaitable<void> error(const api::Error& e) override {
    std::string body = e.body();
    co_await ws_.write(body);
  }
  bool started() const override { return started_; }

 private:
  http::WebSocket& ws_;
  pipeline::Context& ctx_;
  bool started_ = false;
};

// Forwards upstream chunks to the client (converted for legacy completions) and assembles the answer.
class ForwardSink final : public upstream::ChunkSink {
 public:
  ForwardSink(ChunkOut& out, Format fmt, const pipeline::Context& ctx) : out_(out), fmt_(fmt), ctx_(ctx) {}

  net::awaitable<bool> on_chunk(const api::ChatChunk& c) override {
    if (gone_) co_return false;
    assembler_.add(c);
    bool ok = true;
    if (fmt_ == Format::chat) {
      ok = co_await out_.chunk(c.json);
    } else if (!c.delta.empty() || c.finish_reason) {
      std::string json = api::completion_chunk_json(ctx_.request_id, ctx_.request.model, created_, c.delta,
                                                    c.finish_reason);
      ok = co_await out_.chunk(json);
    }
    if (!ok) gone_ = true;
    co_return ok;
  }

  bool gone() const { return gone_; }
  api::ResponseAssembler& assembler() { return assembler_; }
  int64_t created() const { return created_; }

 private:
  ChunkOut& out_;
  Format fmt_;
  const pipeline::Context& ctx_;
  api::ResponseAssembler assembler_;
  int64_t created_ = api::unix_now();
  bool gone_ = false;
};

std::string chunk_for(Format fmt, const api::ChatChunk& c, const api::ChatResponse& r) {
  if (fmt == Format::chat) return c.json;
  return api::completion_chunk_json(r.id, r.model, r.created, c.delta, c.finish_reason);
}

// Picks the model to dispatch to, and lets the client's own bytes go upstream when nothing could have
// changed them: no stage ran, the model is the one the client named, and (non-streaming) no
// stream_options that the backend would have to drop. Saves a serialisation per request.
void route_model(const State& s, pipeline::Context& ctx) {
  const std::string& m = dispatch_model(s, ctx.request.model);
  bool same_model = &m == &ctx.request.model;
  if (!same_model) ctx.request.model = m;
  if (same_model && !ctx.request_body.empty() && ctx.trace.stages.empty() &&
      (ctx.request.stream || !ctx.request.raw.contains("stream_options"))) {
    ctx.request.wire_body = std::move(ctx.request_body);
    ctx.request.forward_answer_bytes = true;  // no stage ran: no on_response hook reads the answer
  }
}

// Streams one request to `out`. Throws api::Error when nothing was sent yet. Returns false when the
// client went away.
// `final_answer`, when given, receives the complete answer (a stage's, or the assembled stream).
net::awaitable<bool> run_stream(State& s, pipeline::Context& ctx, ChunkOut& out, Format fmt,
                                api::ChatResponse* final_answer = nullptr) {
  std::optional<api::ChatResponse> answer = co_await s.pipeline->run_request(ctx);
  if (answer) {  // a stage answered: replay it in the live format
    fill_answer(ctx, *answer);
    // (named locals, not temporaries, around co_await: GCC 12 coroutine temporaries are fragile)
    const std::vector<api::ChatChunk> chunks = api::replay_chunks(*answer, ctx.request.include_usage);
    for (const auto& c : chunks) {
      if (fmt == Format::completion && c.delta.empty() && !c.finish_reason) continue;
      std::string json = chunk_for(fmt, c, *answer);
      if (!co_await out.chunk(json)) co_return false;
    }
    co_await out.done();
    s.pipeline->run_response(ctx, *answer);
    if (final_answer) *final_answer = std::move(*answer);
    co_return true;
  }
  route_model(s, ctx);
  ForwardSink sink(out, fmt, ctx);
  out.upstream_started = Clock::now();
  std::optional<api::Error> failure;
  try {
    co_await s.dispatcher->stream(ctx.request, sink, &ctx.tenant);
  } catch (const api::Error& e) {
    failure = e;
  } catch (const std::exception& e) {
    failure = api::Error::bad_gateway(std::string("upstream stream failed: ") + e.what());
  }
  if (sink.gone()) co_return false;
  if (failure) {
    if (!out.started()) throw *failure;
    spdlog::warn("request {}: stream failed after the first chunk: {}", ctx.request_id, failure->what());
    co_await out.error(*failure);
    co_return true;
  }
  co_await out.done();
  // Only a stream that completed normally (a finish_reason arrived) feeds the on_response hooks.
  if (sink.assembler().finished()) {
    api::ChatResponse resp = sink.assembler().take(ctx.request_id, ctx.request.model, sink.created());
    s.pipeline->run_response(ctx, resp);
    if (final_answer) *final_answer = std::move(resp);
  } else if (final_answer) {
    throw api::Error::bad_gateway("the upstream stream ended without a finish_reason");
  }
  co_return true;
}

// A non-streaming answer: a stage's, or the dispatcher's (`upstream_ms` set, else -1).
net::awaitable<api::ChatResponse> complete_chat(State& s, pipeline::Context& ctx, double& upstream_ms) {
  std::optional<api::ChatResponse> answer = co_await s.pipeline->run_request(ctx);
  upstream_ms = -1;
  api::ChatResponse resp;
  if (answer) {
    resp = std::move(*answer);
    fill_answer(ctx, resp);
  } else {
    route_model(s, ctx);
    auto t0 = Clock::now();
    resp = co_await s.dispatcher->complete(ctx.request, &ctx.tenant);
    upstream_ms = ms_since(t0);
  }
  co_return resp;
}

net::awaitable<int> run_complete(State& s, pipeline::Context& ctx, http::ResponseWriter& w, Format fmt) {
  double upstream_ms = -1;
  api::ChatResponse resp = co_await complete_chat(s, ctx, upstream_ms);
  std::string body;
  if (fmt == Format::chat && upstream_ms >= 0 && !resp.wire_body.empty()) body = std::move(resp.wire_body);
  else if (fmt == Format::chat) body = boost::json::serialize(resp.to_json());
  else body = api::completion_json(resp);
  http::Headers headers = response_headers(ctx, server_timing(ctx, upstream_ms, true));
  co_await w.send(200, "application/json", std::move(body), headers);
  s.pipeline->run_response(ctx, resp);
  co_return w.client_gone() ? 499 : 200;
}

// The HTTP side of one chat request, with its own error wall (so errors carry Server-Timing).
net::awaitable<int> run_http(State& s, pipeline::Context& ctx, http::ResponseWriter& w, Format fmt) {
  std::optional<api::Error> failure;
  int status = 200;
  try {
    if (ctx.request.stream) {
      SseOut out(w, ctx);
      bool stayed = co_await run_stream(s, ctx, out, fmt);
      status = stayed ? 200 : 499;
    } else {
      status = co_await run_complete(s, ctx, w, fmt);
    }
  } catch (...) {
    failure = error_of(std::current_exception(), ctx.request_id);
  }
  if (!failure) co_return status;
  if (!w.started()) {
    http::Headers headers = response_headers(ctx, server_timing(ctx, -1, true));
    add_error_headers(headers, *failure);
    std::string body = failure->body();
    co_await w.send(failure->status(), "application/json", std::move(body), headers);
    co_return failure->status();
  }
  // Already streaming: an error event, then the end of the stream (no [DONE]).
  std::string event = api::sse_event(failure->body());
  co_await w.write(event);
  co_await w.end_stream(http::Headers{});
  co_return failure->status();
}

pipeline::Context new_context(State& s, const pipeline::Tenant& tenant) {
  pipeline::Context ctx;
  ctx.tenant = tenant;
  ctx.services = &s.services;
  return ctx;
}

// A background job's stream: chunks go to the job's event sink; an error after the first chunk is kept
// for the caller to throw.
class JobOut final : public ChunkOut {
 public:
  explicit JobOut(jobs::EventSink& events) : events_(events) {}
  net::awaitable<bool> chunk(std::string_view json) override {
    started_ = true;
    co_return events_.chunk(json);
  }
  net::awaitable<void> done() override { co_return; }
  net::awaitable<void> error(const api::Error& e) override {
    failure = e;
    co_return;
  }
  bool started() const override { return started_; }
  std::optional<api::Error> failure;

 private:
  jobs::EventSink& events_;
  bool started_ = false;
};

}  // namespace

net::awaitable<std::string> run_chat_offline(State& s, pipeline::Context& ctx, bool legacy,
                                             jobs::EventSink* events) {
  Format fmt = legacy ? Format::completion : Format::chat;
  if (events) {
    ctx.request.stream = true;
    JobOut out(*events);
    api::ChatResponse answer;
    if (!co_await run_stream(s, ctx, out, fmt, &answer))
      throw api::Error(499, "invalid_request_error", "The job was cancelled.", "cancelled");
    if (out.failure) throw *out.failure;
    co_return boost::json::serialize(answer.to_json());
  }
  ctx.request.stream = false;
  double upstream_ms = -1;
  api::ChatResponse resp = co_await complete_chat(s, ctx, upstream_ms);
  s.pipeline->run_response(ctx, resp);
  if (legacy) co_return api::completion_json(resp);
  if (upstream_ms >= 0 && !resp.wire_body.empty()) co_return std::move(resp.wire_body);
  co_return boost::json::serialize(resp.to_json());
}

net::awaitable<int> handle_chat(State& s, const pipeline::Tenant& tenant, http::Request& req,
                                     http::ResponseWriter& w) {
  require_method(req, "POST");
  pipeline::Context ctx = new_context(s, tenant);
  require_json(req);
  ctx.request = api::parse_chat_request(req.body);
  if (const auto* bg = ctx.request.raw.if_contains("background")) {
    if (!bg->is_bool()) throw api::Error::bad_request("'background' must be true or false.", "background");
    if (bg->as_bool()) co_return co_await handle_background_chat(s, tenant, req, w);
  }
  ctx.request_body = std::move(req.body);
  ctx.request_id = api::new_request_id("chatcmpl-");
  co_return co_await run_http(s, ctx, w, Format::chat);
}

net::awaitable<int> handle_completions(State& s, const pipeline::Tenant& tenant, http::Request& req,
                                     http::ResponseWriter& w) {
  require_method(req, "POST");
  pipeline::Context ctx = new_context(s, tenant);
  require_json(req);
  ctx.request = api::chat_request_from_completion(api::parse_completion_request(req.body));
  ctx.request_id = api::new_request_id("cmpl-");
  co_return co_await run_http(s, ctx, w, Format::completion);
}

net::awaitable<void> handle_chat_websocket(State& s, http::Request& upgrade, http::WebSocket& ws) {
  // The key comes with the upgrade request: an Authorization header, or ?api_key= (browsers cannot
  // set headers on a WebSocket).
  std::string key_from_query;
  const std::string* auth = upgrade.header("authorization");
  if (!auth) {
    auto q = upgrade.target.find("api_key=");
    if (q != std::string::npos) {
      key_from_query = "Bearer " + upgrade.target.substr(q + 8, upgrade.target.find('&', q) - (q + 8));
      auth = &key_from_query;
    }
  }
  pipeline::Tenant tenant;
  std::optional<api::Error> denied;
  try {
    tenant = s.tenants.authenticate(auth);
  } catch (const api::Error& e) {
    denied = e;
  }
  if (denied) {
    std::string body = denied->body();
    co_await ws.write(body);
    co_return;
  }
  while (auto msg = co_await ws.read()) {
    auto t0 = Clock::now();
    s.request_metrics->started(Route::websocket);
    pipeline::Context ctx;
    ctx.tenant = tenant;
    ctx.services = &s.services;
    ctx.request_id = api::new_request_id("chatcmpl-");
    std::optional<api::Error> failure;
    bool stayed = true;
    WsOut out(ws, ctx);
    try {
      ctx.request = api::parse_chat_request(*msg);
      ctx.request.stream = true;
      stayed = co_await run_stream(s, ctx, out, Format::chat);
    } catch (...) {
      failure = error_of(std::current_exception(), ctx.request_id);
    }
    if (failure) co_await out.error(*failure);
    int status = failure ? failure->status() : (stayed ? 200 : 499);
    double secs = ms_since(t0) / 1000.0;
    s.request_metrics->finished(Route::websocket, status, secs, secs);  // no per-message first byte here
    if (s.access_log) {
      spdlog::info("WS {} {} {:.3f}ms tenant={} id={}", upgrade.path(), status, secs * 1000, ctx.tenant.name,
                   ctx.request_id);
    }
    if (!stayed) co_return;
  }
}

}  // namespace kuai::server
