#include "flows/executor.h"

#include "api/error.h"
#include "api/request_id.h"
#include "flows/chunk.h"
#include "flows/json_schema.h"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <deque>
#include <chrono>
#include <list>
#include <map>
#include <stdexcept>

namespace kuai::flows {
namespace net = boost::asio;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

// A step's failure (the message names what went wrong; the step is named by the caller).
struct StepFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

bool truthy(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n')) s.remove_suffix(1);
  std::string l(s);
  for (auto& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return !(l.empty() || l == "false" || l == "0" || l == "no" || l == "null" || l == "[]" || l == "{}");
}

// `a == b` / `a != b` compare rendered text; anything else is truthy text.
bool eval_when(const std::string& text) {
  for (std::string_view op : {"!=", "=="}) {
    auto p = text.find(op);
    if (p == std::string::npos) continue;
    auto strip = [](std::string_view s) {
      while (!s.empty() && (s.front() == ' ' || s.front() == '"' || s.front() == '\'')) s.remove_prefix(1);
      while (!s.empty() && (s.back() == ' ' || s.back() == '"' || s.back() == '\'' || s.back() == '\n')) s.remove_suffix(1);
      return std::string(s);
    };
    bool eq = strip(std::string_view(text).substr(0, p)) == strip(std::string_view(text).substr(p + 2));
    return op == "==" ? eq : !eq;
  }
  return truthy(text);
}

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace

std::optional<json::value> parse_json_answer(std::string_view text, std::string& error) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (!ec) return v;
  error = "not valid JSON: " + ec.message();
  auto fence = text.find("```");
  if (fence != std::string_view::npos) {
    auto body = text.find('\n', fence);
    auto end = body == std::string_view::npos ? body : text.find("```", body);
    if (end != std::string_view::npos) {
      v = json::parse(text.substr(body + 1, end - body - 1), ec);
      if (!ec) return v;
    }
  }
  auto first = text.find_first_of("{[");
  auto last = text.find_last_of("}]");
  if (first != std::string_view::npos && last != std::string_view::npos && last > first) {
    v = json::parse(text.substr(first, last - first + 1), ec);
    if (!ec) return v;
  }
  return std::nullopt;
}

std::optional<std::string> check_inputs(const Flow& flow, const json::object& inputs) {
  for (const auto& name : flow.inputs)
    if (!inputs.contains(name) && !flow.input_defaults.count(name)) return "flow '" + flow.name + "' needs input '" + name + "'";
  for (const auto& kv : inputs)
    if (std::find(flow.inputs.begin(), flow.inputs.end(), std::string(kv.key())) == flow.inputs.end())
      return "flow '" + flow.name + "' has no input '" + std::string(kv.key()) + "'";
  return std::nullopt;
}

void compute_path_times(const Flow& flow, RunResult& r) {
  std::vector<double> finish(flow.steps.size(), -1);
  std::function<double(size_t)> longest = [&](size_t i) -> double {
    if (finish[i] >= 0) return finish[i];
    double before = 0;
    for (const auto& d : flow.steps[i].deps) before = std::max(before, longest(static_cast<size_t>(flow.index_of(d))));
    return finish[i] = before + r.steps[i].duration_ms();
  };
  r.critical_path_ms = 0;
  r.sum_steps_ms = 0;
  for (size_t i = 0; i < flow.steps.size(); ++i) {
    r.critical_path_ms = std::max(r.critical_path_ms, longest(i));
    // A map step's calls one after another (what a sequential client would wait).
    double calls = 0;
    for (const auto& c : r.steps[i].calls) calls += c.end_ms - c.start_ms;
    r.sum_steps_ms += r.steps[i].items >= 0 ? calls : r.steps[i].duration_ms();
  }
}

json::object RunResult::to_json() const {
  json::array trace;
  for (const auto& s : steps) {
    json::object o{{"step", s.name}, {"kind", s.kind}, {"status", s.status}};
    if (s.start_ms >= 0) o["start_ms"] = s.start_ms;
    if (s.end_ms >= 0) o["end_ms"] = s.end_ms;
    if (s.items >= 0) o["items"] = s.items;
    o["prompt_tokens"] = s.prompt_tokens;
    o["completion_tokens"] = s.completion_tokens;
    if (!s.error.empty()) o["error"] = s.error;
    json::array calls;
    for (const auto& c : s.calls) {
      json::object co{{"start_ms", c.start_ms}, {"end_ms", c.end_ms}, {"attempts", c.attempts}, {"model", c.model},
                      {"prompt_tokens", c.prompt_tokens}, {"completion_tokens", c.completion_tokens}};
      if (c.item >= 0) co["item"] = c.item;
      if (!c.cache.empty()) co["cache"] = c.cache;
      if (!c.route.empty()) co["route"] = c.route;
      if (!c.error.empty()) co["error"] = c.error;
      calls.push_back(std::move(co));
    }
    if (!calls.empty()) o["calls"] = std::move(calls);
    trace.push_back(std::move(o));
  }
  json::object o{{"id", id}, {"object", "flow.run"}, {"flow", flow}, {"status", status}, {"outputs", outputs},
                 {"steps", std::move(trace)}, {"step_outputs", step_outputs},
                 {"timing", json::object{{"wall_ms", wall_ms}, {"critical_path_ms", critical_path_ms},
                                         {"sum_steps_ms", sum_steps_ms}}}};
  if (!error.empty()) o["error"] = json::object{{"message", error}, {"step", failed_step}};
  return o;
}

// ---------------------------------------------------------------------------------------------------

// One model call in flight: its cancellation signal (timeouts and run cancellation emit it).
struct Attempt {
  explicit Attempt(const net::any_io_executor& ex) : done(ex) {}
  net::cancellation_signal signal;
  net::steady_timer done;
  bool finished = false;
  std::optional<CallResult> result;
  std::exception_ptr error;
};

struct FlowRun::State : std::enable_shared_from_this<FlowRun::State> {
  const Flow& flow;
  json::object inputs;
  StepCaller& caller;
  EventFn on_event;
  Clock::time_point t0 = Clock::now();
  RunResult result;
  std::vector<std::optional<json::value>> outputs;  // per step, once finished
  std::vector<bool> started, finished;
  int running = 0;            // step coroutines alive
  int calls_running = 0;      // model calls (and map items) holding a run slot
  std::map<std::string, int> calls_by_model;  // of those, per model (Flow::max_parallel_per_model)
  bool failed = false, cancelled = false;
  std::optional<net::steady_timer> wake;   // the main loop waits on it
  std::optional<net::steady_timer> slots;  // waiters for a run slot
  std::list<std::shared_ptr<Attempt>> active;

