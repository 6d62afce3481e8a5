// What the gateway lends to stages: the I/O executor, config, metrics, a way to call any public
// model by name (through the dispatcher, so tiers/retries/fallback apply), and token counting.
#pragma once

#include "api/chat.h"
#include "api/tenant.h"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace kuai::config { class Config; }
namespace kuai::obs { class Metrics; }

namespace kuai::pipeline {

// Calls a public model (config `models.<name>`) as the gateway would, without the stage pipeline.
// A stage's call (a completion or an embedding) is made for the request's tenant, so its tier's
// concurrency limit and priority apply to it as to the request itself (an extract fan-out or the
// cache's embedder never exceeds the tenant's tier).
class ModelCaller {
 public:
  virtual ~ModelCaller() = default;
  virtual boost::asio::awaitable<api::ChatResponse> complete(const api::ChatRequest& req, const api::Tenant& tenant) = 0;
  virtual boost::asio::awaitable<api::Embeddings> embed(const api::EmbeddingRequest& req, const api::Tenant& tenant) = 0;
  virtual bool has_model(std::string_view public_name) const = 0;
};

// The one way a stage builds its own model call (extract's condensing, route's classifier, summarize's
// summary): a `system` instruction then the `user` text, temperature 0, at most `max_tokens`. The
// sampling settings are in both the typed fields (the embedded engine reads them) and the JSON body
// (`raw`: what an HTTP backend sends, api::ChatRequest::to_json, which does not serialise the typed ones).
api::ChatRequest instruction_request(std::string model, std::string system, std::string user, int64_t max_tokens);

// Counts tokens as the model that will read them does: the engine's tokenizer for local models, a
// tokenizer file named in config for remote ones, otherwise a documented per-script estimate.
class TokenCounter {
 public:
  virtual ~TokenCounter() = default;
  virtual int64_t count(std::string_view public_model, std::string_view text) const = 0;
};

struct Services {
  boost::asio::any_io_executor executor;
  const config::Config* config = nullptr;
  obs::Metrics* metrics = nullptr;
  ModelCaller* models = nullptr;
  const TokenCounter* tokens = nullptr;

  // Tokens of `text` for `public_model`: the lent counter when there is one, else the documented
  // per-script estimate (text::estimate_tokens). The one way stages count tokens.
  int64_t count_tokens(std::string_view public_model, std::string_view text) const;
};

}  // namespace kuai::pipeline
