// The embedded serving engine: one model, its paged KV cache, the continuous-batching scheduler and
// one engine thread that runs step after step (schedule → one batched forward pass over every scheduled
// sequence → sample → events), using the compute thread pool for the forward pass.
//
// Threads: submit(), cancel(), stats() and next_id() are safe from any thread and never block on a
// step (they take a short mutex). Event callbacks run on the engine thread, in order per request; they
// must be quick and must not block (post the event to your own executor). The last event of a request
// has `finish` set; after it the callback is dropped. The destructor stops the thread; requests still
// queued or running end with kCancelled.
// Never includes gateway headers: it reports what it counts to an EngineObserver, and the gateway
// (upstream/engine_metrics.h) exports that to Prometheus.
#pragma once

#include "engine/gguf/result.h"
#include "engine/kv/kv_cache.h"
#include "engine/model/llama_model.h"
#include "engine/sched/request.h"
#include "engine/sched/scheduler.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace kuai::engine::sched {

struct EngineOptions {
  uint64_t kv_memory_bytes = 512ull << 20;  // --kv-memory
  kv::KvType kv_type = kv::KvType::kF16;    // --kv-type
  int32_t block_tokens = 2;                 // tokens per KV block (engine.block_tokens; see docs/CONFIG.md)
  int32_t threads = 0;                      // compute threads, caller included; 0 = all cores
  int32_t max_batch_tokens = 512;           // tokens per step (chunked prefill)
  int32_t max_seqs = 64;                    // sequences in the running batch
  int32_t max_context = 0;                  // 0 = the model's trained context
  std::shared_ptr<class EngineObserver> observer = nullptr;  // told what each step did (null: nobody listens)
  bool profile = false;                     // time the phases of every step (EngineStats::profile)
  bool int8_gemm = true;                    // model::int8_gemm / float_gemm where preferred (false: kernels::matmul; benches)
};

// Seconds per phase of the engine thread, summed over steps (EngineOptions::profile).
struct EngineProfile {
  double schedule = 0;  // Scheduler::schedule + building the batch
  double forward = 0;   // LlamaModel::forward (split in `model`)
  double sample = 0;    // sampling every chunk that asked for a token
  double complete = 0;  // Scheduler::complete (append tokens, stop checks, KV commit)
  double dispatch = 0;  // event callbacks (LocalBackend: post to the request's channel)
  double idle = 0;      // waiting for work
  model::ForwardProfile model;
};

struct EngineStats {
  SchedulerStats sched;
  kv::KvStats kv;
  int64_t steps = 0;
  int64_t tokens_computed = 0;   // prompt + decode tokens through the model
  int64_t tokens_generated = 0;  // sampled tokens
  EngineProfile profile;         // zeros unless EngineOptions::profile
};

// What the engine counts as it runs, for whoever exports it (the gateway's upstream::EngineMetrics).
// Every call comes from the engine thread, in step order; each must be quick and must not block.
class EngineObserver {
 public:
  virtual ~EngineObserver() = default;
  // One forward pass: `tokens` through the model (prompt + decode) for `sequences` sequences.
  virtual void on_step(int64_t tokens, int32_t sequences) = 0;
  // A request's first sampled token, `seconds` after it was submitted.
  virtual void on_first_token(double seconds) = 0;
  // A request's next token, `seconds` after its previous one.
  virtual void on_next_token(double seconds) = 0;
  // `tokens` sampled in one step (all requests together).
  virtual void on_generated(int64_t tokens) = 0;
  // The engine's totals after a step (the same snapshot Engine::stats() returns).
  virtual void on_stats(const EngineStats& stats) = 0;
};

using EventCallback = std::function<void(const Event&)>;

class Engine {
 public:
  static Result<std::unique_ptr<Engine>> create(std::shared_ptr<const model::LlamaModel> model, EngineOptions opts);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const model::LlamaModel& model() const { return *model_; }
  const EngineOptions& options() const { return opts_; }
  int32_t max_context() const { return limits_.max_context; }
  int32_t kv_capacity_tokens() const { return kv_total_tokens_; }

  RequestId next_id() { return next_id_.fetch_add(1); }
  // Validates now (the same checks as the scheduler, plus token ids < n_vocab) and queues. An error
  // message means nothing was queued and the callback will never run.
  std::optional<std::string> submit(Request req, EventCallback on_event);
  // Ends a request at once (its blocks are freed before the next step); its last event is kCancelled.
  // Unknown or finished ids are ignored.
  void cancel(RequestId id);

  EngineStats stats() const;

 private:
  struct Pending {
    Request req;
    EventCallback cb;
  };

  Engine(std::shared_ptr<const model::LlamaModel> model, EngineOptions opts, std::unique_ptr<kv::KvCache> kv);
  void loop();
  void step();
  void dispatch(std::vector<Event>& events);
  void publish_stats();

  std::shared_ptr<const model::LlamaModel> model_;
  EngineOptions opts_;
  SchedulerLimits limits_;
  std::unique_ptr<kv::KvCache> kv_;
  int32_t kv_total_tokens_ = 0;
  std::unique_ptr<Scheduler> sched_;
  struct Impl;
  std::unique_ptr<Impl> impl_;  // thread pool, forward state, samplers, metrics (engine thread only)

  std::atomic<RequestId> next_id_{1};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::vector<Pending> inbox_;
  std::vector<RequestId> cancels_;
  EngineStats stats_;  // guarded by mu_, refreshed after every step
  std::thread thread_;
};

}  // namespace kuai::engine::sched
