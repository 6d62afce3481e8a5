// Iteration-level scheduler (continuous batching) over the paged KV cache.
//
// Every step, schedule() decides which tokens of which sequences the model computes together:
//   1. running sequences with one pending token (decoding), oldest first;
//   2. running sequences still in prefill, a chunk each (chunked prefill: at most max_batch_tokens
//      tokens per step in all, so a long prompt never stalls the others' decoding);
//   3. waiting requests join (oldest first) while tokens, sequence slots and KV blocks allow; a joining
//      request first takes the cached blocks of its longest known prefix (prefix sharing).
// When a running sequence needs a block and none is left, the youngest running sequence is preempted
// (recompute: its blocks are released — full ones stay in the prefix cache — and it goes back to the
// front of the queue with its generated tokens appended to its prompt). submit() rejects a request that
// could not fit in the KV pool even alone, so the oldest sequence always progresses: never a crash,
// never an allocation failure.
// After the model ran, complete() takes one sampled token per chunk that asked for one, appends it,
// applies stop tokens / max_tokens / context limit and returns the events.
// Thread-safety: none; owned by the engine thread.
#pragma once

#include "engine/kv/kv_cache.h"
#include "engine/sched/request.h"
#include "engine/sched/sequence.h"

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace kuai::engine::sched {

struct SchedulerLimits {
  int32_t max_batch_tokens = 512;  // tokens computed per step, all sequences together
  int32_t max_seqs = 64;           // sequences in the running set
  int32_t max_context = 2048;      // the model's context length (prompt + generated)
};

// One sequence's share of a step: positions [start, start + n_tokens) of seq->tokens.
struct Chunk {
  Sequence* seq = nullptr;
  int32_t start = 0;
  int32_t n_tokens = 0;
  bool sample = false;  // the chunk ends at the last token: the model must return its logits
  bool embed = false;   // the model must return final hidden states of these positions (embed requests)
};

struct StepPlan {
  std::vector<Chunk> chunks;
  int32_t n_tokens = 0;
  bool empty() const { return chunks.empty(); }
};

struct SchedulerStats {
  int32_t running = 0;
  int32_t waiting = 0;
  int64_t preemptions = 0;
  int64_t finished = 0;
  int32_t last_batch_tokens = 0;
  int32_t last_batch_seqs = 0;
};

class Scheduler {
 public:
  Scheduler(kv::KvCache& kv, SchedulerLimits limits);
  ~Scheduler();

  // Why a request can never run (empty prompt, max_tokens < 1, prompt not shorter than the context,
  // more KV than the whole pool, negative token ids), or nullopt. Pure: safe from any thread.
  static std::optional<std::string> validate(const Request& req, const SchedulerLimits& limits, int32_t total_blocks,
                                             int32_t block_tokens);
  // Queues a request; an error message (nothing queued) when validate() fails or the id is in use.
  std::optional<std::string> submit(Request req);
  // Drops a waiting or running request and frees its blocks at once; its kCancelled event comes with
  // the next complete() or take_events(). False when the id is unknown (finished or never submitted).
  bool cancel(RequestId id);
  // Like cancel, but the request ends with kError and `error` (e.g. the forward pass failed).
  bool fail(RequestId id, std::string error);

  StepPlan schedule();
  // `sampled[i]` is the token sampled for plan.chunks[i] (read only where chunks[i].sample);
  // `hidden(i)` gives chunk i's final hidden states, (n_tokens, n_embd), where chunks[i].embed.
  std::vector<Event> complete(const StepPlan& plan, std::span<const int32_t> sampled,
                              std::span<const std::span<const float>> hidden = {});
  // Events produced outside a step (cancellations).
  std::vector<Event> take_events();

  bool idle() const { return running_.empty() && waiting_.empty(); }
  SchedulerStats stats() const;
  const SchedulerLimits& limits() const { return limits_; }
  kv::KvCache& kv() { return kv_; }

 private:
  bool try_reserve_or_preempt(Sequence& seq, int32_t n_tokens, StepPlan& plan, int32_t& budget);
  void preempt(Sequence& victim, StepPlan& plan, int32_t& budget);
  void finish(Sequence& seq, FinishReason why, std::vector<Event>& out, Event ev);

  kv::KvCache& kv_;
  SchedulerLimits limits_;
  std::unordered_map<RequestId, std::unique_ptr<Sequence>> seqs_;
  std::deque<Sequence*> waiting_;
  std::vector<Sequence*> running_;  // admission order
  std::vector<Event> pending_events_;
  uint64_t next_arrival_ = 0;
  int64_t preemptions_ = 0;
  int64_t finished_ = 0;
  int32_t last_batch_tokens_ = 0;
  int32_t last_batch_seqs_ = 0;
};

}  // namespace kuai::engine::sched