  State(const Flow& f, json::object in, StepCaller& c, EventFn ev)
      : flow(f), inputs(std::move(in)), caller(c), on_event(std::move(ev)) {}

  double now_ms() const { return ms_between(t0, Clock::now()); }
  bool stopping() const { return failed || cancelled; }

  void emit(Event::Type type, size_t step, int item = -1, std::string_view delta = {}) {
    if (!on_event) return;
    Event e;
    e.type = type;
    e.step = &result.steps[step];
    e.item = item;
    e.delta = delta;
    on_event(e);
  }

  void cancel_calls() {
    for (auto& a : active) a->signal.emit(net::cancellation_type::terminal);
  }

  Resolver resolver(const json::value* item) const {
    return [this, item](const Ref& r) -> const json::value* {
      const json::value* base = nullptr;
      if (r.kind == Ref::Kind::input) {
        base = inputs.if_contains(r.name);
      } else if (r.kind == Ref::Kind::item) {
        base = item;
      } else {
        int i = flow.index_of(r.name);
        if (i >= 0 && outputs[static_cast<size_t>(i)]) base = &*outputs[static_cast<size_t>(i)];
      }
      return base ? walk(*base, r.path) : nullptr;
    };
  }

  bool ready(size_t i) const {
    for (const auto& d : flow.steps[i].deps)
      if (!finished[static_cast<size_t>(flow.index_of(d))]) return false;
    return true;
  }

  // Waits until the run has a free call slot (Flow::max_parallel) and `model` one of its own
  // (Flow::max_parallel_per_model).
  net::awaitable<void> acquire_slot(const std::string& model) {
    auto cap = flow.max_parallel_per_model.find(model);
    auto full = [&] {
      return calls_running >= flow.max_parallel ||
             (cap != flow.max_parallel_per_model.end() && calls_by_model[model] >= cap->second);
    };
    while (full()) {
      slots->expires_at(Clock::time_point::max());
      boost::system::error_code ec;
      co_await slots->async_wait(net::redirect_error(net::use_awaitable, ec));
    }
    ++calls_running;
    ++calls_by_model[model];
  }
  void release_slot(const std::string& model) {
    --calls_running;
    --calls_by_model[model];
    slots->cancel();
  }

