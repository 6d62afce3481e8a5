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

}  // namespace kuai::engine::model
