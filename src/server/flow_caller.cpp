#include "server/flow_caller.h"

#include "api/request_id.h"
#include "api/stream.h"
#include "server/gateway_state.h"

namespace kuai::server {
namespace net = boost::asio;

namespace {

class StepSink final : public upstream::ChunkSink {
 public:
  explicit StepSink(flows::DeltaFn& on_delta) : on_delta_(on_delta) {}
  net::awaitable<bool> on_chunk(const api::ChatChunk& c) override {
    assembler_.add(c);
    if (!c.delta.empty() && on_delta_) on_delta_(c.delta);
    co_return true;
  }
  api::ResponseAssembler& assembler() { return assembler_; }

 private:
  flows::DeltaFn& on_delta_;
  api::ResponseAssembler assembler_;
};

std::string header_of(const pipeline::Context& ctx, std::string_view name) {
  for (const auto& [k, v] : ctx.response_headers)
    if (k == name) return v;
  return {};
}

}  // namespace

bool PipelineStepCaller::has_model(std::string_view public_name) const { return s_.dispatcher->has_model(public_name); }

net::awaitable<flows::CallResult> PipelineStepCaller::call(api::ChatRequest req, flows::DeltaFn on_delta) {
  pipeline::Context ctx;
  ctx.tenant = tenant_;
  ctx.services = &s_.services;
  ctx.request_id = api::new_request_id("chatcmpl-");
  req.stream = true;
  req.include_usage = true;
  req.raw["stream_options"] = boost::json::object{{"include_usage", true}};
  ctx.request = std::move(req);
  std::optional<api::ChatResponse> answer = co_await s_.pipeline->run_request(ctx);
  api::ChatResponse resp;
  if (answer) {  // a stage answered (a cache hit): its text is the step's delta too
    resp = std::move(*answer);
    if (on_delta && !resp.text().empty()) on_delta(resp.text());
  } else {
    ctx.request.model = dispatch_model(s_, ctx.request.model);
    StepSink sink(on_delta);
    co_await s_.dispatcher->stream(ctx.request, sink, &ctx.tenant);
    bool finished = sink.assembler().finished();
    resp = sink.assembler().take(ctx.request_id, ctx.request.model, api::unix_now());
    if (finished) s_.pipeline->run_response(ctx, resp);
  }
  flows::CallResult r;
  r.text = resp.text();
  r.model = ctx.request.model;
  if (resp.usage) {
    r.prompt_tokens = resp.usage->prompt_tokens;
    r.completion_tokens = resp.usage->completion_tokens;
  }
  r.cache = resp.cached ? "hit" : header_of(ctx, "x-kuai-cache");
  r.route = header_of(ctx, "x-kuai-route");
  co_return r;
}

}  // namespace kuai::server
