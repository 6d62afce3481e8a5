// A BERT-family sentence embedder (GGUF architecture "bert": bge-small/base, all-MiniLM, e5, …),
// loaded from a GGUF file and run on the CPU: token + learned position + token-type embeddings,
// LayerNorm, post-norm encoder layers with bidirectional attention and GELU FFNs (biases everywhere),
// then mean or CLS pooling and L2 normalisation (what llama.cpp's llama-embedding computes with
// `--embd-normalize 2`).
//
// Unlike LlamaModel there is no KV cache: a call embeds whole sequences, since every token attends to
// every other of its sequence (several sequences share the weight products: embed_batch). Weights stay in the file's mapping
// (model/weight_loader.h; Q4_0/Q8_0 also packed for int8_gemm, as LlamaModel does); every matrix type
// the matmul kernels take is accepted, and products go through model/weight_product.h.
// Threads: immutable after load; embed() may run from one thread per BertState at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/gguf/result.h"
#include "engine/kernels/matmul.h"
#include "engine/model/weight_product.h"

namespace kuai::engine {
class GgufFile;
class ThreadPool;
}  // namespace kuai::engine

namespace kuai::engine::model {

enum class Pooling { kMean, kCls };

struct BertHparams {
  int32_t n_vocab = 0;
  int32_t n_ctx_train = 0;  // learned positions: the longest sequence the model can embed
  int32_t n_embd = 0;
  int32_t n_layer = 0;
  int32_t n_head = 0;
  int32_t n_ff = 0;
  int32_t n_token_types = 0;  // 0: the file has no token-type embeddings
  float norm_eps = 1e-12f;
  Pooling pooling = Pooling::kMean;  // bert.pooling_type: 1 mean (also the default), 2 cls
};

// Per-caller buffers, reused between calls; holds the pool the forward pass uses.
struct BertState {
  explicit BertState(ThreadPool& p) : pool(&p) {}
  ThreadPool* pool;
  std::vector<float> x, q, k, v, att, proj, ffn;
  std::vector<float> head, scores;  // attention: one head's q, k, v^T and output; its (n, n) scores
  WeightProductScratch products;
};

class BertModel {
 public:
  // Errors: another architecture, missing tensors or metadata, unsupported tensor types, bad shapes,
  // a causal (decoder) file, a pooling type other than mean or cls.
  static Result<std::unique_ptr<BertModel>> load(std::shared_ptr<const GgufFile> file);
  static Result<std::unique_ptr<BertModel>> load(const std::string& path);

  const BertHparams& hparams() const { return hp_; }
  const GgufFile& file() const { return *file_; }
  uint64_t n_params() const { return n_params_; }

  // The L2-normalised pooled embedding (n_embd floats) of one token sequence (special tokens
  // included, as the tokenizer adds them). Errors: empty input, more tokens than n_ctx_train, a bad id.
  Result<std::vector<float>> embed(std::span<const int32_t> tokens, BertState& st) const;
  // Several sequences at once: their tokens go through every weight product as one batch (what makes
  // many short inputs cheap), attention stays within each sequence; the same vectors as embed() one by
  // one, up to the summation order of the batched kernels. Errors: embed()'s, for any sequence.
  Result<std::vector<std::vector<float>>> embed_batch(std::span<const std::span<const int32_t>> seqs,
                                                      BertState& st) const;

 private:
  struct Layer {
    kernels::WeightView wq, wk, wv, wo, w_up, w_down;
    const float *bq = nullptr, *bk = nullptr, *bv = nullptr, *bo = nullptr, *b_up = nullptr, *b_down = nullptr;
    const float *attn_norm = nullptr, *attn_norm_b = nullptr;  // after attention + residual
    const float *out_norm = nullptr, *out_norm_b = nullptr;    // after the FFN + residual
  };

  BertModel() = default;
  Status load_weights();
  void attention(int row0, int n, BertState& st) const;

  std::shared_ptr<const GgufFile> file_;
  BertHparams hp_;
  kernels::WeightView tok_embd_, pos_embd_, type_embd_;
  const float *embd_norm_ = nullptr, *embd_norm_b_ = nullptr;
  std::vector<Layer> layers_;
  std::vector<std::unique_ptr<float[]>> owned_;
  std::vector<PackedWeight> packed_;  // int8_gemm's copies of Q4_0 / Q8_0 matrices
  uint64_t n_params_ = 0;
};

}  // namespace kuai::engine::model