  std::string model_of(const Step& s, const json::value* item) const {
    return s.model_ref ? render(*s.model_ref, resolver(item)) : s.model;
  }

  // One call with a timeout; throws what the call threw, or StepFailure on a timeout.
  net::awaitable<CallResult> guarded_call(const Step& s, api::ChatRequest req, size_t step, int item, DeltaFn tap) {
    auto ex = co_await net::this_coro::executor;
    auto a = std::make_shared<Attempt>(ex);
    active.push_back(a);
    auto self = shared_from_this();
    DeltaFn on_delta = [self, step, item, tap = std::move(tap)](std::string_view d) {
      self->emit(Event::Type::step_delta, step, item, d);
      if (tap) tap(d);
    };
    net::co_spawn(ex, caller.call(std::move(req), std::move(on_delta)),
                  net::bind_cancellation_slot(a->signal.slot(), [a](std::exception_ptr e, CallResult r) {
                    a->finished = true;
                    if (e) a->error = e;
                    else a->result = std::move(r);
                    a->done.cancel();
                  }));
    bool timed_out = false;
    if (s.timeout_ms > 0) a->done.expires_after(std::chrono::milliseconds(s.timeout_ms));
    else a->done.expires_at(Clock::time_point::max());
    boost::system::error_code ec;
    co_await a->done.async_wait(net::redirect_error(net::use_awaitable, ec));
    if (!a->finished) {
      timed_out = !ec;
      a->signal.emit(net::cancellation_type::terminal);
      while (!a->finished) {
        a->done.expires_at(Clock::time_point::max());
        co_await a->done.async_wait(net::redirect_error(net::use_awaitable, ec));
      }
    }
    active.remove(a);
    if (timed_out) throw StepFailure("timed out after " + std::to_string(s.timeout_ms) + " ms");
    if (a->error) std::rethrow_exception(a->error);
    co_return std::move(*a->result);
  }

  // A model step's call for one item, with retries and the JSON check.
  net::awaitable<json::value> model_call(const Step& s, const json::value* item, size_t step, int item_index,
                                         CallTrace& ct, DeltaFn tap = {}) {
    api::ChatRequest req;
    Resolver res = resolver(item);
    req.model = model_of(s, item);
    boost::system::error_code ec;
    json::value fields = json::parse(s.request_fields_json, ec);
    if (fields.is_object()) req.raw = fields.get_object();
    if (auto* mt = req.raw.if_contains("max_tokens"); mt && mt->is_int64()) req.max_tokens = mt->get_int64();
    if (auto* t = req.raw.if_contains("temperature"); t && t->is_number()) req.temperature = t->to_number<double>();
    for (const auto& m : s.messages) {
      api::Message msg;
      msg.role = m.role;
      msg.content = render(m.content, res);
      msg.raw = json::object{{"role", msg.role}, {"content", msg.content}};
      req.messages.push_back(std::move(msg));
    }
    std::string last_error;
    bool json_retried = false;
    for (int attempt = 0; attempt <= s.retries; ++attempt) {
      if (stopping()) throw StepFailure("cancelled");
      ++ct.attempts;
      std::optional<CallResult> r;
      try {
        r = co_await guarded_call(s, req, step, item_index, tap);
      } catch (const StepFailure& e) {
        last_error = e.what();
      } catch (const api::Error& e) {
        last_error = e.what();
        if (e.status() == 499) throw StepFailure("cancelled");
      } catch (const std::exception& e) {
        last_error = e.what();
      }
      if (!r) continue;
      ct.model = r->model;
      ct.prompt_tokens += r->prompt_tokens;
      ct.completion_tokens += r->completion_tokens;
      if (!r->cache.empty()) ct.cache = r->cache;
      if (!r->route.empty()) ct.route = r->route;
      if (!s.output_json) co_return json::value(json::string(r->text));
      std::string jerr;
      if (auto v = parse_json_answer(r->text, jerr)) {
        if (s.output_schema_json.empty()) co_return std::move(*v);
        auto broken = schema_violation(json::parse(s.output_schema_json), *v);
        if (!broken) co_return std::move(*v);
        jerr = "valid JSON that does not match the schema (" + *broken + "); the schema is " + s.output_schema_json;
      }
      last_error = "the answer is " + jerr;
      if (json_retried) continue;
      // One retry carrying the error (does not count against `retries`).
      json_retried = true;
      --attempt;
      api::Message prev{"assistant", r->text, json::object{{"role", "assistant"}, {"content", r->text}}};
      std::string ask = "Your answer was " + jerr + ". Answer again with only valid JSON, nothing else.";
      api::Message fix{"user", ask, json::object{{"role", "user"}, {"content", ask}}};
      req.messages.push_back(std::move(prev));
      req.messages.push_back(std::move(fix));
    }
    throw StepFailure(last_error.empty() ? "failed" : last_error);
  }

