#include "engine/sched/engine.h"

#include "engine/model/llama_model.h"
#include "engine/sample/sampler.h"
#include "engine/sched/paged_kv.h"
#include "engine/threads/thread_pool.h"
#include "obs/metrics.h"

#include <algorithm>
#include <chrono>
#include <unordered_map>

namespace kuai::engine::sched {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

sample::SamplerParams to_sampler(const SamplingParams& p) {
  sample::SamplerParams s;
  s.temperature = p.temperature;
  s.top_k = p.top_k;
  s.top_p = p.top_p;
  s.min_p = p.min_p;
  s.repeat_penalty = p.repeat_penalty;
  s.frequency_penalty = p.frequency_penalty;
  s.presence_penalty = p.presence_penalty;
  s.penalty_last_n = p.penalty_last_n;
  s.seed = p.seed;
  return s;
}

bool plain_greedy(const SamplingParams& p) {
  return p.temperature <= 0 && p.repeat_penalty == 1.0f && p.frequency_penalty == 0 && p.presence_penalty == 0;
}

// kuai_engine_* and kuai_kv_* series of one model; all null when no registry was given.
struct EngineMetrics {
  prometheus::Gauge* running = nullptr;
  prometheus::Gauge* waiting = nullptr;
  prometheus::Gauge* batch_tokens = nullptr;
  prometheus::Gauge* batch_seqs = nullptr;
  prometheus::Histogram* batch_size = nullptr;
  prometheus::Counter* preemptions = nullptr;
  prometheus::Counter* generated = nullptr;
  prometheus::Counter* computed = nullptr;
  prometheus::Histogram* ttft = nullptr;
  prometheus::Histogram* itl = nullptr;
  prometheus::Gauge* blocks_used = nullptr;
  prometheus::Gauge* blocks_free = nullptr;
  prometheus::Gauge* blocks_cached = nullptr;
  prometheus::Gauge* waste = nullptr;
  prometheus::Counter* prefix_hit = nullptr;
  prometheus::Counter* prefix_query = nullptr;
  int64_t last_preemptions = 0, last_prefix_hit = 0, last_prefix_query = 0;

  void init(obs::Metrics& m, const std::string& model) {
    const prometheus::Labels l{{"model", model}};
    running = &m.gauge("kuai_engine_running_sequences", "Sequences in the engine's running batch").Add(l);
    waiting = &m.gauge("kuai_engine_waiting_sequences", "Requests queued for the engine").Add(l);
    batch_tokens = &m.gauge("kuai_engine_batch_tokens", "Tokens computed in the last engine step").Add(l);
    batch_seqs = &m.gauge("kuai_engine_batch_sequences", "Sequences in the last engine step").Add(l);
    batch_size = &m.histogram("kuai_engine_batch_size", "Sequences per engine step")
                      .Add(l, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256});
    preemptions = &m.counter("kuai_engine_preemptions_total", "Sequences preempted (recompute) for KV memory").Add(l);
    generated = &m.counter("kuai_engine_generated_tokens_total", "Tokens sampled by the engine").Add(l);
    computed = &m.counter("kuai_engine_computed_tokens_total", "Tokens run through the model (prompt + decode)").Add(l);
    ttft = &m.histogram("kuai_engine_ttft_seconds", "Engine time to first token (submit to first sampled token)")
                .Add(l, obs::Metrics::latency_buckets());
    itl = &m.histogram("kuai_engine_inter_token_seconds", "Engine time between consecutive tokens of a request")
               .Add(l, obs::Metrics::latency_buckets());
    blocks_used = &m.gauge("kuai_kv_blocks_used", "KV blocks held by sequences").Add(l);
    blocks_free = &m.gauge("kuai_kv_blocks_free", "KV blocks empty").Add(l);
    blocks_cached = &m.gauge("kuai_kv_blocks_cached", "KV blocks free but kept for prefix reuse (LRU)").Add(l);
    waste = &m.gauge("kuai_kv_waste_ratio", "Allocated but unused KV token slots / allocated slots").Add(l);
    prefix_hit = &m.counter("kuai_kv_prefix_hit_tokens_total", "Prompt tokens served from the KV prefix cache").Add(l);
    prefix_query = &m.counter("kuai_kv_prefix_query_tokens_total", "Prompt tokens looked up in the KV prefix cache").Add(l);
  }

