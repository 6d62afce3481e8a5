// /v1/flows: GET lists the configured flows; POST /v1/flows/{name}/runs runs one (POST /v1/flows/runs
// runs a flow given in the body); GET /v1/flows/runs/{id} returns a finished run. A run answers its
// outputs with the per-step trace and Server-Timing (critical path, sum of step times, total), or with
// `stream: true` SSE events step.started, step.delta, step.completed, run.completed. A streaming client
// that goes away cancels the run's calls. `background: true` queues the run as a job (202 with a
// flow.run.job; GET /v1/flows/jobs/{id}, …/events with the same step events, …/cancel).
#include "api/error.h"
#include "flows/executor.h"
#include "server/flow_caller.h"
#include "server/gateway_state.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <yaml-cpp/yaml.h>

#include <deque>

namespace kuai::server {
namespace net = boost::asio;
namespace json = boost::json;

namespace {

struct RunRequest {
  std::shared_ptr<const flows::Flow> flow;
  json::object inputs;
  bool stream = false;
  bool background = false;
  json::object body;  // the request as sent, for a background run's job
};

std::shared_ptr<const flows::Flow> inline_flow(const State& s, const json::value& spec) {
  // JSON is YAML: an object parses as it is; a string holds the YAML text (its lines name errors).
  std::string yaml = spec.is_string() ? std::string(spec.get_string()) : json::serialize(spec);
  YAML::Node node;
  try {
    node = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    throw api::Error::bad_request("'flow' is not valid YAML (line " + std::to_string(e.mark.line + 1) + "): " + e.msg,
                                  "flow");
  }
  std::string name = node.IsMap() && node["name"] ? node["name"].as<std::string>() : "inline";
  auto parsed = flows::parse_flow(name, node, "flow", [&](std::string_view m) { return s.known_models.count(std::string(m)) > 0; });
  if (auto* err = std::get_if<std::string>(&parsed)) throw api::Error::bad_request(*err, "flow");
  return std::make_shared<const flows::Flow>(std::get<flows::Flow>(std::move(parsed)));
}

RunRequest parse_run_request(const State& s, std::string_view name, const std::string& body) {
  boost::system::error_code ec;
  json::value v = body.empty() ? json::value(json::object{}) : json::parse(body, ec);
  if (ec || !v.is_object()) throw api::Error::bad_request("the body must be a JSON object {inputs, stream}");
  const json::object& o = v.get_object();
  for (const auto& kv : o) {
    std::string_view k = kv.key();
    if (k != "inputs" && k != "stream" && k != "background" && k != "flow" && k != "metadata")
      throw api::Error::bad_request("unknown field '" + std::string(k) + "' (a run takes inputs, stream, background, metadata)",
                                    std::string(k));
  }
  RunRequest r;
  if (auto* b = o.if_contains("background")) {
    if (!b->is_bool()) throw api::Error::bad_request("'background' must be true or false", "background");
    r.background = b->get_bool();
  }
  if (auto* m = o.if_contains("metadata"); m && !m->is_object())
    throw api::Error::bad_request("'metadata' must be an object", "metadata");
  if (name.empty()) {
    auto* f = o.if_contains("flow");
    if (!f) throw api::Error::bad_request("POST /v1/flows/runs needs a 'flow' (YAML text or an object)", "flow");
    r.flow = inline_flow(s, *f);
  } else {
    if (o.contains("flow")) throw api::Error::bad_request("'flow' is only for POST /v1/flows/runs", "flow");
    const flows::Flow* f = s.flows.find(name);
    if (!f) throw api::Error::not_found("flow '" + std::string(name) + "' does not exist (GET /v1/flows lists them)",
                                        "flow_not_found");
    r.flow = std::shared_ptr<const flows::Flow>(std::shared_ptr<const flows::Flow>{}, f);  // owned by the library
  }
  if (auto* in = o.if_contains("inputs")) {
    if (!in->is_object()) throw api::Error::bad_request("'inputs' must be an object {name: value}", "inputs");
    r.inputs = in->get_object();
  }
  if (auto* st = o.if_contains("stream")) {
    if (!st->is_bool()) throw api::Error::bad_request("'stream' must be true or false", "stream");
    r.stream = st->get_bool();
  }
  if (auto err = flows::check_inputs(*r.flow, r.inputs)) throw api::Error::bad_request(*err, "inputs");
  if (r.background && r.stream)
    throw api::Error::bad_request("a background run is not streamed: read GET /v1/flows/jobs/{id}/events", "stream");
  r.body = o;
  r.body.erase("background");
  return r;
}

std::string run_timing(const flows::RunResult& r) {
  std::string st;
  pipeline::append_server_timing(st, "flow-critical-path", r.critical_path_ms);
  pipeline::append_server_timing(st, "flow-steps-sum", r.sum_steps_ms);
  pipeline::append_server_timing(st, "total", r.wall_ms);
  return st;
}

std::string sse(std::string_view type, const json::object& data) {
  std::string out = "event: ";
  out += type;
  out += "\ndata: ";
  out += json::serialize(data);
  out += "\n\n";
  return out;
}

// A step event as JSON; its "type" is the SSE event name.
json::object event_json(const flows::Event& e) {
  const flows::StepTrace& st = *e.step;
  switch (e.type) {
    case flows::Event::Type::step_started:
      return {{"type", "step.started"}, {"step", st.name}, {"kind", st.kind}, {"start_ms", st.start_ms}};
    case flows::Event::Type::step_delta: {
      json::object o{{"type", "step.delta"}, {"step", st.name}, {"delta", e.delta}};
      if (e.item >= 0) o["item"] = e.item;
      return o;
    }
    case flows::Event::Type::step_completed: {
      json::object o{{"type", "step.completed"}, {"step", st.name},   {"status", st.status},
                     {"start_ms", st.start_ms},  {"end_ms", st.end_ms}, {"prompt_tokens", st.prompt_tokens},
                     {"completion_tokens", st.completion_tokens}};
      if (st.items >= 0) o["items"] = st.items;
      if (!st.error.empty()) o["error"] = st.error;
      return o;
    }
  }
  return {};
}

std::string event_text(const flows::Event& e) {
  json::object o = event_json(e);
  std::string type(o.at("type").as_string());
  return sse(type, o);
}

// What a streaming run shares with the coroutine that writes its events.
struct StreamState {
  explicit StreamState(const net::any_io_executor& ex) : wake(ex) {}
  std::deque<std::string> events;
  net::steady_timer wake;
  bool done = false;
  std::optional<flows::RunResult> result;
  std::exception_ptr error;
};

net::awaitable<int> run_streaming(State& s, RunRequest& rr, std::shared_ptr<flows::StepCaller> caller,
                                  http::ResponseWriter& w) {
  auto ex = co_await net::this_coro::executor;
  auto ss = std::make_shared<StreamState>(ex);
  auto run = std::make_shared<flows::FlowRun>(*rr.flow, std::move(rr.inputs), *caller, [ss](const flows::Event& e) {
    ss->events.push_back(event_text(e));
    ss->wake.cancel();
  });
  net::co_spawn(ex, run->execute(),
                [ss, run, caller, flow = rr.flow](std::exception_ptr e, flows::RunResult r) {
                  if (e) ss->error = e;
                  else ss->result = std::move(r);
                  ss->done = true;
                  ss->wake.cancel();
                });
  http::Headers headers{{"x-accel-buffering", "no"}};
  bool gone = !co_await w.begin_stream(200, "text/event-stream", headers, "Server-Timing");
  if (gone) run->cancel();
  while (true) {
    while (!ss->events.empty()) {
      std::string ev = std::move(ss->events.front());
      ss->events.pop_front();
      if (!gone && !co_await w.write(ev)) {
        gone = true;
        run->cancel();  // the client went away: cancel the running calls
      }
    }
    if (ss->done) break;
    ss->wake.expires_at(std::chrono::steady_clock::time_point::max());
    boost::system::error_code ec;
    co_await ss->wake.async_wait(net::redirect_error(net::use_awaitable, ec));
  }
  if (ss->error) std::rethrow_exception(ss->error);
  flows::RunResult& r = *ss->result;
  json::object body = r.to_json();
  std::string text = json::serialize(body);
  s.flow_runs.put(r.id, text);
  if (gone) co_return 499;
  json::object done = std::move(body);
  done["type"] = "run.completed";
  std::string last = sse("run.completed", done);
  if (!co_await w.write(last)) co_return 499;
  http::Headers trailers{{"Server-Timing", run_timing(r)}};
  co_await w.end_stream(trailers);
  co_return 200;
}

net::awaitable<int> run_flow(State& s, const pipeline::Tenant& tenant, std::string_view name, http::Request& req,
                             http::ResponseWriter& w) {
  require_method(req, "POST");
  require_json(req);
  RunRequest rr = parse_run_request(s, name, req.body);
  if (rr.background) co_return co_await handle_background_flow(s, tenant, std::string(name), std::move(rr.body), w);
  auto caller = std::make_shared<PipelineStepCaller>(s, tenant);
  if (rr.stream) co_return co_await run_streaming(s, rr, caller, w);
  flows::FlowRun run(*rr.flow, std::move(rr.inputs), *caller);
  flows::RunResult r = co_await run.execute();
  std::string text = json::serialize(r.to_json());
  s.flow_runs.put(r.id, text);
  http::Headers headers{{"Server-Timing", run_timing(r)}, {"x-kuai-flow-status", r.status}};
  co_await w.send(200, "application/json", std::move(text), headers);
  co_return 200;
}

net::awaitable<int> list_flows(State& s, http::ResponseWriter& w) {
  json::array data;
  for (const flows::Flow* f : s.flows.all()) {
    json::array inputs, steps;
    for (const auto& i : f->inputs) inputs.emplace_back(json::string(i));
    for (const auto& st : f->steps) steps.emplace_back(json::string(st.name));
    data.push_back(json::object{{"id", f->name}, {"object", "flow"}, {"description", f->description},
                                {"inputs", std::move(inputs)}, {"steps", std::move(steps)}, {"file", f->file}});
  }
  std::string body = json::serialize(json::object{{"object", "list"}, {"data", std::move(data)}});
  co_await w.send(200, "application/json", std::move(body), http::Headers{});
  co_return 200;
}

}  // namespace

net::awaitable<std::string> run_flow_job(State& s, const pipeline::Tenant& tenant, const std::string& body,
                                         jobs::EventSink* events) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) throw api::Error::bad_request("a flow job's request is not a JSON object");
  json::object o = std::move(v.as_object());
  std::string name = o.contains("name") && o.at("name").is_string() ? std::string(o.at("name").as_string()) : "";
  o.erase("name");
  RunRequest rr = parse_run_request(s, name, json::serialize(o));
  PipelineStepCaller caller(s, tenant);
  flows::FlowRun* self = nullptr;
  flows::FlowRun run(*rr.flow, std::move(rr.inputs), caller, [&self, events](const flows::Event& e) {
    // A cancelled job (or a lost store) says so at its next event: the run's calls stop.
    if (events && !events->chunk(json::serialize(event_json(e))) && self) self->cancel();
  });
  self = &run;
  flows::RunResult r = co_await run.execute();
  std::string text = json::serialize(r.to_json());
  s.flow_runs.put(r.id, text);
  co_return text;
}

