// A tokenizer loaded from any GGUF file that holds tokenizer.ggml.* metadata (a full model or a
// vocab-only file), owning the file it reads: what the gateway's token counter (wired by the app)
// counts with. The engine knows nothing of who counts.
// Threads: immutable after open(); count_text() from any thread.
#pragma once

#include "engine/gguf/gguf_file.h"
#include "engine/gguf/result.h"
#include "engine/tokenizer/tokenizer.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace kuai::engine {

class TokenizerFile {
 public:
  // Errors name the file's fault (unreadable, not GGUF, no usable tokenizer metadata).
  static Result<std::unique_ptr<TokenizerFile>> open(const std::string& path);

  const Tokenizer& tokenizer() const { return *tok_; }
  // Tokens of plain text: no BOS/EOS, control-token spellings counted as the plain text they are.
  int64_t count_text(std::string_view text) const;

 private:
  TokenizerFile(std::unique_ptr<GgufFile> file, std::unique_ptr<Tokenizer> tok)
      : file_(std::move(file)), tok_(std::move(tok)) {}
  std::unique_ptr<GgufFile> file_;  // kept alive for the tokenizer's lifetime
  std::unique_ptr<Tokenizer> tok_;
};

}  // namespace kuai::engine