  // The step's work for one item (or the whole step when it has no map).
  net::awaitable<json::value> body(const Step& s, const json::value* item, size_t step, int item_index, CallTrace& ct,
                                   DeltaFn tap = {}) {
    Resolver res = resolver(item);
    switch (s.kind) {
      case StepKind::chunk: {
        json::array out;
        for (auto& c : chunk_text(render(s.text, res), s.chunk_tokens)) out.emplace_back(json::string(c));
        co_return out;
      }
      case StepKind::template_:
        co_return json::value(json::string(render(s.text, res)));
      case StepKind::json: {
        const Ref* sole = s.text.sole_ref();
        const json::value* direct = sole ? res(*sole) : nullptr;
        json::value v;
        if (direct && !direct->is_string()) {
          v = *direct;
        } else {
          std::string err;
          std::string text = direct ? std::string(direct->get_string()) : render(s.text, res);
          auto parsed = parse_json_answer(text, err);
          if (!parsed) throw StepFailure("the text is " + err);
          v = std::move(*parsed);
        }
        if (s.pick.empty()) co_return v;
        std::vector<std::string> path;
        size_t start = 0;
        while (start <= s.pick.size()) {
          size_t end = s.pick.find('.', start);
          if (end == std::string::npos) end = s.pick.size();
          path.push_back(s.pick.substr(start, end - start));
          start = end + 1;
        }
        const json::value* picked = walk(v, path);
        if (!picked) throw StepFailure("the JSON has no '" + s.pick + "'");
        co_return *picked;
      }
      case StepKind::model: {
        std::string model = model_of(s, item);
        co_await acquire_slot(model);
        ct.start_ms = now_ms();
        std::optional<json::value> out;
        std::exception_ptr err;
        try {
          out = co_await model_call(s, item, step, item_index, ct, std::move(tap));
        } catch (...) {
          err = std::current_exception();
        }
        ct.end_ms = now_ms();
        release_slot(model);
        if (err) std::rethrow_exception(err);
        co_return std::move(*out);
      }
    }
    co_return nullptr;
  }

  // The items of a map step: a JSON array, a text holding a JSON array, or the non-empty lines of a text.
  json::array map_items(const Step& s) const {
    Resolver res = resolver(nullptr);
    const Ref* sole = s.map->sole_ref();
    const json::value* v = sole ? res(*sole) : nullptr;
    if (v && v->is_array()) return v->get_array();
    if (v && !v->is_string() && !v->is_null()) throw StepFailure("'map' needs a list, got " + value_text(*v));
    std::string text = v ? value_text(*v) : render(*s.map, res);
    boost::system::error_code ec;
    json::value parsed = json::parse(text, ec);
    if (!ec && parsed.is_array()) return parsed.get_array();
    json::array lines;
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      std::string line = text.substr(start, end - start);
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
      if (!line.empty()) lines.emplace_back(json::string(line));
      start = end + 1;
    }
    return lines;
  }

