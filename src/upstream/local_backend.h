// LocalBackend: upstream::Backend over the embedded engine (engine::sched::Engine), so a public model
// can be a GGUF file served in-process: /v1/chat/completions (prompt rendered with the model's chat
// template), /v1/completions (the raw prompt, ChatRequest::raw_prompt), /v1/embeddings (mean-pooled
// final hidden state, L2-normalised).
//
// Threads: complete/stream/embed run on the gateway's I/O threads and never block them. Requests go to
// the engine with submit(); its events (engine thread) go through an Asio concurrent_channel back to
// the awaiting coroutine. A client that disconnects (ChunkSink::on_chunk returns false) or a coroutine
// destroyed mid-request cancels its sequence, which frees its KV blocks at once.
// Errors: api::Error — 400 for a prompt over the context or max_tokens < 1 (code
// context_length_exceeded / param max_tokens), 500 when the engine fails.
#pragma once

#include "upstream/backend.h"

#include <boost/asio/any_io_executor.hpp>

#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace kuai::config { class Config; }
namespace kuai::obs { class Metrics; }
namespace kuai::engine { class Tokenizer; }
namespace kuai::engine::sched { class Engine; struct EngineOptions; }

namespace kuai::upstream {

class Dispatcher;

struct LocalModelOptions {
  std::string name;           // public model name
  std::string path;           // GGUF file
  std::string chat_template;  // override: a family name or template text; "" = the model's own
  double default_temperature = 1.0;  // when the request sets none (OpenAI's default)
};

class LocalBackend final : public Backend {
 public:
  // Loads the model and tokenizer and starts the engine. Errors: unreadable/unsupported GGUF, bad KV size.
  static std::variant<std::shared_ptr<LocalBackend>, std::string> load(const LocalModelOptions& opts,
                                                                       const engine::sched::EngineOptions& eng);
  ~LocalBackend() override;

  std::string describe() const override;
  boost::asio::awaitable<api::ChatResponse> complete(const api::ChatRequest& req) override;
  boost::asio::awaitable<void> stream(const api::ChatRequest& req, ChunkSink& sink) override;
  boost::asio::awaitable<api::Embeddings> embed(const api::EmbeddingRequest& req) override;

  engine::sched::Engine& engine() { return *engine_; }
  const engine::Tokenizer& tokenizer() const { return *tokenizer_; }
  // The prompt text the model reads for this request (chat template applied, or raw_prompt).
  std::string render_prompt(const api::ChatRequest& req) const;

  struct Impl;

 private:
  LocalBackend() = default;
  LocalModelOptions opts_;
  std::unique_ptr<engine::Tokenizer> tokenizer_;
  std::unique_ptr<engine::sched::Engine> engine_;
};

// Engine options from config `engine.*` (docs/CONFIG.md); an error names the bad key.
std::variant<engine::sched::EngineOptions, std::string> engine_options_from_config(const config::Config& cfg);

// Loads every model of config `engine.models` (a map name → GGUF path) and adds it to the dispatcher
// under its name: a BERT-family file as a LocalEmbeddingBackend (embeddings only), any other as a
// LocalBackend; the first LocalBackend is also registered as "default" unless the dispatcher already has
// a model of that name. Engines report metrics to `metrics` (may be null). Returns an error for the first model
// that fails to load.
std::optional<std::string> add_local_models(const config::Config& cfg, Dispatcher& dispatcher, obs::Metrics* metrics);

}  // namespace kuai::upstream
