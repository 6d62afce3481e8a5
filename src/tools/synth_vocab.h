// Generated tokenizer vocabularies for synthetic models (see synth.h).
#pragma once

#include <cstdint>
#include <string>

namespace kuai::engine {
class GgufWriter;
}

namespace kuai::tools {

// Writes tokenizer.ggml.* keys: "llama" (SentencePiece: <unk>, <s>, </s>, 256 byte tokens, then pieces
// made by concatenating earlier pieces, with scores) or "gpt2" (byte-level BPE: 256 byte symbols, then
// merges of earlier tokens, then ChatML-style special tokens at the end) or "bert" (WordPiece as GGUF stores it:
// [PAD], [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103, ▁word starts and bare continuations). Exactly n_vocab tokens.
void write_synth_vocab(engine::GgufWriter& w, const std::string& arch, int32_t n_vocab, uint64_t seed);

}  // namespace kuai::tools
