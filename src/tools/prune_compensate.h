// Least-squares compensation for width pruning (`kuai prune --compensate`). A projection that loses
// input columns (attn_output without a KV group's heads, ffn_down without FFN channels) no longer sees
// those inputs; llama has no biases to absorb their mean, but the kept columns can absorb the part of
// the removed inputs that they predict. Over the calibration tokens X (tokens x inputs), the kept
// columns K of W become
//     W'_K = argmin ||X W^T - X_K W'_K^T||^2 = W G[:, K] (G[K, K] + damp I)^-1,   G = X^T X,
// (the one-shot update of SparseGPT/ZipLM-style reconstruction, on the original model's activations),
// damp = `damp` times the mean diagonal of G[K, K] so a near-singular G stays solvable. With every column
// kept the mix is the identity (up to the damping).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/gguf/result.h"
#include "engine/model/hparams.h"

namespace kuai::tools {

struct Importance;
struct PrunePlan;

// new_row = old_row * m: m is (in_cols, out_cols), row-major. Empty: a plain cut.
struct ColumnMix {
  int64_t in_cols = 0, out_cols = 0;
  std::vector<float> m;
  bool empty() const { return m.empty(); }
};

// Per kept layer (the new index): the mixes of attn_output and ffn_down; empty where nothing was cut.
struct Compensation {
  std::vector<ColumnMix> attn_output, ffn_down;
};

// Bytes of the Gram matrices compensation needs for a model of this shape; `kuai prune --compensate`
// refuses models above the limit.
uint64_t compensation_gram_bytes(const engine::model::Hparams& h);
inline constexpr uint64_t kMaxCompensationGramBytes = uint64_t(4) << 30;

// Needs imp's Gram matrices (CalibOptions::gram). Errors: no Gram matrices, a matrix that stays
// singular after damping.
engine::Result<Compensation> compensate(const engine::model::Hparams& h, const Importance& imp,
                                        const PrunePlan& plan, double damp = 0.01);

}  // namespace kuai::tools
