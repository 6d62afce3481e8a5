#include "engine/sched/engine.h"

#include "engine/model/llama_model.h"
#include "engine/sample/sampler.h"
#include "engine/sched/paged_kv.h"
#include "engine/threads/thread_pool.h"

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
  struct Draw {  // one row of logits to sample after a forward pass
    size_t chunk;
    std::span<float> row;
    sample::Sampler* sampler;  // null: plain greedy
  };
  std::vector<Draw> draws;
  EngineObserver* observer = nullptr;  // opts_.observer (kept alive by opts_)
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
  kv::KvShape shape{.n_layer = h.n_layer, .kv_dim = h.kv_dim(), .block_tokens = opts.block_tokens, .type = opts.kv_type,
                    .head_dim = h.head_dim};
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
  impl_->observer = opts_.observer.get();
  impl_->st.int8_gemm = opts_.int8_gemm;
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
  // Rows to sample, then sampled on the pool: each sequence's sampler is its own (own rng, own recent
  // tokens), so the draws do not depend on which thread takes which row.
  std::vector<Impl::Draw>& draws = I.draws;
  draws.clear();
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
    draws.push_back(Impl::Draw{i, row, it != I.live.end() ? it->second.sampler.get() : nullptr});
  }
  I.pool.parallel_for(int64_t(draws.size()), 1, [&](int64_t b, int64_t e, int) {
    for (int64_t d = b; d < e; ++d) {
      const Impl::Draw& dr = draws[size_t(d)];
      if (dr.sampler) {
        sampled[dr.chunk] = dr.sampler->sample(dr.row);
        dr.sampler->accept(sampled[dr.chunk]);
      } else {
        sampled[dr.chunk] = sample::sample_greedy(dr.row);
      }
    }
  });
  I.mark(I.profile.sample);
  auto events = sched_->complete(plan, sampled, hidden);
  I.mark(I.profile.complete);
  {
    std::lock_guard lock(mu_);
    ++stats_.steps;
    stats_.tokens_computed += plan.n_tokens;
  }
  if (I.observer) I.observer->on_step(plan.n_tokens, int32_t(plan.chunks.size()));
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
        if (I.observer) I.observer->on_first_token(seconds_between(live.submitted, now));
      } else if (I.observer) {
        I.observer->on_next_token(seconds_between(live.last_token, now));
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
  if (generated && I.observer) I.observer->on_generated(generated);
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
  if (impl_->observer) impl_->observer->on_stats(snapshot);
}

}  // namespace kuai::engine::sched
