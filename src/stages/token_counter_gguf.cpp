// The engine side of DefaultTokenCounter: the engine's tokenizer (src/engine/tokenizer), loaded from
// any GGUF file that holds tokenizer.ggml.* metadata (a full model or a vocab-only file).
#include "stages/token_counter.h"

#include "engine/gguf/gguf_file.h"
#include "engine/tokenizer/tokenizer.h"

namespace kuai::stages {
namespace {

class GgufTokenizer : public ModelTokenizer {
 public:
  GgufTokenizer(std::unique_ptr<engine::GgufFile> file, std::unique_ptr<engine::Tokenizer> tok)
      : file_(std::move(file)), tok_(std::move(tok)) {}
  // Text only: no BOS/EOS, control-token spellings counted as the plain text they are.
  int64_t count(std::string_view text) const override {
    return static_cast<int64_t>(tok_->encode(text, /*add_special=*/false, /*parse_special=*/false).size());
  }

 private:
  std::unique_ptr<engine::GgufFile> file_;  // kept alive for the tokenizer's lifetime
  std::unique_ptr<engine::Tokenizer> tok_;
};

}  // namespace

std::unique_ptr<ModelTokenizer> load_gguf_tokenizer(const std::string& path, std::string& error) {
  auto file = engine::GgufFile::open(path);
  if (!file) {
    error = file.error();
    return nullptr;
  }
  auto tok = engine::Tokenizer::from_gguf(**file);
  if (!tok) {
    error = tok.error();
    return nullptr;
  }
  return std::make_unique<GgufTokenizer>(std::move(file).value(), std::move(tok).value());
}

}  // namespace kuai::stages