  void update(const EngineStats& s) {
    if (!running) return;
    running->Set(s.sched.running);
    waiting->Set(s.sched.waiting);
    batch_tokens->Set(s.sched.last_batch_tokens);
    batch_seqs->Set(s.sched.last_batch_seqs);
    blocks_used->Set(s.kv.pool.used_blocks);
    blocks_free->Set(s.kv.pool.free_blocks);
    blocks_cached->Set(s.kv.pool.cached_blocks);
    waste->Set(s.kv.pool.waste());
    preemptions->Increment(double(s.sched.preemptions - last_preemptions));
    prefix_hit->Increment(double(s.kv.prefix_hit_tokens - last_prefix_hit));
    prefix_query->Increment(double(s.kv.prefix_query_tokens - last_prefix_query));
    last_preemptions = s.sched.preemptions;
    last_prefix_hit = s.kv.prefix_hit_tokens;
    last_prefix_query = s.kv.prefix_query_tokens;
  }
};

}  // namespace

struct Engine::Impl {
  explicit Impl(int threads) : pool(threads), st(pool) {}
  struct Live {
    EventCallback cb;
    std::unique_ptr<sample::Sampler> sampler;  // null: plain greedy
    Clock::time_point submitted;
    Clock::time_point last_token;
    bool got_first = false;
  };
  ThreadPool pool;
  model::ForwardState st;
  std::unordered_map<RequestId, Live> live;
  std::vector<model::BatchToken> batch;
  std::vector<std::unique_ptr<PagedSequenceKv>> views;
  std::vector<model::SequenceKv*> view_ptrs;
  std::vector<float> logits, hidden;
  EngineMetrics metrics;
  EngineProfile profile;
  bool profiling = false;
  Clock::time_point mark_time;
  // Adds the time since the last mark to `slot` (profiling only).
  void mark(double& slot) {
    if (!profiling) return;
    const Clock::time_point now = Clock::now();
    slot += seconds_between(mark_time, now);
    mark_time = now;
  }
};

Result<std::unique_ptr<Engine>> Engine::create(std::shared_ptr<const model::LlamaModel> model, EngineOptions opts) {
  if (!model) return make_error("no model");
  const auto& h = model->hparams();
  kv::KvShape shape{.n_layer = h.n_layer, .kv_dim = h.kv_dim(), .block_tokens = opts.block_tokens, .type = opts.kv_type};
  std::string err;
  auto kv = kv::KvCache::create(shape, opts.kv_memory_bytes, &err);
  if (!kv) return make_error("KV cache: " + err);
  if (opts.max_batch_tokens < 1) return make_error("max_batch_tokens must be at least 1");
  if (opts.max_seqs < 1) return make_error("max_seqs must be at least 1");
  if (opts.threads <= 0) opts.threads = int32_t(std::max(1u, std::thread::hardware_concurrency()));
  return std::unique_ptr<Engine>(new Engine(std::move(model), std::move(opts), std::move(kv)));
}

