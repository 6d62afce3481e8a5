// jobs::Executor over the gateway: each job line runs as a live request to its endpoint would, through
// the stage pipeline, the dispatcher (tiers, retries, fallback) and the on_response hooks, as the
// tenant that queued it. Errors are the status and OpenAI error body the live request would have got.
#include "api/error.h"
#include "api/parse.h"
#include "api/request_id.h"
#include "server/error_wall.h"
#include "server/gateway_state.h"

#include <boost/json/serialize.hpp>

namespace kuai::server {
namespace net = boost::asio;

namespace {

class GatewayJobExecutor final : public jobs::Executor {
 public:
  explicit GatewayJobExecutor(State& s) : s_(s) {}

  net::awaitable<jobs::Result> run(const jobs::Item& item, jobs::EventSink* events) override {
    jobs::Result r;
    std::optional<api::Error> failure;
    try {
      const pipeline::Tenant* tenant = s_.tenants.find_name(item.tenant);
      if (!tenant) throw api::Error::unauthorized("The tenant '" + item.tenant + "' that queued this job is no longer configured.");
      pipeline::Context ctx;
      ctx.tenant = *tenant;
      ctx.services = &s_.services;
      if (item.endpoint == "/v1/chat/completions") {
        ctx.request_id = r.request_id = api::new_request_id("chatcmpl-");
        ctx.request = api::parse_chat_request(item.body);
        ctx.request.raw.erase("background");
        r.body = co_await run_chat_offline(s_, ctx, false, events);
      } else if (item.endpoint == "/v1/completions") {
        ctx.request_id = r.request_id = api::new_request_id("cmpl-");
        ctx.request = api::chat_request_from_completion(api::parse_completion_request(item.body));
        r.body = co_await run_chat_offline(s_, ctx, true, nullptr);
      } else if (item.endpoint == "/v1/flows/runs") {
        r.request_id = api::new_request_id("flowrun-");
        r.body = co_await run_flow_job(s_, *tenant, item.body, events);
      } else if (item.endpoint == "/v1/embeddings") {
        r.request_id = api::new_request_id("emb-");
        api::EmbeddingRequest er = api::parse_embedding_request(item.body);
        er.model = dispatch_model(s_, er.model);
        api::Embeddings out = co_await s_.dispatcher->embed(er, tenant);
        r.body = boost::json::serialize(out.to_json());
      } else {
        throw api::Error::not_found("Unknown batch endpoint " + item.endpoint + ".", "unknown_url");
      }
      r.status_code = 200;
    } catch (...) {
      failure = error_of(std::current_exception(), r.request_id.empty() ? std::string("job line") : r.request_id);
    }
    if (failure) {
      r.status_code = failure->status();
      r.body = failure->body();
    }
    co_return r;
  }

 private:
  State& s_;
};

}  // namespace

std::unique_ptr<jobs::Executor> make_job_executor(State& s) { return std::make_unique<GatewayJobExecutor>(s); }

}  // namespace kuai::server
