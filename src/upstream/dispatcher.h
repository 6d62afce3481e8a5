// Maps each public model name (config `models.<name>.backends`) to an ordered fallback list of
// Backends and sends requests through it: per-tenant concurrency tiers, retries with backoff that
// honours Retry-After, fallback to the next backend, latency-aware choice between model versions.
// Thread-safety: built at start-up (add_backend only then); the call methods are safe from any I/O thread.
#pragma once

#include "api/chat.h"
#include "api/tenant.h"
#include "upstream/backend.h"

#include <boost/asio/any_io_executor.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace kuai::config { class Config; }
namespace kuai::obs { class Metrics; }

namespace kuai::upstream {

class Dispatcher {
 public:
  virtual ~Dispatcher() = default;

  // Reads `models.*` from config and builds an HttpBackend per listed backend.
  static std::variant<std::unique_ptr<Dispatcher>, std::string> from_config(
      const config::Config& cfg, boost::asio::any_io_executor executor, obs::Metrics* metrics);

  // Adds (or appends to) a public model served by `backend` (e.g. the embedded engine's LocalBackend).
  virtual void add_backend(const std::string& public_name, std::shared_ptr<Backend> backend) = 0;
  virtual std::vector<std::string> model_names() const = 0;

  // `req.model` is the public name; the backend's own model name is substituted on send.
  // Unknown model → api::Error 404 (model_not_found). `tenant` (may be null) applies its tier (all three calls).
  virtual boost::asio::awaitable<api::ChatResponse> complete(const api::ChatRequest& req,
                                                             const api::Tenant* tenant) = 0;
  virtual boost::asio::awaitable<void> stream(const api::ChatRequest& req, ChunkSink& sink,
                                              const api::Tenant* tenant) = 0;
  virtual boost::asio::awaitable<api::Embeddings> embed(const api::EmbeddingRequest& req, const api::Tenant* tenant) = 0;
  virtual bool has_model(std::string_view public_name) const = 0;
};

}  // namespace kuai::upstream
