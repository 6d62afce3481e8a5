// A Backend for any OpenAI-compatible server (OpenAI, vLLM, llama.cpp server, Ollama, kuai itself…).
// - Sends the request's JSON (the client's own bytes when the server marked them sendable, see
//   api::ChatRequest::wire_body) with `model` replaced by this backend's own model name (when set) and
//   `Authorization: Bearer <api_key>` (when set); every other field passes through untouched.
// - stream(): each upstream SSE event goes to the ChunkSink as soon as it arrives (never buffered);
//   the first-token timeout bounds the wait for the first data event; a stream that ends without
//   `[DONE]` is an error (502), not a normal completion. When the sink answers false, the upstream
//   connection is closed at once.
// - Errors are api::Error (see wire.h for statuses): nothing listening → 503 (code
//   "upstream_unreachable"), timeout → 504, garbage or a cut stream → 502, cancelled → 499.
// Threads: see http::Client (call from a strand); the object itself is immutable after construction.
#pragma once

#include "upstream/backend.h"

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace kuai::http { class Client; }

namespace kuai::upstream {

struct HttpBackendOptions {
  std::string url;      // base URL: "http://host:port" or "http://host:port/v1" (both reach /v1/…)
  std::string model;    // the model name the upstream knows; empty: the request's own
  std::string api_key;  // empty: no Authorization header
  std::chrono::milliseconds first_token_timeout{60000};  // request sent → first data event (or whole answer)
  std::chrono::milliseconds total_timeout{600000};
  size_t max_body_bytes = 64u << 20;
};

class HttpBackend : public Backend {
 public:
  HttpBackend(std::shared_ptr<http::Client> client, HttpBackendOptions options);

  std::string describe() const override { return label_; }
  boost::asio::awaitable<api::ChatResponse> complete(const api::ChatRequest& req) override;
  boost::asio::awaitable<void> stream(const api::ChatRequest& req, ChunkSink& sink) override;
  boost::asio::awaitable<api::Embeddings> embed(const api::EmbeddingRequest& req) override;

  const HttpBackendOptions& options() const { return options_; }
  std::string endpoint(std::string_view path) const;  // e.g. "chat/completions" → full URL
  // The chat body for this backend: req.wire_body as is when set and this backend keeps the model
  // name, else req.to_json() with this backend's model and `stream` set (serialised).
  std::string chat_body(const api::ChatRequest& req, bool stream) const;

 private:
  // POSTs `body` (JSON) to `path` ("chat/completions", "embeddings") and returns the answer's body.
  // A transport failure or a non-2xx answer throws the api::Error the client should see.
  boost::asio::awaitable<std::string> post_for_body(std::string_view path, std::string body) const;

  std::shared_ptr<http::Client> client_;
  HttpBackendOptions options_;
  std::string label_;
};

}  // namespace kuai::upstream
