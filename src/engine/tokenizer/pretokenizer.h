// Byte-level BPE pre-tokenizer: splits text into words with the regex list that matches the vocab's
// `tokenizer.ggml.pre` (gpt-2, llama3, qwen2, deepseek-llm, deepseek-coder, falcon, mpt, starcoder, …).
// Regexes are compiled with PCRE2 (UTF, UCP, JIT). Each regex in the list splits every piece left by the
// previous one; text a regex does not match stays a piece of its own (the "Isolated" split of HF
// tokenizers, as llama.cpp does it).
//
// Threads: build once; split() is const and safe from many threads (match data per call).
#pragma once

#include "engine/gguf/result.h"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace kuai::engine::tok {

class PreTokenizer {
 public:
  // `pre` as stored in tokenizer.ggml.pre ("" or "default" for the generic GPT-2 style set).
  // Error for a name this build does not know.
  static Result<std::unique_ptr<PreTokenizer>> create(std::string_view pre);
  // From explicit regexes (PCRE2 syntax), applied in order.
  static Result<std::unique_ptr<PreTokenizer>> from_regexes(const std::vector<std::string>& regexes);
  ~PreTokenizer();

  // Splits UTF-8 text into pieces (views into `text`), in order, covering all of it.
  std::vector<std::string_view> split(std::string_view text) const;

  // Names accepted by create().
  static std::vector<std::string> known_names();

 private:
  PreTokenizer() = default;
  struct Compiled;
  std::vector<std::unique_ptr<Compiled>> regexes_;
};

}  // namespace kuai::engine::tok
