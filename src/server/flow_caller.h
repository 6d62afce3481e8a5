// Internal to src/server: how a flow's model step reaches a model. Each call is a live chat request
// of the run's tenant: the stage pipeline (cache, route, …) runs on it, then the dispatcher streams it
// with the tenant's tier (retries, fallback), then the on_response hooks (the cache stores it). So a
// step gets every technique a client's request gets, and its trace records the cache and route
// decisions. Threads: the run's executor (the connection's strand).
#pragma once

#include "flows/caller.h"
#include "pipeline/tenant.h"
#include "server/gateway.h"

namespace kuai::server {


class PipelineStepCaller final : public flows::StepCaller {
 public:
  PipelineStepCaller(Gateway::State& s, const pipeline::Tenant& tenant) : s_(s), tenant_(tenant) {}
  boost::asio::awaitable<flows::CallResult> call(api::ChatRequest req, flows::DeltaFn on_delta) override;
  bool has_model(std::string_view public_name) const override;

 private:
  Gateway::State& s_;
  const pipeline::Tenant& tenant_;
};

}  // namespace kuai::server