Engine::Engine(std::shared_ptr<const model::LlamaModel> model, EngineOptions opts, std::unique_ptr<kv::KvCache> kv)
    : model_(std::move(model)), opts_(std::move(opts)), kv_(std::move(kv)) {
  const auto& h = model_->hparams();
  limits_.max_batch_tokens = opts_.max_batch_tokens;
  limits_.max_seqs = opts_.max_seqs;
  limits_.max_context = opts_.max_context > 0 ? opts_.max_context : (h.n_ctx_train > 0 ? h.n_ctx_train : 2048);
  limits_.max_context = std::max(2, limits_.max_context);
  kv_total_tokens_ = kv_->total_blocks() * kv_->block_tokens();
  sched_ = std::make_unique<Scheduler>(*kv_, limits_);
  impl_ = std::make_unique<Impl>(opts_.threads);
  if (opts_.metrics) impl_->metrics.init(*opts_.metrics, opts_.metrics_model);
  impl_->st.q4_gemm = opts_.q4_gemm;
  if (opts_.profile) {
    impl_->profiling = true;
    impl_->st.profile = &impl_->profile.model;
    impl_->mark_time = Clock::now();
  }
  stats_.kv = kv_->stats();
  thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::optional<std::string> Engine::submit(Request req, EventCallback on_event) {
  if (auto err = Scheduler::validate(req, limits_, kv_->total_blocks(), kv_->block_tokens())) return err;
  const int32_t n_vocab = model_->hparams().n_vocab;
  for (int32_t t : req.prompt) {
    if (t >= n_vocab) return "token id " + std::to_string(t) + " is outside the vocabulary (" + std::to_string(n_vocab) + ")";
  }
  {
    std::lock_guard lock(mu_);
    if (stop_) return std::string("the engine is shutting down");
    inbox_.push_back(Pending{std::move(req), std::move(on_event)});
  }
  cv_.notify_one();
  return std::nullopt;
}

void Engine::cancel(RequestId id) {
  {
    std::lock_guard lock(mu_);
    cancels_.push_back(id);
  }
  cv_.notify_one();
}

EngineStats Engine::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void Engine::loop() {
  for (;;) {
    std::vector<Pending> inbox;
    std::vector<RequestId> cancels;
    bool stopping = false;
    impl_->mark(impl_->profile.schedule);
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !inbox_.empty() || !cancels_.empty() || !sched_->idle(); });
      impl_->mark(impl_->profile.idle);
      stopping = stop_;
      inbox.swap(inbox_);
      cancels.swap(cancels_);
    }
    const auto now = Clock::now();
    for (Pending& p : inbox) {
      const RequestId id = p.req.id;
      Impl::Live live;
      live.cb = std::move(p.cb);
      live.submitted = now;
      if (!plain_greedy(p.req.sampling)) {
        live.sampler = std::make_unique<sample::Sampler>(to_sampler(p.req.sampling));
        for (int32_t t : p.req.prompt) live.sampler->accept(t);
      }
      if (auto err = sched_->submit(std::move(p.req))) {
        Event ev;
        ev.id = id;
        ev.finish = FinishReason::kError;
        ev.error = *err;
        if (live.cb) live.cb(ev);
        continue;
      }
      impl_->live[id] = std::move(live);
    }
    for (RequestId id : cancels) sched_->cancel(id);
    if (stopping) {
      std::vector<RequestId> ids;
      for (const auto& [id, live] : impl_->live) ids.push_back(id);
      for (RequestId id : ids) sched_->cancel(id);
    }
    auto events = sched_->take_events();
    dispatch(events);
    if (stopping) break;
    if (!sched_->idle()) step();
    publish_stats();
  }
}

