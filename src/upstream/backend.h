// Anything that can complete a chat: a remote OpenAI-compatible server (HttpBackend) or the embedded
// engine (LocalBackend). Called from the gateway's I/O threads; implementations never block them.
#pragma once

#include "api/chat.h"

#include <boost/asio/awaitable.hpp>

#include <string>

namespace kuai::upstream {

// Receives a stream chunk by chunk, in order. `on_chunk` returns false when the consumer is gone
// (client disconnected): the producer then stops and cancels its own upstream work.
class ChunkSink {
 public:
  virtual ~ChunkSink() = default;
  virtual boost::asio::awaitable<bool> on_chunk(const api::ChatChunk& chunk) = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  // A short human label for logs and headers, e.g. "http://127.0.0.1:9000 (gpt-4o-mini)".
  virtual std::string describe() const = 0;
  // Failures are thrown as api::Error with the status the client should see.
  virtual boost::asio::awaitable<api::ChatResponse> complete(const api::ChatRequest& req) = 0;
  virtual boost::asio::awaitable<void> stream(const api::ChatRequest& req, ChunkSink& sink) = 0;
  virtual boost::asio::awaitable<api::Embeddings> embed(const api::EmbeddingRequest& req) = 0;
};

}  // namespace kuai::upstream
