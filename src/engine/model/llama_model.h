// A llama-family transformer (llama: TinyLlama, Llama 2/3 shapes with grouped-query attention; qwen2:
// the same plus q/k/v biases and neox RoPE), loaded from a GGUF file and run on the CPU.
//
// Weight matrices of the types with matmul kernels (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K) are read
// once from the file's mapping into memory on huge pages (kernels/huge_pages.h): Q4_0 and Q8_0, where
// int8_gemm runs (avx2 level and above), repacked into int8_pack.h's interleaved layout
// (WeightView::packed), the others copied as they are (WeightView::data moves to the copy). As many
// bytes again as the matrices in the file, while the file's pages of them go cold (the embedding lookup
// and tools still read the mapping); 1-D tensors (norms, biases) are converted to F32 copies. Without
// output.weight the token embedding is used as the output projection (tied embeddings).
//
// forward() takes a batch of tokens, possibly of several sequences, each at its own position: a
// prompt of one sequence is one call (prefill: every linear layer is a matrix-matrix product), and a
// decode step of many sequences is one call too (engine/sched builds those batches).
// Threads: the model is immutable after load; forward() may run from one thread per ForwardState,
// and it uses the pool in that state for its parallel sections.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/gguf/result.h"
#include "engine/kernels/matmul.h"
#include "engine/model/hparams.h"
#include "engine/model/kv_view.h"
#include "engine/model/weight_product.h"

namespace kuai::engine {
class GgufFile;
class ThreadPool;
}  // namespace kuai::engine

namespace kuai::engine::model {

struct LayerWeights {
  const float* attn_norm = nullptr;  // (n_embd)
  kernels::WeightView wq, wk, wv;    // (q_dim, n_embd), (kv_dim, n_embd), (kv_dim, n_embd)
  const float* bq = nullptr;         // qwen2 biases: (q_dim), (kv_dim), (kv_dim); nullptr for llama
  const float* bk = nullptr;
  const float* bv = nullptr;
  kernels::WeightView wo;            // (n_embd, q_dim)
  const float* ffn_norm = nullptr;   // (n_embd)
  kernels::WeightView w_gate, w_up;  // (n_ff, n_embd)
  kernels::WeightView w_down;        // (n_embd, n_ff)
};

// One token of a batch.
struct BatchToken {
  int32_t token = 0;
  int32_t pos = 0;        // position in its sequence (< that sequence's kv capacity)
  int32_t seq = 0;        // index into the `seqs` span given to forward()
  bool output = false;    // produce logits (and hidden state) for this token
};

// Seconds spent per phase of forward(), accumulated over calls when ForwardState::profile is set
// (benchmarks; costs two clock reads per phase per layer).
struct ForwardProfile {
  double embed = 0, norm = 0, matmul_qkv = 0, rope_kv_write = 0, attention = 0, matmul_wo = 0, matmul_ffn = 0,
         ffn_act = 0, matmul_down = 0, residual = 0, output = 0;
  int64_t calls = 0, tokens = 0;
  double total() const {
    return embed + norm + matmul_qkv + rope_kv_write + attention + matmul_wo + matmul_ffn + ffn_act + matmul_down +
           residual + output;
  }
};

// Sees the activations of forward() (tools/prune measures importance with it). Called on the thread
// running forward(), between its parallel sections; unset (the default) it costs one branch per point.
class ForwardObserver {
 public:
  enum class Point {
    kLayerInput,   // residual stream entering layer `layer`: (n_tokens, n_embd)
    kAttnOutput,   // attention output, the input of attn_output: (n_tokens, q_dim), head after head
    kFfnHidden,    // SwiGLU output, the input of ffn_down: (n_tokens, n_ff)
    kLayerOutput,  // residual stream leaving layer `layer`: (n_tokens, n_embd)
  };
  virtual ~ForwardObserver() = default;
  // rows: n_tokens rows of `width` floats, contiguous, in batch order; valid during the call only.
  virtual void observe(Point point, int layer, const float* rows, int n_tokens, int width) = 0;
};

// Per-caller buffers, reused between calls; holds the pool the forward pass uses.
struct ForwardState {
  explicit ForwardState(ThreadPool& p) : pool(&p) {}
  ThreadPool* pool;
  std::vector<float> x, xn, q, k, v, att, gate, up, ffn, out_x;
  std::vector<float> rope;           // (tokens, n_rot): each token's RoPE cos/sin (kernels::rope_angles)
  std::vector<float> attn_scratch;  // per pool thread
  std::vector<int32_t> attn_lim;    // per pool thread: each query row's visible keys in a chunk
  std::vector<const uint16_t*> attn_rows;  // per pool thread: a chunk's K then V row pointers (F16 caches)
  std::vector<const uint8_t*> attn_rows_q8;  // the same for Q8_0 caches
  std::vector<int> attn_blocks;     // attention's query blocks (first batch token of each)
  WeightProductScratch products;
  bool int8_gemm = true;              // int8_gemm / kquant_gemm / float_gemm where preferred (false: kernels::matmul only)
  ForwardProfile* profile = nullptr;  // optional phase timers (not owned)
  ForwardObserver* observer = nullptr;  // optional activation observer (not owned)
};

class LlamaModel {
 public:
  // Loads weights from an opened GGUF file (the model keeps it alive). Errors: unsupported
  // architecture, missing tensors or metadata, unsupported tensor types, vocab-only files, bad shapes.
  static Result<std::unique_ptr<LlamaModel>> load(std::shared_ptr<const GgufFile> file);
  static Result<std::unique_ptr<LlamaModel>> load(const std::string& path);

  const Hparams& hparams() const { return hp_; }
  const GgufFile& file() const { return *file_; }
  // Bytes of weights one token's forward pass reads (all matrices once; the embedding row aside).
  uint64_t weight_bytes_per_token() const;
  // Total parameter count.
  uint64_t n_params() const { return n_params_; }

  std::unique_ptr<SequenceKv> make_kv_cache(int32_t capacity) const;

  // Runs the batch. logits: (number of output tokens, n_vocab) floats in batch order; hidden (optional):
  // (number of output tokens, n_embd) final-normed hidden states. Every token's K/V row is written to
  // its sequence's cache; a token attends to positions [0, pos] of its sequence, which must all be
  // written by now or in this batch. Errors: bad token id or position.
  Status forward(std::span<const BatchToken> batch, std::span<SequenceKv* const> seqs, ForwardState& st,
                 float* logits, float* hidden = nullptr) const;

 private:
  LlamaModel() = default;
  Status load_weights();
  void pack_weights();
  void attention(std::span<const BatchToken> batch, std::span<SequenceKv* const> seqs, int layer,
                 ForwardState& st) const;

  std::shared_ptr<const GgufFile> file_;
  Hparams hp_;
  kernels::WeightView tok_embd_;  // (n_vocab, n_embd)
  const float* output_norm_ = nullptr;
  kernels::WeightView output_;    // (n_vocab, n_embd); = tok_embd_ when tied
  std::vector<LayerWeights> layers_;
  std::vector<float> rope_inv_freq_;  // (n_rot / 2)
  std::vector<std::unique_ptr<float[]>> owned_;  // F32 copies of 1-D tensors not stored as F32
  std::vector<PackedWeight> packed_;  // the matrices on huge pages: int8_gemm's packed copies, copies of the rest
  uint64_t n_params_ = 0;
};

}  // namespace kuai::engine::model
