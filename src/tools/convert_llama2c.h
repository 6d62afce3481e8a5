// llama2.c checkpoint (+ its tokenizer.bin) → GGUF, so Karpathy's models (stories15M/110M/260K) run in
// the engine and in other GGUF tools.
//
// Input, legacy llama2.c format (version 0): seven int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
// vocab_size — negative when the classifier is not shared with the embedding — seq_len), then float32
// weights: token embedding (vocab, dim), attention RMS weights (layer, dim), wq (layer, dim, dim),
// wk/wv (layer, kv_dim, dim), wo (layer, dim, dim), FFN RMS weights (layer, dim), w1 (layer, hidden, dim),
// w2 (layer, dim, hidden), w3 (layer, hidden, dim), final RMS (dim), RoPE tables (2 × seq_len × head/2,
// skipped), and the classifier (vocab, dim) when unshared. Tokenizer: int32 max_token_length, then per
// token float32 score, int32 length, bytes.
//
// Output follows the conventions of llama.cpp's converter (checked against stories260K.gguf beside the
// checkpoint): architecture "llama", llama.* hyper-parameters (rope.dimension_count = head size,
// context_length = seq_len, rms epsilon 1e-5), F32 tensors token_embd, output_norm, output (written even
// when shared, as a copy of the embedding), blk.N.{attn_q,attn_k,attn_v,attn_output,attn_norm,ffn_gate,
// ffn_down,ffn_up,ffn_norm}.weight. Q/K rows are NOT permuted: llama2.c rotates adjacent pairs, which
// is GGUF's normal (non-neox) RoPE for llama. The vocab becomes an SPM ("llama") vocab: ' ' → ▁,
// "\n<s>\n" → "<s>", <0xHH> tokens typed as bytes (6), <unk> unknown (2), <s>/</s> control (3).
#pragma once

#include "engine/gguf/result.h"

#include <string>

namespace kuai::tools {

struct Llama2cConvertOptions {
  std::string checkpoint_path;  // model .bin
  std::string tokenizer_path;   // tokenizer .bin
  std::string output_path;      // .gguf to write
  std::string name = "llama";   // general.name
  float rms_epsilon = 1e-5f;
};

struct Llama2cHeader {
  int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
};

// Errors: unreadable/truncated files, inconsistent header, vocab size mismatch, write failures.
engine::Status convert_llama2c(const Llama2cConvertOptions& options);

}  // namespace kuai::tools
