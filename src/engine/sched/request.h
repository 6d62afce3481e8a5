// What a caller asks the engine for, and what comes back, token by token. Engine-only types (no gateway).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kuai::engine::sched {

using RequestId = uint64_t;

// Per-request sampling (temperature 0 = greedy). Penalties look back over `penalty_last_n` tokens.
struct SamplingParams {
  float temperature = 0.0f;
  int32_t top_k = 0;          // 0 = off
  float top_p = 1.0f;         // 1 = off
  float min_p = 0.0f;         // 0 = off
  float repeat_penalty = 1.0f;
  float frequency_penalty = 0.0f;
  float presence_penalty = 0.0f;
  int32_t penalty_last_n = 64;
  uint64_t seed = 0;
};

struct Request {
  RequestId id = 0;
  std::vector<int32_t> prompt;      // token ids, non-empty
  int32_t max_tokens = 256;         // tokens to generate at most (> 0), clamped to the context left
  std::vector<int32_t> stop_tokens; // generation ends when one is sampled (it is not emitted); add EOS here
  SamplingParams sampling;
  bool embed = false;               // no generation: mean-pooled final hidden state of the prompt
};

enum class FinishReason { kNone, kStop, kLength, kCancelled, kError };

inline std::string_view finish_reason_name(FinishReason f) {
  switch (f) {
    case FinishReason::kNone: return "";
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kError: return "error";
  }
  return "";
}

// One thing that happened to a request. A generating request gets one event per sampled token; the
// last event has `finish` set. `token` is -1 when there is no token to show (a stop token, a cancel).
struct Event {
  RequestId id = 0;
  int32_t token = -1;
  FinishReason finish = FinishReason::kNone;
  int32_t n_prompt = 0;       // usage: prompt tokens
  int32_t n_generated = 0;    // usage: tokens generated so far (stop token not counted)
  int32_t n_cached = 0;       // prompt tokens served from the prefix cache (first admission)
  std::vector<float> embedding;  // embed requests, on the finishing event: L2-normalised
  std::string error;             // kError: why
};

}  // namespace kuai::engine::sched