  net::awaitable<json::value> run_map(const Step& s, size_t step, StepTrace& st) {
    json::array items = map_items(s);
    if (static_cast<int>(items.size()) > s.max_items)
      throw StepFailure("'map' has " + std::to_string(items.size()) + " items, more than max_items " +
                        std::to_string(s.max_items));
    st.items = static_cast<int>(items.size());
    st.calls.resize(items.size());
    std::vector<json::value> outs(items.size());
    std::optional<std::string> first_error;
    size_t next = 0;
    int workers = static_cast<int>(std::min<size_t>(static_cast<size_t>(s.max_parallel), items.size()));
    int alive = workers;
    auto ex = co_await net::this_coro::executor;
    net::steady_timer all_done(ex);
    auto self = shared_from_this();
    auto worker = [&, self]() -> net::awaitable<void> {
      while (next < items.size() && !first_error && !stopping()) {
        size_t i = next++;
        CallTrace& ct = st.calls[i];
        ct.item = static_cast<int>(i);
        try {
          outs[i] = co_await body(s, &items[i], step, static_cast<int>(i), ct);
        } catch (const std::exception& e) {
          ct.error = e.what();
          if (s.on_error == OnError::fail) first_error = "item " + std::to_string(i) + ": " + e.what();
          else outs[i] = nullptr;  // continue/default: the item's output is null
        }
      }
    };
    for (int w = 0; w < workers; ++w)
      net::co_spawn(ex, worker(), [&](std::exception_ptr) {
        if (--alive == 0) all_done.cancel();
      });
    if (alive > 0) {
      all_done.expires_at(Clock::time_point::max());
      boost::system::error_code ec;
      co_await all_done.async_wait(net::redirect_error(net::use_awaitable, ec));
    }
    if (first_error) throw StepFailure(*first_error);
    if (stopping()) throw StepFailure("cancelled");
    json::array out;
    for (auto& o : outs) out.push_back(std::move(o));
    co_return out;
  }

  // ---- Planned decomposition: tasks parsed from the planner's lines while it streams.
  struct PlanTask {
    int n = 0;
    const Step* tool = nullptr;
    std::vector<std::string> args;  // literal text, or "$K"
    std::vector<int> deps;          // task numbers (1-based)
    bool started = false, done = false;
    json::value out;
    CallTrace ct;
  };

  static std::vector<std::string> split_args(std::string_view a) {
    std::vector<std::string> out;
    std::string cur;
    char quote = 0;
    int depth = 0;
    for (char c : a) {
      if (quote) {
        if (c == quote) quote = 0;
        else cur += c;
        continue;
      }
      if (c == '"' || c == '\'') quote = c;
      else if (c == '(' || c == '[' || c == '{') ++depth, cur += c;
      else if (c == ')' || c == ']' || c == '}') --depth, cur += c;
      else if (c == ',' && depth == 0) out.push_back(std::move(cur)), cur.clear();
      else cur += c;
    }
    out.push_back(std::move(cur));
    for (auto& x : out) {
      size_t b = x.find_first_not_of(" \t"), e = x.find_last_not_of(" \t");
      x = b == std::string::npos ? std::string() : x.substr(b, e - b + 1);
    }
    if (out.size() == 1 && out[0].empty()) out.clear();
    return out;
  }

