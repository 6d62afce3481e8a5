// The engine side of DefaultTokenCounter: a GGUF tokenizer (src/engine/tokenizer) behind ModelTokenizer.
#include "stages/token_counter.h"

namespace kuai::stages {

std::unique_ptr<ModelTokenizer> load_gguf_tokenizer(const std::string& path, std::string& error) {
  // The engine's tokenizer is not in the tree yet; until it is, a named file is a config error rather
  // than a silent fall back to the estimate.
  error = "no GGUF tokenizer support in this build (cannot load '" + path + "')";
  return nullptr;
}

}  // namespace kuai::stages
