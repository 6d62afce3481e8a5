// `kuai quantize`: rewrites a llama-family GGUF with its weight matrices in another type. All metadata
// is copied (general.file_type updated); norms, biases and other 1-D tensors stay as they are.
// Recipes: one type for every matrix (q8_0, q4_0, q4_k, q6_k, f16, bf16, f32), or q4_k_m, llama.cpp's
// mixed recipe: Q4_K everywhere except output.weight (and a tied token_embd) and, in the first and
// last eighth of the layers and every third layer between, attn_v and ffn_down, which get Q6_K.
// A matrix whose row length is not a multiple of the chosen type's block falls back to a type whose
// block fits (K-quants -> Q8_0 -> F16). Rows are quantized on the thread pool.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/gguf/ggml_type.h"
#include "engine/gguf/result.h"

namespace kuai::engine {
struct GgufTensor;
}

namespace kuai::tools {

struct QuantizeOptions {
  std::string recipe = "q8_0";  // a type name or "q4_k_m"
  int n_threads = 2;
  std::function<void(double fraction)> progress;  // called from the caller's thread
};

struct QuantizeReport {
  uint64_t bytes_in = 0;   // tensor data bytes
  uint64_t bytes_out = 0;
  int n_quantized = 0;     // matrices converted
  int n_fallback = 0;      // of those, matrices that got a fallback type
  std::vector<std::string> fallbacks;  // "name: q4_k -> q8_0"
};

// Recipe names accepted by quantize_model ("q8_0", ..., "q4_k_m").
const std::vector<std::string>& quantize_recipes();

// The type a matrix gets under a recipe (before the block-size fallback). layer = -1 for non-layer tensors.
engine::GgmlType recipe_type(const std::string& recipe, const std::string& tensor_name, int layer, int n_layer,
                             bool has_output);
// llama.cpp's `general.file_type` (llama_ftype) of a recipe.
uint32_t recipe_file_type(const std::string& recipe);
// The fallback when `type`'s block does not divide the row length.
engine::GgmlType fitting_type(engine::GgmlType type, int64_t row_length);

// A weight matrix (2-D, not a norm): what a recipe quantizes.
bool is_weight_matrix(const engine::GgufTensor& t);

engine::Status quantize_model(const std::string& in_path, const std::string& out_path, const QuantizeOptions& opt,
                              QuantizeReport* report = nullptr);

}  // namespace kuai::tools