  // "3. join($1, $2)" → a task; lines that are not tasks (thoughts, blank) → nullopt; a bad task → error.
  static std::optional<PlanTask> parse_task(std::string_view line, const Step& s, int next, std::string& error) {
    size_t i = line.find_first_not_of(" \t*-");
    if (i == std::string_view::npos) return std::nullopt;
    line.remove_prefix(i);
    size_t d = 0;
    while (d < line.size() && std::isdigit(static_cast<unsigned char>(line[d]))) ++d;
    if (d == 0 || d >= line.size() || (line[d] != '.' && line[d] != ')')) return std::nullopt;
    line.remove_prefix(d + 1);
    size_t open = line.find('('), close = line.rfind(')');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open) return std::nullopt;
    std::string name(line.substr(0, open));
    name.erase(0, name.find_first_not_of(" \t"));
    name.erase(name.find_last_not_of(" \t") + 1);
    PlanTask t;
    t.n = next;
    for (const auto& tool : s.plan_tools)
      if (tool.name == name) t.tool = &tool;
    if (!t.tool) {
      error = "task " + std::to_string(next) + " names an unknown tool '" + name + "'";
      return std::nullopt;
    }
    t.args = split_args(line.substr(open + 1, close - open - 1));
    for (const auto& a : t.args) {
      if (a.size() < 2 || a[0] != '$') continue;
      int k = std::atoi(a.c_str() + (a[1] == '{' ? 2 : 1));
      if (k < 1 || k >= next) {
        error = "task " + std::to_string(next) + " refers to " + a + ", not an earlier task";
        return std::nullopt;
      }
      t.deps.push_back(k);
    }
    return t;
  }

  net::awaitable<json::value> run_plan(const Step& s, size_t step, StepTrace& st, CallTrace& planner) {
    auto ex = co_await net::this_coro::executor;
    std::deque<PlanTask> tasks;  // stable references while tasks run
    std::optional<std::string> failure;
    int running_tasks = 0;
    std::string pending_line;
    net::steady_timer wake(ex);
    auto self = shared_from_this();
    std::function<void()> launch;
    auto run_task = [&, self](PlanTask& t) -> net::awaitable<void> {
      json::array item;
      for (const auto& a : t.args) {
        if (a.size() >= 2 && a[0] == '$') item.push_back(tasks[static_cast<size_t>(std::atoi(a.c_str() + (a[1] == '{' ? 2 : 1)) - 1)].out);
        else item.emplace_back(json::string(a));
      }
      json::value iv(std::move(item));
      t.ct.item = t.n;
      try {
        t.out = co_await body(*t.tool, &iv, step, t.n, t.ct);
      } catch (const std::exception& e) {
        t.ct.error = e.what();
        t.out = nullptr;
        if (s.on_error == OnError::fail && !failure) failure = "task " + std::to_string(t.n) + ": " + e.what();
      }
      if (t.tool->kind == StepKind::template_) t.ct.start_ms = t.ct.end_ms = now_ms();
    };
    launch = [&, self] {
      if (failure || stopping()) return;
      for (auto& t : tasks) {
        if (t.started) continue;
        bool ready = std::all_of(t.deps.begin(), t.deps.end(), [&](int k) { return tasks[static_cast<size_t>(k - 1)].done; });
        if (!ready) continue;
        t.started = true;
        ++running_tasks;
        net::co_spawn(ex, run_task(t), [&, tp = &t](std::exception_ptr) {
          tp->done = true;
          --running_tasks;
          launch();
          wake.cancel();
        });
      }
    };
    auto take_line = [&](std::string_view line) {
      if (failure) return;
      std::string err;
      if (auto t = parse_task(line, s, static_cast<int>(tasks.size()) + 1, err)) {
        tasks.push_back(std::move(*t));
        launch();
      } else if (!err.empty()) {
        failure = err;
      }
    };
    DeltaFn tap = [&](std::string_view d) {
      pending_line += d;
      size_t nl;
      while ((nl = pending_line.find('\n')) != std::string::npos) {
        take_line(std::string_view(pending_line).substr(0, nl));
        pending_line.erase(0, nl + 1);
      }
    };
    std::exception_ptr planner_error;
    try {
      co_await body(s, nullptr, step, -1, planner, tap);
    } catch (...) {
      planner_error = std::current_exception();
    }
    if (!planner_error) take_line(pending_line);
    while (running_tasks > 0) {
      wake.expires_at(Clock::time_point::max());
      boost::system::error_code ec;
      co_await wake.async_wait(net::redirect_error(net::use_awaitable, ec));
    }
    for (auto& t : tasks) st.calls.push_back(t.ct);
    if (planner_error) std::rethrow_exception(planner_error);
    if (failure) throw StepFailure(*failure);
    if (stopping()) throw StepFailure("cancelled");
    if (tasks.empty()) throw StepFailure("the plan has no task (lines like '1. tool(args)')");
    co_return tasks.back().out;
  }

  net::awaitable<void> run_step(size_t i) {
    const Step& s = flow.steps[i];
    StepTrace& st = result.steps[i];
    st.status = "running";
    st.start_ms = now_ms();
    emit(Event::Type::step_started, i);
    std::optional<json::value> out;
    std::string error;
    bool skipped = false;
    CallTrace single;
    try {
      if (s.when && !eval_when(render(*s.when, resolver(nullptr)))) {
        skipped = true;
      } else if (s.map) {
        out = co_await run_map(s, i, st);
      } else if (!s.plan_tools.empty()) {
        out = co_await run_plan(s, i, st, single);
      } else {
        out = co_await body(s, nullptr, i, -1, single);
      }
    } catch (const std::exception& e) {
      error = e.what();
      single.error = e.what();
    }
    if (s.kind == StepKind::model && !s.map && !skipped) st.calls.insert(st.calls.begin(), std::move(single));
    for (const auto& c : st.calls) {
      st.prompt_tokens += c.prompt_tokens;
      st.completion_tokens += c.completion_tokens;
    }
    st.end_ms = now_ms();
    if (skipped) {
      st.status = "skipped";
      outputs[i] = json::value(nullptr);
    } else if (error.empty()) {
      st.status = "ok";
      outputs[i] = std::move(*out);
    } else {
      st.error = error;
      if (cancelled || error == "cancelled") {
        st.status = "cancelled";
      } else if (s.on_error == OnError::continue_) {
        st.status = "failed";
        outputs[i] = json::value(nullptr);
      } else if (s.on_error == OnError::default_) {
        st.status = "default";
        outputs[i] = json::value(json::string(s.default_value));
      } else {
        st.status = "failed";
        if (!failed) {
          failed = true;
          result.failed_step = s.name;
          result.error = "step '" + s.name + "' failed: " + error;
          cancel_calls();
        }
      }
    }
    if (outputs[i]) result.step_outputs[s.name] = *outputs[i];
    finished[i] = outputs[i].has_value();
    emit(Event::Type::step_completed, i);
  }

  void launch_ready(const net::any_io_executor& ex) {
    if (stopping()) return;
    for (size_t i = 0; i < flow.steps.size(); ++i) {
      if (started[i] || !ready(i)) continue;
      started[i] = true;
      ++running;
      auto self = shared_from_this();
      net::co_spawn(ex, run_step(i), [self](std::exception_ptr) {
        --self->running;
        self->wake->cancel();
      });
    }
  }
};

