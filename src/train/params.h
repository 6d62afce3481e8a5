// A model's parameters: its config and one flat float array laid out by Layout (model_config.h).
// Read from a llama GGUF (any weight type the engine reads, converted to float) or initialised from
// a seed; written as an F32 llama GGUF that kuai and llama.cpp load.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/gguf/result.h"
#include "train/model_config.h"

namespace kuai::engine {
class GgufFile;
class GgufWriter;
}  // namespace kuai::engine

namespace kuai::train {

struct Params {
  ModelConfig config;
  std::vector<float> data;  // Layout(config).n_params floats
};

// Matrices ~ N(0, std), the output projections of each block (attn_output, ffn_down) scaled by
// 1/sqrt(2 n_layer) (GPT-2), norm weights 1. Same config and seed -> same values.
Params init_params(const ModelConfig& c, uint64_t seed, float std = 0.02f);

// The shape of a llama-architecture GGUF (errors: other architectures, partial RoPE, RoPE scaling).
engine::Result<ModelConfig> read_config(const engine::GgufFile& f);

// Reads a llama-architecture GGUF's weights (errors: other architectures, missing tensors, shapes).
engine::Result<Params> read_params(const engine::GgufFile& f);
// The same, opening the file first (errors: unreadable or broken GGUF, then read_params's).
engine::Result<Params> read_params_file(const std::string& path);

// Whether each parameter gets weight decay (matrices yes, norm weights no).
std::vector<uint8_t> decay_mask(const ModelConfig& c);

// Adds the llama metadata and every tensor of p (F32, data copied) to w; with `tokenizer` every
// `tokenizer.*` key of that file is copied (its vocabulary must have c.n_vocab tokens).
engine::Status add_model(engine::GgufWriter& w, const Params& p, const engine::GgufFile* tokenizer,
                         const std::string& name);

// add_model + write (to path.tmp, renamed over path: never a half-written file).
engine::Status write_model(const std::string& path, const Params& p, const engine::GgufFile* tokenizer,
                           const std::string& name);

}  // namespace kuai::train
