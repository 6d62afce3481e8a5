#include "engine/model/sentence_embedder.h"

#include "engine/gguf/gguf_file.h"

namespace kuai::engine::model {

Result<std::unique_ptr<SentenceEmbedder>> SentenceEmbedder::load(const std::string& path) {
  auto file = GgufFile::open(path);
  if (!file) return std::move(file).take_error();
  std::unique_ptr<SentenceEmbedder> e(new SentenceEmbedder());
  e->file_ = std::shared_ptr<const GgufFile>(std::move(file).value());
  auto model = BertModel::load(e->file_);
  if (!model) return std::move(model).take_error();
  e->model_ = std::move(model).value();
  auto tok = Tokenizer::from_gguf(*e->file_);
  if (!tok) return make_error(path + ": " + tok.error());
  e->tokenizer_ = std::move(tok).value();
  return e;
}

Result<std::vector<std::vector<float>>> SentenceEmbedder::embed_all(const std::vector<std::vector<int32_t>>& seqs,
                                                                    BertState& st, int max_batch_tokens) const {
  std::vector<std::vector<float>> out;
  out.reserve(seqs.size());
  for (size_t first = 0; first < seqs.size();) {
    std::vector<std::span<const int32_t>> batch;
    size_t tokens = 0;
    for (size_t i = first; i < seqs.size() && (batch.empty() || tokens + seqs[i].size() <= size_t(max_batch_tokens)); ++i) {
      batch.emplace_back(seqs[i]);
      tokens += seqs[i].size();
    }
    auto vs = model_->embed_batch(batch, st);
    if (!vs) return std::move(vs).take_error();
    for (auto& v : *vs) out.push_back(std::move(v));
    first += batch.size();
  }
  return out;
}

}  // namespace kuai::engine::model
