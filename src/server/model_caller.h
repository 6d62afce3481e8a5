// Internal to src/server: the pipeline's ModelCaller (how a stage calls a public model) over the
// dispatcher. The pipeline owns the interface and the server wires it, so upstream/ never knows the
// pipeline. Stage calls carry the request's tenant (its tier limits them).
#pragma once

#include "pipeline/services.h"
#include "upstream/dispatcher.h"

namespace kuai::server {

class DispatcherModelCaller final : public pipeline::ModelCaller {
 public:
  explicit DispatcherModelCaller(upstream::Dispatcher& dispatcher) : dispatcher_(dispatcher) {}

  boost::asio::awaitable<api::ChatResponse> complete(const api::ChatRequest& req, const api::Tenant& tenant) override {
    const api::Tenant owned = tenant;  // lives in this frame for the whole call
    co_return co_await dispatcher_.complete(req, &owned);
  }
  boost::asio::awaitable<api::Embeddings> embed(const api::EmbeddingRequest& req, const api::Tenant& tenant) override {
    const api::Tenant owned = tenant;
    co_return co_await dispatcher_.embed(req, &owned);
  }
  bool has_model(std::string_view public_name) const override { return dispatcher_.has_model(public_name); }

 private:
  upstream::Dispatcher& dispatcher_;
};

}  // namespace kuai::server
