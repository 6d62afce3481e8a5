// Picks the next token from a logits row: repetition / frequency / presence penalties over the recent
// tokens, then greedy (temperature <= 0) or temperature scaling, top-k, top-p (nucleus) and min-p
// filtering and a draw from the remaining distribution. The random source is a seeded 64-bit Mersenne
// Twister turned into doubles by bit arithmetic, so one seed gives one output on every platform.
// Threads: a Sampler belongs to one sequence and one thread at a time.
#pragma once

#include <cstdint>
#include <deque>
#include <random>
#include <span>
#include <unordered_map>
#include <vector>

namespace kuai::engine::sample {

struct SamplerParams {
  float temperature = 0.8f;     // <= 0: greedy (argmax; ties go to the lowest id)
  int32_t top_k = 40;           // <= 0: off
  float top_p = 0.95f;          // >= 1: off
  float min_p = 0.05f;          // <= 0: off; drops tokens with p < min_p * p(best)
  float repeat_penalty = 1.0f;  // 1: off; logit / penalty if > 0, * penalty otherwise (llama.cpp's rule)
  float frequency_penalty = 0;  // subtracted once per earlier occurrence
  float presence_penalty = 0;   // subtracted once if the token occurred
  int32_t penalty_last_n = 64;  // how many recent tokens the penalties look at
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplerParams& params);

  // Chooses a token from logits (n_vocab values; modified in place by penalties). Does not record it:
  // call accept() with the token actually used (also for prompt tokens, so penalties see them).
  int32_t sample(std::span<float> logits);
  void accept(int32_t token);
  void reset();

  const SamplerParams& params() const { return params_; }

 private:
  void apply_penalties(std::span<float> logits) const;
  double uniform();  // [0, 1)

  SamplerParams params_;
  std::mt19937_64 rng_;
  std::deque<int32_t> recent_;
  std::vector<std::pair<float, int32_t>> cand_;  // scratch: (logit or prob, id)
};

// argmax with ties to the lowest id.
int32_t sample_greedy(std::span<const float> logits);

}  // namespace kuai::engine::sample
