// One request's state inside the scheduler: its tokens (prompt then generated), its block table, where it
// is (waiting/running/finished). Owned by the Scheduler; the engine thread reads it during a step.
#pragma once

#include "engine/kv/kv_cache.h"
#include "engine/sched/request.h"

#include <cstdint>
#include <vector>

namespace kuai::engine::sched {

enum class SeqState { kWaiting, kRunning, kFinished };

struct Sequence {
  Request req;
  std::vector<int32_t> tokens;   // prompt + generated; tokens[table.n_tokens..] still to compute
  int32_t n_prompt = 0;
  int32_t max_total = 0;         // tokens.size() may not pass this (prompt + clamped max_tokens)
  kv::BlockTable table;
  SeqState state = SeqState::kWaiting;
  uint64_t arrival = 0;          // submission order: lower = older = higher priority
  int32_t n_preempted = 0;
  int32_t n_cached = -1;         // prefix-cache hit tokens at first admission (-1 before it)
  std::vector<double> embed_sum; // embed requests: sum of final hidden states so far, (n_embd)

  int32_t n_generated() const { return int32_t(tokens.size()) - n_prompt; }
  int32_t n_pending() const { return int32_t(tokens.size()) - table.n_tokens; }
  bool decoding() const { return state == SeqState::kRunning && n_pending() == 1 && n_generated() > 0; }
};

}  // namespace kuai::engine::sched
