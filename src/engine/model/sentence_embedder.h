// A BERT-family GGUF with its tokenizer, loaded together: what `kuai embed`, `kuai cache eval`'s local
// embedder, the gateway's LocalEmbeddingBackend and bench_semantic_cache all need from one file.
// Threads: immutable after load; embed_all() from one thread per BertState at a time.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/gguf/result.h"
#include "engine/model/bert_model.h"
#include "engine/tokenizer/tokenizer.h"

namespace kuai::engine::model {

class SentenceEmbedder {
 public:
  // Errors: unreadable GGUF, not a BERT-family file (BertModel::load), no tokenizer metadata.
  static Result<std::unique_ptr<SentenceEmbedder>> load(const std::string& path);

  const BertModel& model() const { return *model_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  // The text's tokens as the model reads them (special tokens added).
  std::vector<int32_t> tokens(std::string_view text) const { return tokenizer_->encode(text, true, false); }
  // The embeddings of many token sequences, in order, run as batches of up to `max_batch_tokens`
  // tokens (BertModel::embed_batch; a longer sequence is a batch of its own). Errors: embed_batch's.
  Result<std::vector<std::vector<float>>> embed_all(const std::vector<std::vector<int32_t>>& seqs, BertState& st,
                                                    int max_batch_tokens = 2048) const;

 private:
  std::shared_ptr<const GgufFile> file_;
  std::unique_ptr<BertModel> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
};

}  // namespace kuai::engine::model
