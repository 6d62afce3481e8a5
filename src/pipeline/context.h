// One request's state as it passes the stages. Owned by the server's connection coroutine; lives
// until the response (and every on_response hook) is done.
#pragma once

#include "api/chat.h"
#include "pipeline/tenant.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>

namespace kuai::pipeline {

struct Services;

// Per-stage timings, filled by the Pipeline runner (never by stages), rendered as Server-Timing.
struct StageTiming {
  std::string name;
  double duration_ms = 0;
  std::string outcome;  // "continue" | "answer" | "error" | "skipped"
};

// The one Server-Timing formatter: appends `name;dur=<ms, 3 decimals>[;desc="desc"]` to `out`, after
// ", " when `out` is not empty. Every Server-Timing kuai sends (stages, upstream, total) goes through it.
void append_server_timing(std::string& out, std::string_view name, double ms, std::string_view desc = {});

struct Trace {
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::vector<StageTiming> stages;
  // "kuai-stage-slim;dur=0.012, …" plus any extra entries (e.g. upstream).
  std::string server_timing() const;
};

// Where the route stage sent the request, for headers and metrics.
struct RouteDecision {
  std::string intent;      // empty when the route stage did not run
  std::string target;      // public model name that serves the request
  std::string decided_by;  // "rules" | "knn" | "classifier" | "default"
  double confidence = 0;
};

// What stages keep for one request between on_request and on_response: one typed slot per stage
// (keyed by the stage object, pass `this`), destroyed with the Context, so no stage keeps a side table
// keyed by the request with a timed expiry. A cut stream (no on_response) frees it all the same.
//   on_request:   ctx.stage_state.emplace<Pending>(this, …);
//   on_response:  if (Pending* p = ctx.stage_state.find<Pending>(this)) { … }
// Only the coroutine handling the request touches it (no locking); a few entries at most.
class StageState {
 public:
  // Creates (or replaces) `owner`'s slot with a T built from `args`.
  template <class T, class... Args>
  T& emplace(const void* owner, Args&&... args) {
    erase(owner);
    auto value = std::make_unique<T>(std::forward<Args>(args)...);
    T& ref = *value;
    slots_.reserve(slots_.size() + 1);  // so the push_back below cannot throw after release()
    slots_.push_back(Slot{owner, &typeid(T), Holder(value.release(), &destroy<T>)});
    return ref;
  }
  // `owner`'s slot when it holds a T; nullptr otherwise.
  template <class T>
  T* find(const void* owner) const {
    for (const auto& s : slots_)
      if (s.owner == owner) return *s.type == typeid(T) ? static_cast<T*>(s.value.get()) : nullptr;
    return nullptr;
  }
  void erase(const void* owner) {
    for (auto it = slots_.begin(); it != slots_.end(); ++it)
      if (it->owner == owner) {
        slots_.erase(it);
        return;
      }
  }
  bool empty() const { return slots_.empty(); }

 private:
  using Holder = std::unique_ptr<void, void (*)(void*)>;
  template <class T>
  static void destroy(void* p) { delete static_cast<T*>(p); }
  struct Slot {
    const void* owner;
    const std::type_info* type;
    Holder value;
  };
  std::vector<Slot> slots_;
};

struct Context {
  api::ChatRequest request;
  Tenant tenant;
  Trace trace;
  RouteDecision route;
  Services* services = nullptr;          // shared gateway services (backends, metrics, config)
  std::string request_id;                // "chatcmpl-…", also the response id
  // The client's chat body as received (HTTP chat completions). When no stage ran, the server sends
  // these bytes upstream unchanged (api::ChatRequest::wire_body) instead of re-serialising the request.
  std::string request_body;
  int64_t tokens_saved = 0;              // input tokens removed by stages (x-kuai-tokens-saved)
  // Extra response headers stages want the client to see (x-kuai-cache, x-kuai-route, …).
  std::vector<std::pair<std::string, std::string>> response_headers;
  StageState stage_state;                // per-stage state of this request (see StageState)

  void add_header(std::string name, std::string value) {
    response_headers.emplace_back(std::move(name), std::move(value));
  }
};

}  // namespace kuai::pipeline
