// LocalEmbeddingBackend: upstream::Backend over an embedded BERT-family sentence embedder
// (engine/model/bert_model.h: bge, all-MiniLM, e5 GGUF files), so `engine.models` can name one and
// /v1/embeddings (and the semantic cache's `local` embedder) computes real sentence embeddings
// in-process. It has no chat: /v1/chat/completions and /v1/completions on it are a 400.
//
// Threads: embed() runs on the gateway's I/O threads and never blocks them: the forward passes run on
// one worker thread of its own (requests to this model queue there, in order), whose matrix products
// use a compute pool of `engine.threads` threads.
// Errors: api::Error — 400 for empty input or an input over the model's context (code
// context_length_exceeded, param input), 400 model_not_chat for chat requests.
// A request's inputs are embedded as batches (SentenceEmbedder::embed_all): many short inputs share
// every weight product.
// Metrics (when given): kuai_embedder_seconds (one request's forward passes) and
// kuai_embedder_tokens_total, label model=<name>.
#pragma once

#include "upstream/backend.h"

#include <memory>
#include <string>
#include <variant>

namespace kuai::obs { class Metrics; }

namespace kuai::upstream {

class LocalEmbeddingBackend final : public Backend {
 public:
  // Loads the model and its tokenizer. Errors: unreadable GGUF, not a BERT-family file, no tokenizer.
  static std::variant<std::shared_ptr<LocalEmbeddingBackend>, std::string> load(const std::string& name,
                                                                                const std::string& path, int threads,
                                                                                obs::Metrics* metrics = nullptr);
  ~LocalEmbeddingBackend() override;

  std::string describe() const override;
  boost::asio::awaitable<api::ChatResponse> complete(const api::ChatRequest& req) override;
  boost::asio::awaitable<void> stream(const api::ChatRequest& req, ChunkSink& sink) override;
  boost::asio::awaitable<api::Embeddings> embed(const api::EmbeddingRequest& req) override;

  struct Impl;

 private:
  LocalEmbeddingBackend() = default;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kuai::upstream
