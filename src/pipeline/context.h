// One request's state as it passes the stages. Owned by the server's connection coroutine; lives
// until the response (and every on_response hook) is done.
#pragma once

#include "api/chat.h"
#include "pipeline/tenant.h"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
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

  void add_header(std::string name, std::string value) {
    response_headers.emplace_back(std::move(name), std::move(value));
  }
};

}  // namespace kuai::pipeline
