// The shape of a trainable llama-architecture model, and where each weight lives in one flat array.
// Tensor names and shapes are the GGUF ones the engine loads (engine/model/llama_model.cpp): a matrix
// (rows, cols) is `rows` rows of `cols` contiguous floats, y = W x with x of size cols.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/gguf/result.h"

namespace kuai::train {

struct ModelConfig {
  int32_t n_vocab = 0;
  int32_t n_embd = 0;
  int32_t n_layer = 0;
  int32_t n_head = 0;
  int32_t n_head_kv = 0;
  int32_t n_ff = 0;
  int32_t n_ctx = 256;  // context length written to the GGUF (and the longest training sequence)
  float rope_base = 10000.0f;
  float rms_eps = 1e-5f;
  bool tied = false;    // output head = token embedding
  // A head's width when it is not n_embd / n_head (a pruned model with fewer heads: n_head * head_dim <
  // n_embd; GGUF attention.key_length); 0 = n_embd / n_head.
  int32_t n_head_dim = 0;

  int32_t head_dim() const { return n_head_dim > 0 ? n_head_dim : n_embd / n_head; }
  int32_t kv_dim() const { return n_head_kv * head_dim(); }
  int32_t q_dim() const { return n_head * head_dim(); }
  // An error names the field (head counts that do not divide, odd head dim, zero sizes).
  engine::Status check() const;
  std::string describe() const;  // "n_layer=2,n_embd=64,..."
};

// "n_layer=2,n_embd=64,n_head=8,n_head_kv=4,n_ff=172,ctx=256[,tied=1,head_dim=..,rope_base=..,rms_eps=..]" over
// `base` (n_vocab comes from the tokenizer). Errors name the unknown key or bad value.
engine::Result<ModelConfig> parse_model_config(const std::string& text, ModelConfig base);

struct TensorSpec {
  std::string name;  // GGUF name
  int64_t rows = 0;  // 0 for a vector
  int64_t cols = 0;
  size_t offset = 0;  // into the flat array
  bool is_matrix() const { return rows > 0; }
  size_t size() const { return size_t(rows > 0 ? rows : 1) * size_t(cols); }
};

struct LayerOffsets {
  size_t attn_norm, wq, wk, wv, wo, ffn_norm, gate, up, down;
};

// Offsets of every tensor; with tied embeddings `output` == `tok_embd` and no output tensor is listed.
struct Layout {
  explicit Layout(const ModelConfig& c);
  std::vector<TensorSpec> tensors;
  size_t tok_embd = 0, output_norm = 0, output = 0;
  std::vector<LayerOffsets> layers;
  size_t n_params = 0;
};

}  // namespace kuai::train
