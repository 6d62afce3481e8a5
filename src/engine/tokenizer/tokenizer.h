// Tokenizers built from a GGUF file's `tokenizer.ggml.*` metadata:
//   "llama" — SentencePiece-style: score-ordered merges of pieces, ▁ for spaces and a dummy-prefix ▁,
//             byte fallback to <0xHH> tokens;
//   "gpt2"  — byte-level BPE: pre-split by the regexes named by tokenizer.ggml.pre (pretokenizer.h),
//             bytes mapped to GPT-2's printable code points, merges by rank;
//   "bert"  — WordPiece (lower-case, accent stripping, punctuation split, ## continuations).
// Special tokens (control, unknown) written in the text become their ids when parse_special is on;
// user-defined (added) tokens are always matched before the normal split, as HF tokenizers do.
//
// Threads: a Tokenizer is immutable after from_gguf(); every const method may run on many threads.
#pragma once

#include "engine/gguf/gguf_file.h"
#include "engine/gguf/result.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kuai::engine {

using TokenId = int32_t;
inline constexpr TokenId kNoToken = -1;

// As stored in tokenizer.ggml.token_type.
enum class TokenType : int32_t {
  Undefined = 0, Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6,
};

enum class TokenizerKind { Spm, Bpe, WordPiece };

class Tokenizer {
 public:
  // Errors: missing/inconsistent arrays, unknown model or pre-tokenizer, special ids out of range are
  // dropped (not errors).
  static Result<std::unique_ptr<Tokenizer>> from_gguf(const GgufFile& file);
  ~Tokenizer();

  // UTF-8 text → token ids. add_special: prepend BOS / append EOS as the vocab asks (add_bos/add_eos;
  // for bert, CLS … SEP). parse_special: control tokens written in the text ("<|im_start|>") become
  // their ids; otherwise they are tokenized as plain text.
  std::vector<TokenId> encode(std::string_view text, bool add_special = true, bool parse_special = false) const;

  // The bytes a token stands for (spaces restored, byte tokens as their byte, GPT-2 bytes decoded).
  // Control tokens give "" unless special is true. Invalid ids give "".
  std::string token_to_piece(TokenId id, bool special = false) const;
  // Concatenated pieces; for SentencePiece vocabs the dummy-prefix space of the first token is removed.
  std::string decode(std::span<const TokenId> ids, bool special = false) const;

  TokenizerKind kind() const;
  const std::string& model_name() const;  // tokenizer.ggml.model
  const std::string& pre_name() const;    // tokenizer.ggml.pre ("" when absent)
  size_t n_vocab() const;
  // The longest token's text in bytes. For SentencePiece and byte-level BPE a text of B bytes needs at
  // least B / max_token_bytes() tokens (a token stands for at most the bytes of its text); WordPiece's
  // unknown token stands for a whole word, so no such bound holds there.
  size_t max_token_bytes() const;
  const std::string& token_text(TokenId id) const;  // raw vocab text; "" for invalid ids
  TokenType token_type(TokenId id) const;
  float token_score(TokenId id) const;
  std::optional<TokenId> find(std::string_view text) const;  // the token whose text is exactly this

  TokenId bos() const;  // kNoToken when the vocab has none
  TokenId eos() const;
  TokenId eot() const;
  TokenId unk() const;
  TokenId pad() const;
  TokenId sep() const;
  TokenId cls() const;
  bool add_bos() const;
  bool add_eos() const;
  // End of generation: EOS, EOT, EOM and the usual end-of-turn control tokens (<|im_end|>, <|eot_id|>,
  // <|end|>, <end_of_turn>, <|endoftext|>).
  bool is_eog(TokenId id) const;
  const std::vector<TokenId>& eog_ids() const;

  // tokenizer.chat_template when present.
  const std::optional<std::string>& chat_template() const;

  struct Impl;

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kuai::engine
