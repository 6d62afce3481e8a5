// Hyper-parameters of a llama-family model, read from a GGUF file's `<arch>.*` metadata keys.
#pragma once

#include <cstdint>
#include <string>

#include "engine/gguf/result.h"

namespace kuai::engine {
class GgufFile;
}

namespace kuai::engine::model {

enum class Arch { kLlama, kQwen2 };
enum class RopeStyle { kNormal, kNeox };  // normal: adjacent pairs (llama); neox: halves (qwen2)

struct Hparams {
  Arch arch = Arch::kLlama;
  std::string arch_name;      // "llama" | "qwen2"
  int32_t n_vocab = 0;
  int32_t n_ctx_train = 0;    // context length the model was trained for
  int32_t n_embd = 0;         // model width
  int32_t n_layer = 0;
  int32_t n_ff = 0;           // FFN hidden width
  int32_t n_head = 0;
  int32_t n_head_kv = 0;      // grouped-query attention: n_head % n_head_kv == 0
  int32_t head_dim = 0;       // n_embd / n_head unless attention.key_length says otherwise
  int32_t n_rot = 0;          // rotated dims per head (rope.dimension_count; = head_dim by default)
  float rms_eps = 1e-5f;
  float rope_base = 10000.0f;
  float rope_linear_scale = 1.0f;  // positions are divided by this (rope.scaling.type = linear)
  RopeStyle rope_style = RopeStyle::kNormal;

  int32_t kv_dim() const { return n_head_kv * head_dim; }
  int32_t q_dim() const { return n_head * head_dim; }
};

// Reads and checks the hyper-parameters; an error names the missing or inconsistent key.
Result<Hparams> read_hparams(const GgufFile& file);

}  // namespace kuai::engine::model
