#include "engine/tokenizer/tokenizer_file.h"

namespace kuai::engine {

Result<std::unique_ptr<TokenizerFile>> TokenizerFile::open(const std::string& path) {
  auto file = GgufFile::open(path);
  if (!file) return std::move(file).take_error();
  auto tok = Tokenizer::from_gguf(**file);
  if (!tok) return std::move(tok).take_error();
  return std::unique_ptr<TokenizerFile>(new TokenizerFile(std::move(file).value(), std::move(tok).value()));
}

int64_t TokenizerFile::count_text(std::string_view text) const {
  return static_cast<int64_t>(tok_->encode(text, /*add_special=*/false, /*parse_special=*/false).size());
}

}  // namespace kuai::engine
