// Importance of a llama model's layers, KV groups and FFN channels, measured on calibration tokens
// (`kuai prune`). Deterministic: same model, tokens and options -> same numbers (sums in double, in
// token order, on the caller's thread).
//
// Layers, from the residual stream at the layer boundaries (boundary i = the input of layer i;
// boundary n_layer = the output of the last layer), mean over calibration tokens:
// - block influence (ShortGPT): BI(l) = 1 - cos(h_l, h_{l+1}); low = the layer changes little.
// - angular distance over n consecutive blocks (Gromov et al.): arccos(cos(h_l, h_{l+n})) / pi.
// With gram: the Gram matrices of the inputs of attn_output and ffn_down, for the least-squares update
// of the kept columns (prune_compensate.h).
// Width, per layer (Wanda-style, weights times input activation norms, summed per structure):
// - activation: column j of a projection scores sum_i |W_ij| * ||X_j||_2 over the calibration tokens;
//   a KV group sums the attn_output columns of its query heads, an FFN channel is its ffn_down column.
// - fluctuation (FLAP): column j scores var(X_j) * ||W_:j||_2^2 (how much the output moves when the
//   channel is replaced by its mean), summed the same way.
// - taylor (first order, LLM-Pruner's element-wise form; add_taylor_importance): sum |w * dL/dw| over a
//   structure's weights, L the mean next-token cross-entropy of the calibration text, from the training
//   core's backward pass: a KV group's query heads' attn_q rows and attn_output columns and its kv
//   head's attn_k and attn_v rows; an FFN channel's ffn_gate and ffn_up rows and ffn_down column.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/gguf/result.h"

namespace kuai::engine {
class GgufFile;
class ThreadPool;
}
namespace kuai::engine::model {
class LlamaModel;
}

namespace kuai::tools {

struct Importance {
  int n_layer = 0, n_head = 0, n_head_kv = 0, n_ff = 0;
  int64_t n_tokens = 0;  // calibration tokens seen
  // (n_layer + 1, n_layer + 1): mean cosine between boundaries i and j (symmetric, 1 on the diagonal).
  std::vector<double> boundary_cos;
  // (n_layer, n_head_kv) and (n_layer, n_ff), row-major.
  std::vector<double> group_activation, group_fluctuation;
  std::vector<double> channel_activation, channel_fluctuation;
  std::vector<double> group_taylor, channel_taylor;  // empty until add_taylor_importance
  // Per layer, with CalibOptions::gram: X^T X of the attn_output input (q_dim^2) and of the ffn_down
  // input (n_ff^2), row-major, summed over the calibration tokens (prune_compensate.h).
  std::vector<std::vector<double>> attn_gram, ffn_gram;

  double cosine(int i, int j) const { return boundary_cos[size_t(i) * size_t(n_layer + 1) + size_t(j)]; }
  double block_influence(int layer) const { return 1.0 - cosine(layer, layer + 1); }
  double angular_distance(int first_layer, int n_layers) const;
};

struct CalibOptions {
  int n_ctx = 128;          // tokens per forward window (each window a fresh KV cache)
  int max_tokens = 4096;    // calibration tokens used at most
  bool gram = false;        // also collect the Gram matrices (n_layer * (q_dim^2 + n_ff^2) doubles)
};

// tokens: the calibration text's ids. Errors: fewer than 2 tokens, forward errors, unreadable weights.
engine::Result<Importance> measure_importance(const engine::model::LlamaModel& model, std::span<const int32_t> tokens,
                                              const CalibOptions& opt, engine::ThreadPool& pool);

// Fills group_taylor and channel_taylor from the model file's weights (read as floats by the training
// core: a pass costs a training step per calibration window). Errors: a file the training core cannot
// read, a model of another shape than `imp`'s.
engine::Status add_taylor_importance(const engine::GgufFile& file, std::span<const int32_t> tokens,
                                     const CalibOptions& opt, Importance& imp);

}  // namespace kuai::tools
