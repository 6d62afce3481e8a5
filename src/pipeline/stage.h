// The extension point of the gateway: one latency technique = one Stage (src/stages/<name>.{h,cpp}),
// registered in src/stages/registry.cpp with one line. Stages never time themselves: the Pipeline
// runner does (Server-Timing header, Prometheus histogram), switches them on/off, and turns a thrown
// error into an OpenAI error response.
#pragma once

#include "pipeline/context.h"

#include <boost/asio/awaitable.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace kuai::pipeline {

// What a stage decides about a request. A closed set:
//  - Continue: the request goes on to the next stage (the stage may have rewritten ctx.request).
//  - Answer:   the stage answers the request itself (e.g. a cache hit); no later stage and no backend
//              runs; on_response hooks of earlier stages still run. A streaming client gets the answer
//              replayed as SSE chunks.
struct Verdict {
  enum class Kind { Continue, Answer };
  Kind kind = Kind::Continue;
  std::optional<api::ChatResponse> answer;

  static Verdict next() { return {}; }
  static Verdict respond(api::ChatResponse r) { return {Kind::Answer, std::move(r)}; }
};

// A stage's answer to an admin call (e.g. DELETE a wrong cache entry): JSON body and HTTP status.
struct AdminReply {
  int status = 200;
  std::string body;  // JSON text
};

class Stage {
 public:
  virtual ~Stage() = default;
  virtual std::string_view name() const = 0;
  // Called on an I/O thread; may co_await backends (ctx.services). Throw api::Error to fail the request.
  virtual boost::asio::awaitable<Verdict> on_request(Context& ctx) = 0;
  // Called after a complete answer exists (from a backend, or a completed stream): e.g. cache store,
  // async summary. Must not block; may spawn background work on ctx.services->executor.
  virtual void on_response(Context&, const api::ChatResponse&) {}
  // Admin API: the server routes `METHOD /v1/admin/stages/<name>/<path>` here (admin key required).
  // nullopt → 404. Runs on an I/O thread; must be quick.
  virtual std::optional<AdminReply> on_admin(std::string_view method, std::string_view path,
                                             std::string_view body) {
    (void)method; (void)path; (void)body;
    return std::nullopt;
  }
  // Client API: the server routes `METHOD /v1/<name>/<path>` here for an authenticated tenant (e.g.
  // POST /v1/cache/feedback). nullopt → 404. Runs on an I/O thread; must be quick.
  virtual std::optional<AdminReply> on_client(std::string_view method, std::string_view path, std::string_view body,
                                              const Tenant& tenant) {
    (void)method; (void)path; (void)body; (void)tenant;
    return std::nullopt;
  }
};

}  // namespace kuai::pipeline
