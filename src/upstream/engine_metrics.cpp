#include "upstream/engine_metrics.h"

#include "obs/metrics.h"

namespace kuai::upstream {

EngineMetrics::EngineMetrics(obs::Metrics& m, const std::string& model) {
  const prometheus::Labels l{{"model", model}};
  running_ = &m.gauge("kuai_engine_running_sequences", "Sequences in the engine's running batch").Add(l);
  waiting_ = &m.gauge("kuai_engine_waiting_sequences", "Requests queued for the engine").Add(l);
  batch_tokens_ = &m.gauge("kuai_engine_batch_tokens", "Tokens computed in the last engine step").Add(l);
  batch_seqs_ = &m.gauge("kuai_engine_batch_sequences", "Sequences in the last engine step").Add(l);
  batch_size_ = &m.histogram("kuai_engine_batch_size", "Sequences per engine step")
                     .Add(l, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256});
  preemptions_ = &m.counter("kuai_engine_preemptions_total", "Sequences preempted (recompute) for KV memory").Add(l);
  generated_ = &m.counter("kuai_engine_generated_tokens_total", "Tokens sampled by the engine").Add(l);
  computed_ = &m.counter("kuai_engine_computed_tokens_total", "Tokens run through the model (prompt + decode)").Add(l);
  ttft_ = &m.histogram("kuai_engine_ttft_seconds", "Engine time to first token (submit to first sampled token)")
               .Add(l, obs::Metrics::latency_buckets());
  itl_ = &m.histogram("kuai_engine_inter_token_seconds", "Engine time between consecutive tokens of a request")
              .Add(l, obs::Metrics::latency_buckets());
  blocks_used_ = &m.gauge("kuai_kv_blocks_used", "KV blocks held by sequences").Add(l);
  blocks_free_ = &m.gauge("kuai_kv_blocks_free", "KV blocks empty").Add(l);
  blocks_cached_ = &m.gauge("kuai_kv_blocks_cached", "KV blocks free but kept for prefix reuse (LRU)").Add(l);
  waste_ = &m.gauge("kuai_kv_waste_ratio", "Allocated but unused KV token slots / allocated slots").Add(l);
  prefix_hit_ = &m.counter("kuai_kv_prefix_hit_tokens_total", "Prompt tokens served from the KV prefix cache").Add(l);
  prefix_query_ = &m.counter("kuai_kv_prefix_query_tokens_total", "Prompt tokens looked up in the KV prefix cache").Add(l);
}

void EngineMetrics::on_step(int64_t tokens, int32_t sequences) {
  computed_->Increment(double(tokens));
  batch_size_->Observe(double(sequences));
}

void EngineMetrics::on_first_token(double seconds) { ttft_->Observe(seconds); }
void EngineMetrics::on_next_token(double seconds) { itl_->Observe(seconds); }
void EngineMetrics::on_generated(int64_t tokens) { generated_->Increment(double(tokens)); }

void EngineMetrics::on_stats(const engine::sched::EngineStats& s) {
  running_->Set(s.sched.running);
  waiting_->Set(s.sched.waiting);
  batch_tokens_->Set(s.sched.last_batch_tokens);
  batch_seqs_->Set(s.sched.last_batch_seqs);
  blocks_used_->Set(s.kv.pool.used_blocks);
  blocks_free_->Set(s.kv.pool.free_blocks);
  blocks_cached_->Set(s.kv.pool.cached_blocks);
  waste_->Set(s.kv.pool.waste());
  preemptions_->Increment(double(s.sched.preemptions - last_preemptions_));
  prefix_hit_->Increment(double(s.kv.prefix_hit_tokens - last_prefix_hit_));
  prefix_query_->Increment(double(s.kv.prefix_query_tokens - last_prefix_query_));
  last_preemptions_ = s.sched.preemptions;
  last_prefix_hit_ = s.kv.prefix_hit_tokens;
  last_prefix_query_ = s.kv.prefix_query_tokens;
}

}  // namespace kuai::upstream