FlowRun::FlowRun(const Flow& flow, json::object inputs, StepCaller& caller, EventFn on_event)
    : state_(std::make_shared<State>(flow, std::move(inputs), caller, std::move(on_event))) {}

FlowRun::~FlowRun() = default;

void FlowRun::cancel() {
  if (state_->cancelled) return;
  state_->cancelled = true;
  state_->cancel_calls();
  if (state_->wake) state_->wake->cancel();
}

net::awaitable<RunResult> FlowRun::execute() {
  auto st = state_;
  auto ex = co_await net::this_coro::executor;
  const Flow& flow = st->flow;
  st->wake.emplace(ex);
  st->slots.emplace(ex);
  st->t0 = Clock::now();
  for (const auto& [name, value] : flow.input_defaults)
    if (!st->inputs.contains(name)) st->inputs[name] = value;
  st->result.id = api::new_request_id("flowrun-");
  st->result.flow = flow.name;
  size_t n = flow.steps.size();
  st->outputs.assign(n, std::nullopt);
  st->started.assign(n, false);
  st->finished.assign(n, false);
  for (const auto& s : flow.steps) {
    StepTrace t;
    t.name = s.name;
    t.kind = s.map ? std::string("map ") + to_string(s.kind) : to_string(s.kind);
    st->result.steps.push_back(std::move(t));
  }
  // A step starts as soon as its references are finished: each completion wakes this loop.
  while (true) {
    st->launch_ready(ex);
    if (st->running == 0) break;
    st->wake->expires_at(Clock::time_point::max());
    boost::system::error_code ec;
    co_await st->wake->async_wait(net::redirect_error(net::use_awaitable, ec));
  }
  RunResult& r = st->result;
  r.wall_ms = st->now_ms();
  bool all = std::all_of(st->finished.begin(), st->finished.end(), [](bool b) { return b; });
  r.status = st->cancelled ? "cancelled" : st->failed || !all ? "failed" : "completed";
  if (st->cancelled && r.error.empty()) r.error = "the run was cancelled";
  // Outputs: those whose references all finished (a failed run keeps what did finish).
  Resolver res = st->resolver(nullptr);
  auto renderable = [&](const Template& t) {
    for (const auto& p : t.parts)
      if (auto* ref = std::get_if<Ref>(&p); ref && ref->kind == Ref::Kind::step &&
                                            !st->finished[static_cast<size_t>(flow.index_of(ref->name))])
        return false;
    return true;
  };
  if (flow.outputs.empty()) {
    r.outputs = r.step_outputs;
  } else {
    for (const auto& [name, t] : flow.outputs) {
      if (!renderable(t)) continue;
      const json::value* v = t.sole_ref() ? res(*t.sole_ref()) : nullptr;
      r.outputs[name] = v ? *v : json::value(json::string(render(t, res)));
    }
  }
  compute_path_times(flow, r);
  co_return std::move(st->result);
}

}  // namespace kuai::flows
