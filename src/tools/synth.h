// `kuai synth`: writes a llama-family GGUF (or a BERT-family embedder's) of a real model's shape with
// seeded random weights (speed does not depend on weight values, so these are the benchmark models),
// plus a generated tokenizer vocabulary of the right size (SentencePiece-style for llama presets,
// byte-level BPE with merges for qwen2, WordPiece for bert) so the file loads in other GGUF tools too.
// Same preset, type and seed -> same bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/gguf/result.h"

namespace kuai::tools {

struct SynthPreset {
  std::string name;
  std::string arch;  // "llama" | "qwen2" | "bert" (n_head_kv = n_head; rms_eps is its LayerNorm epsilon)
  int32_t n_vocab, n_ctx, n_embd, n_layer, n_head, n_head_kv, n_ff;
  float rope_base, rms_eps;
  bool tied_embeddings;
};

// tinyllama-1.1b, qwen2.5-0.5b, stories110m, bge-small (bert), and tiny / tiny-qwen2 (2 layers of
// width 256) and tiny-bert (2 layers of width 128) for tests.
const std::vector<SynthPreset>& synth_presets();
const SynthPreset* find_synth_preset(const std::string& name);

struct SynthOptions {
  std::string preset = "tiny";
  std::string type = "f32";  // any recipe of quantize_recipes() (q4_k_m too)
  uint64_t seed = 1;
  float weight_std = 0.02f;
  std::string pooling = "mean";  // bert presets: bert.pooling_type, "mean" (1) or "cls" (2)
  int n_threads = 2;
  std::function<void(double)> progress;
};

engine::Status synth_model(const std::string& out_path, const SynthOptions& opt);

}  // namespace kuai::tools
