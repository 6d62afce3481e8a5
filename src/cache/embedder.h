// Embedders turn a query into a unit-length vector for the HNSW index (cosine = dot product).
//  - HashEmbedder ("hash", the default): no model. Signed feature hashing of folded words, word
//    bigrams and character n-grams (Latin: 3-grams inside a word; CJK: characters and character
//    bigrams), weighted like TF-IDF without a corpus (stop words and n-grams weigh less than content
//    words), L2-normalised. ~5–20 µs per query, synchronous.
//  - ModelEmbedder ("remote" / "local"): any public model that answers /v1/embeddings, called through
//    pipeline::ModelCaller for the request's tenant (its tier applies, as to the request itself), so a
//    remote OpenAI-compatible server and the embedded engine are the same path once it serves
//    embeddings; the result is L2-normalised here.
// Threads: embed() runs on an I/O thread; embed_sync() (hash only) on any thread.
#pragma once

#include "api/tenant.h"
#include "cache/query_features.h"

#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace kuai::pipeline { class ModelCaller; }

namespace kuai::cache {

class Embedder {
 public:
  virtual ~Embedder() = default;
  virtual std::string_view kind() const = 0;  // "hash" | "remote" | "local"
  // Embeds without suspending when the embedder can (hash); false when it needs embed().
  virtual bool embed_sync(std::string_view text, const QueryFeatures& f, std::vector<float>& out) {
    (void)text; (void)f; (void)out;
    return false;
  }
  // Throws api::Error when a model call fails. `text` and `tenant` must outlive the call; a model call
  // is made for `tenant` (its tier's concurrency limit and priority apply).
  virtual boost::asio::awaitable<std::vector<float>> embed(std::string_view text, const QueryFeatures& f,
                                                           const api::Tenant& tenant) = 0;
};

class HashEmbedder final : public Embedder {
 public:
  explicit HashEmbedder(size_t dim = 512) : dim_(dim) {}
  std::string_view kind() const override { return "hash"; }
  size_t dim() const { return dim_; }
  bool embed_sync(std::string_view text, const QueryFeatures& f, std::vector<float>& out) override;
  boost::asio::awaitable<std::vector<float>> embed(std::string_view text, const QueryFeatures& f,
                                                   const api::Tenant& tenant) override;
  std::vector<float> embed_words(const std::vector<std::string>& words) const;

 private:
  size_t dim_;
};

class ModelEmbedder final : public Embedder {
 public:
  // `models` must outlive the embedder. `kind` is "remote" or "local" (labels only: same call path).
  ModelEmbedder(pipeline::ModelCaller* models, std::string model, std::string kind)
      : models_(models), model_(std::move(model)), kind_(std::move(kind)) {}
  std::string_view kind() const override { return kind_; }
  boost::asio::awaitable<std::vector<float>> embed(std::string_view text, const QueryFeatures& f,
                                                   const api::Tenant& tenant) override;

 private:
  pipeline::ModelCaller* models_;
  std::string model_, kind_;
};

// Scales `v` to unit length (a zero vector stays zero).
void l2_normalize(std::vector<float>& v);

}  // namespace kuai::cache
