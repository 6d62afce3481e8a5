// A teacher model run in the engine (engine/model: any weight type it loads, quantized included): its
// next-token distributions over a token sequence, and sequences sampled from it with fixed seeds.
// On-policy distillation also samples the student through this class (an engine copy of its weights).
// Threads: one Teacher is used by one thread at a time; its forward passes use the given pool.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/gguf/result.h"
#include "engine/model/llama_model.h"

namespace kuai::train {

class Teacher {
 public:
  Teacher(const engine::model::LlamaModel& m, engine::ThreadPool& pool);
  int n_vocab() const { return model_.hparams().n_vocab; }
  const engine::model::LlamaModel& model() const { return model_; }

  // logits (n, n_vocab) for tokens[0..n) at positions 0..n-1.
  engine::Status logits(const int32_t* tokens, int n, float* out);
  // softmax(logits / temperature) per position, (n, n_vocab). top_k > 0: only the k most likely tokens
  // keep their probability, the remaining mass is spread evenly over the others (what a teacher that
  // only reports its top k gives).
  engine::Status probs(const int32_t* tokens, int n, float temperature, int top_k, float* out);
  // `prefix` (not empty) continued by sampling at temperature 1 (no filtering) until len tokens or
  // until `stop` (included) when stop >= 0. Same seed, same sequence.
  engine::Result<std::vector<int32_t>> sample(std::span<const int32_t> prefix, int len, uint64_t seed, int32_t stop);

 private:
  const engine::model::LlamaModel& model_;
  engine::model::ForwardState st_;
  std::vector<engine::model::BatchToken> batch_;
};

// softmax(z / temperature) with the top-k cut described above (k <= 0 or k >= n: no cut), in place.
void teacher_distribution(float* z, int n, float temperature, int top_k);

}  // namespace kuai::train
