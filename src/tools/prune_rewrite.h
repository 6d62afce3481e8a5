// Writes the pruned model of a plan (prune_plan.h) as a standard llama / qwen2 GGUF: the kept layers renumbered
// 0..n-1; in each, the rows of attn_q / attn_k / attn_v and the columns of attn_output of the kept KV
// groups (with their query heads), the rows of ffn_gate / ffn_up and the columns of ffn_down of the kept
// channels. Metadata is copied with every shape key made true: block_count, attention.head_count,
// attention.head_count_kv, feed_forward_length, attention.key_length / value_length (the head width,
// which no longer follows from n_embd / n_head), and every per-layer array (`<arch>.*` of n_layer
// entries) cut to the kept layers.
//
// Types: a tensor keeps its type unless `type` names a quantize recipe. Rows kept whole are copied byte
// for byte; a tensor that loses columns is dequantized, cut and requantized (to its type, or to a
// fitting one when the new row length does not fill the type's blocks: see quantize.h fitting_type).
// With a compensation, attn_output and ffn_down rows are mixed, not cut (prune_compensate.h).
// The file is written under a temporary name and renamed (GgufWriter).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/gguf/result.h"

namespace kuai::engine {
class GgufFile;
}

namespace kuai::tools {

struct PrunePlan;
struct Compensation;

struct RewriteOptions {
  std::string type;   // "" = each tensor keeps its type; else a recipe of quantize_recipes()
  int n_threads = 2;
  // Not null: attn_output and ffn_down rows are the least-squares mix of the old row (prune_compensate.h)
  // instead of its kept columns.
  const Compensation* compensation = nullptr;
};

struct RewriteReport {
  uint64_t params_in = 0, params_out = 0;  // elements of every tensor
  std::vector<std::string> fallbacks;      // "name: q4_k -> q8_0"
};

engine::Status write_pruned(const engine::GgufFile& in, const PrunePlan& plan, const std::string& out_path,
                            const RewriteOptions& opt, RewriteReport* report = nullptr);

}  // namespace kuai::tools