net::awaitable<int> handle_flows(State& s, const pipeline::Tenant& tenant, http::Request& req, http::ResponseWriter& w) {
  std::string_view path = req.path();
  std::string_view rest = path.substr(std::string_view("/v1/flows").size());
  if (rest.empty() || rest == "/") {
    require_method(req, "GET");
    co_return co_await list_flows(s, w);
  }
  rest.remove_prefix(1);
  if (rest == "runs") co_return co_await run_flow(s, tenant, "", req, w);
  if (rest.substr(0, 5) == "jobs/") co_return co_await handle_chat_jobs(s, tenant, req, w, "/v1/flows/jobs");
  if (rest.substr(0, 5) == "runs/") {
    require_method(req, "GET");
    auto run = s.flow_runs.get(rest.substr(5));
    if (!run) throw api::Error::not_found("flow run '" + std::string(rest.substr(5)) + "' is not stored (finished runs are kept in memory, newest flows.max_stored_runs)", "run_not_found");
    co_await w.send(200, "application/json", std::move(*run), http::Headers{});
    co_return 200;
  }
  auto slash = rest.find('/');
  if (slash != std::string_view::npos && rest.substr(slash) == "/runs")
    co_return co_await run_flow(s, tenant, rest.substr(0, slash), req, w);
  throw api::Error::not_found("Unknown request URL: " + req.method + " " + std::string(path) +
                                  " (flows: GET /v1/flows, POST /v1/flows/{name}/runs, GET /v1/flows/runs/{id}, GET /v1/flows/jobs/{id})",
                              "unknown_url");
}

}  // namespace kuai::server