void Engine::step() {
  Impl& I = *impl_;
  I.mark(I.profile.schedule);
  StepPlan plan = sched_->schedule();
  if (plan.empty()) return;
  const auto& h = model_->hparams();
  I.batch.clear();
  I.views.clear();
  I.view_ptrs.clear();
  int n_out = 0;
  for (size_t i = 0; i < plan.chunks.size(); ++i) {
    const Chunk& c = plan.chunks[i];
    I.views.push_back(std::make_unique<PagedSequenceKv>(kv_->store(), c.seq->table, h.head_dim));
    I.view_ptrs.push_back(I.views.back().get());
    for (int32_t p = c.start; p < c.start + c.n_tokens; ++p) {
      const bool out = c.embed || (c.sample && p == c.start + c.n_tokens - 1);
      I.batch.push_back(model::BatchToken{c.seq->tokens[size_t(p)], p, int32_t(i), out});
      n_out += out ? 1 : 0;
    }
  }
  const bool any_embed = std::any_of(plan.chunks.begin(), plan.chunks.end(), [](const Chunk& c) { return c.embed; });
  if (I.logits.size() < size_t(n_out) * size_t(h.n_vocab)) I.logits.resize(size_t(n_out) * size_t(h.n_vocab));
  if (any_embed && I.hidden.size() < size_t(n_out) * size_t(h.n_embd)) I.hidden.resize(size_t(n_out) * size_t(h.n_embd));
  I.mark(I.profile.schedule);
  Status st = model_->forward(I.batch, I.view_ptrs, I.st, n_out ? I.logits.data() : nullptr,
                              any_embed ? I.hidden.data() : nullptr);
  I.mark(I.profile.forward);
  if (!st.ok()) {
    // The model refused the batch (a bug, not outside input: submit validated ids). Fail the requests.
    for (const Chunk& c : plan.chunks) sched_->fail(c.seq->req.id, "engine: " + st.error());
    auto events = sched_->take_events();
    dispatch(events);
    return;
  }
  std::vector<int32_t> sampled(plan.chunks.size(), -1);
  std::vector<std::span<const float>> hidden(plan.chunks.size());
  int o = 0;
  for (size_t i = 0; i < plan.chunks.size(); ++i) {
    const Chunk& c = plan.chunks[i];
    if (c.embed) {
      hidden[i] = std::span<const float>(I.hidden.data() + size_t(o) * size_t(h.n_embd), size_t(c.n_tokens) * size_t(h.n_embd));
      o += c.n_tokens;
      continue;
    }
    if (!c.sample) continue;
    std::span<float> row(I.logits.data() + size_t(o) * size_t(h.n_vocab), size_t(h.n_vocab));
    ++o;
    auto it = I.live.find(c.seq->req.id);
    sample::Sampler* sampler = it != I.live.end() ? it->second.sampler.get() : nullptr;
    if (sampler) {
      sampled[i] = sampler->sample(row);
      sampler->accept(sampled[i]);
    } else {
      sampled[i] = sample::sample_greedy(row);
    }
  }
  I.mark(I.profile.sample);
  auto events = sched_->complete(plan, sampled, hidden);
  I.mark(I.profile.complete);
  {
    std::lock_guard lock(mu_);
    ++stats_.steps;
    stats_.tokens_computed += plan.n_tokens;
  }
  if (I.metrics.computed) {
    I.metrics.computed->Increment(plan.n_tokens);
    I.metrics.batch_size->Observe(double(plan.chunks.size()));
  }
  dispatch(events);
}

void Engine::dispatch(std::vector<Event>& events) {
  Impl& I = *impl_;
  I.mark(I.profile.schedule);
  const auto now = Clock::now();
  int64_t generated = 0;
  for (Event& ev : events) {
    auto it = I.live.find(ev.id);
    if (it == I.live.end()) continue;
    Impl::Live& live = it->second;
    if (ev.token >= 0) {
      ++generated;
      if (!live.got_first) {
        live.got_first = true;
        if (I.metrics.ttft) I.metrics.ttft->Observe(seconds_between(live.submitted, now));
      } else if (I.metrics.itl) {
        I.metrics.itl->Observe(seconds_between(live.last_token, now));
      }
      live.last_token = now;
    }
    if (live.cb) live.cb(ev);
    if (ev.finish != FinishReason::kNone) I.live.erase(it);
  }
  if (generated) {
    std::lock_guard lock(mu_);
    stats_.tokens_generated += generated;
  }
  if (generated && I.metrics.generated) I.metrics.generated->Increment(double(generated));
  I.mark(I.profile.dispatch);
}

void Engine::publish_stats() {
  EngineStats snapshot;
  {
    std::lock_guard lock(mu_);
    stats_.sched = sched_->stats();
    stats_.sched.waiting += int32_t(inbox_.size());
    stats_.kv = kv_->stats();
    stats_.profile = impl_->profile;
    snapshot = stats_;
  }
  impl_->metrics.update(snapshot);
}

}  // namespace kuai::engine::sched
