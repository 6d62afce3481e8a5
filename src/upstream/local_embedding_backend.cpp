#include "upstream/local_embedding_backend.h"

#include "api/error.h"
#include "engine/model/sentence_embedder.h"
#include "engine/threads/thread_pool.h"
#include "obs/metrics.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <thread>

namespace kuai::upstream {

namespace net = boost::asio;

struct LocalEmbeddingBackend::Impl {
  Impl(int threads) : compute(threads), state(compute) {}
  std::string name, path;
  std::unique_ptr<engine::model::SentenceEmbedder> embedder;
  engine::ThreadPool compute;
  engine::model::BertState state;  // used on `worker` only
  net::thread_pool worker{1};      // forward passes, one at a time
  prometheus::Histogram* seconds = nullptr;  // optional metrics
  prometheus::Counter* tokens = nullptr;

  // Runs on `worker`. Throws api::Error.
  api::Embeddings run(const api::EmbeddingRequest& req) {
    api::Embeddings out;
    out.model = req.model;
    const int32_t ctx = embedder->model().hparams().n_ctx_train;
    std::vector<std::vector<int32_t>> ids;
    for (size_t i = 0; i < req.input.size(); ++i) {
      const std::string param = "input[" + std::to_string(i) + "]";
      if (req.input[i].empty()) throw api::Error::bad_request(param + " is empty", "input");
      ids.push_back(embedder->tokens(req.input[i]));
      if (int64_t(ids.back().size()) > ctx)
        throw api::Error(400, "invalid_request_error",
                         param + " has " + std::to_string(ids.back().size()) + " tokens; this model embeds at most " +
                             std::to_string(ctx),
                         "context_length_exceeded", "input");
      out.usage.prompt_tokens += int64_t(ids.back().size());
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto v = embedder->embed_all(ids, state);  // the inputs share the weight products
    if (!v) throw api::Error::internal("model '" + name + "': " + v.error());
    if (seconds) seconds->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (tokens) tokens->Increment(double(out.usage.prompt_tokens));
    out.data = std::move(v).value();
    return out;
  }
};

std::variant<std::shared_ptr<LocalEmbeddingBackend>, std::string> LocalEmbeddingBackend::load(const std::string& name,
                                                                                              const std::string& path,
                                                                                              int threads,
                                                                                              obs::Metrics* metrics) {
  auto embedder = engine::model::SentenceEmbedder::load(path);
  if (!embedder) return "model '" + name + "': " + embedder.error();
  if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
  std::shared_ptr<LocalEmbeddingBackend> b(new LocalEmbeddingBackend());
  b->impl_ = std::make_unique<Impl>(threads);
  Impl& I = *b->impl_;
  I.name = name;
  I.path = path;
  I.embedder = std::move(embedder).value();
  if (metrics) {
    const prometheus::Labels l{{"model", name}};
    I.seconds = &metrics->histogram("kuai_embedder_seconds", "Forward passes of one /v1/embeddings request's inputs")
                     .Add(l, obs::Metrics::latency_buckets());
    I.tokens = &metrics->counter("kuai_embedder_tokens_total", "Tokens embedded by a local sentence embedder").Add(l);
  }
  return b;
}

LocalEmbeddingBackend::~LocalEmbeddingBackend() {
  if (impl_) impl_->worker.join();
}

std::string LocalEmbeddingBackend::describe() const { return "local:" + impl_->path + " (" + impl_->name + ", embeddings)"; }

namespace {

api::Error not_chat(const std::string& name) {
  return api::Error(400, "invalid_request_error",
                    "model '" + name + "' is a sentence embedder (bert): it serves /v1/embeddings only", "model_not_chat",
                    "model");
}

}  // namespace

net::awaitable<api::ChatResponse> LocalEmbeddingBackend::complete(const api::ChatRequest&) {
  throw not_chat(impl_->name);
  co_return api::ChatResponse{};
}

net::awaitable<void> LocalEmbeddingBackend::stream(const api::ChatRequest&, ChunkSink&) {
  throw not_chat(impl_->name);
  co_return;
}

net::awaitable<api::Embeddings> LocalEmbeddingBackend::embed(const api::EmbeddingRequest& req) {
  if (req.input.empty()) throw api::Error::bad_request("input must not be empty", "input");
  Impl& I = *impl_;
  co_return co_await net::co_spawn(
      I.worker.get_executor(), [&I, &req]() -> net::awaitable<api::Embeddings> { co_return I.run(req); },
      net::use_awaitable);
}

}  // namespace kuai::upstream
