#include "engine/sched/scheduler.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace kuai::engine::sched {

namespace {

void insert_by_arrival(std::vector<Sequence*>& v, Sequence* s) {
  auto it = std::upper_bound(v.begin(), v.end(), s,
                             [](const Sequence* a, const Sequence* b) { return a->arrival < b->arrival; });
  v.insert(it, s);
}

void insert_by_arrival(std::deque<Sequence*>& q, Sequence* s) {
  auto it = std::upper_bound(q.begin(), q.end(), s,
                             [](const Sequence* a, const Sequence* b) { return a->arrival < b->arrival; });
  q.insert(it, s);
}

}  // namespace

Scheduler::Scheduler(kv::KvCache& kv, SchedulerLimits limits) : kv_(kv), limits_(limits) {
  limits_.max_batch_tokens = std::max(1, limits_.max_batch_tokens);
  limits_.max_seqs = std::max(1, limits_.max_seqs);
  limits_.max_context = std::max(2, limits_.max_context);
}

Scheduler::~Scheduler() {
  for (auto& [id, seq] : seqs_) kv_.release(seq->table);
}

std::optional<std::string> Scheduler::validate(const Request& req, const SchedulerLimits& limits,
                                               int32_t total_blocks, int32_t block_tokens) {
  const int64_t n_prompt = int64_t(req.prompt.size());
  if (n_prompt == 0) return std::string("the prompt is empty");
  int64_t max_total = n_prompt;
  if (req.embed) {
    if (n_prompt > limits.max_context) {
      return "the input has " + std::to_string(n_prompt) + " tokens, more than the model's context of " +
             std::to_string(limits.max_context);
    }
  } else {
    if (req.max_tokens < 1) return std::string("max_tokens must be at least 1");
    if (n_prompt >= limits.max_context) {
      return "the prompt has " + std::to_string(n_prompt) + " tokens; the model's context is " +
             std::to_string(limits.max_context) + " tokens (prompt plus at least one generated token)";
    }
    max_total = std::min<int64_t>(n_prompt + req.max_tokens, limits.max_context);
  }
  const int64_t bs = std::max(1, block_tokens);
  if ((max_total + bs - 1) / bs > total_blocks) {
    return "the request needs " + std::to_string(max_total) + " tokens of KV cache but the KV memory holds " +
           std::to_string(int64_t(total_blocks) * bs) + " (raise --kv-memory or lower max_tokens)";
  }
  for (int32_t t : req.prompt) {
    if (t < 0) return std::string("the prompt holds a negative token id");
  }
  return std::nullopt;
}

std::optional<std::string> Scheduler::submit(Request req) {
  if (auto err = validate(req, limits_, kv_.total_blocks(), kv_.block_tokens())) return err;
  if (seqs_.count(req.id)) return "request id " + std::to_string(req.id) + " is already queued";
  const int64_t n_prompt = int64_t(req.prompt.size());
  const int64_t max_total =
      req.embed ? n_prompt : std::min<int64_t>(n_prompt + req.max_tokens, limits_.max_context);
  auto seq = std::make_unique<Sequence>();
  seq->tokens = req.prompt;
  seq->n_prompt = int32_t(n_prompt);
  seq->max_total = int32_t(max_total);
  seq->arrival = next_arrival_++;
  seq->req = std::move(req);
  Sequence* raw = seq.get();
  seqs_.emplace(raw->req.id, std::move(seq));
  insert_by_arrival(waiting_, raw);
  return std::nullopt;
}

bool Scheduler::cancel(RequestId id) {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return false;
  Sequence& seq = *it->second;
  Event ev;
  ev.id = id;
  ev.n_prompt = seq.n_prompt;
  ev.n_generated = seq.n_generated();
  finish(seq, FinishReason::kCancelled, pending_events_, std::move(ev));
  return true;
}

bool Scheduler::fail(RequestId id, std::string error) {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return false;
  Sequence& seq = *it->second;
  Event ev;
  ev.id = id;
  ev.n_prompt = seq.n_prompt;
  ev.n_generated = seq.n_generated();
  ev.error = std::move(error);
  finish(seq, FinishReason::kError, pending_events_, std::move(ev));
  return true;
}

void Scheduler::finish(Sequence& seq, FinishReason why, std::vector<Event>& out, Event ev) {
  kv_.release(seq.table);
  if (seq.state == SeqState::kRunning) {
    running_.erase(std::find(running_.begin(), running_.end(), &seq));
  } else if (seq.state == SeqState::kWaiting) {
    waiting_.erase(std::find(waiting_.begin(), waiting_.end(), &seq));
  }
  seq.state = SeqState::kFinished;
  ev.finish = why;
  out.push_back(std::move(ev));
  ++finished_;
  const RequestId id = seq.req.id;
  seqs_.erase(id);  // `seq` is gone after this line
}

void Scheduler::preempt(Sequence& victim, StepPlan& plan, int32_t& budget) {
  auto c = std::find_if(plan.chunks.begin(), plan.chunks.end(), [&](const Chunk& ch) { return ch.seq == &victim; });
  if (c != plan.chunks.end()) {
    budget += c->n_tokens;
    plan.n_tokens -= c->n_tokens;
    plan.chunks.erase(c);
  }
  kv_.release(victim.table);
  running_.erase(std::find(running_.begin(), running_.end(), &victim));
  victim.state = SeqState::kWaiting;
  ++victim.n_preempted;
  ++preemptions_;
  if (victim.req.embed) victim.embed_sum.clear();
  insert_by_arrival(waiting_, &victim);
}

// Makes room for seq's table to cover n_tokens positions, preempting the youngest running sequences
// while it cannot. False when `seq` itself was the youngest and got preempted.
bool Scheduler::try_reserve_or_preempt(Sequence& seq, int32_t n_tokens, StepPlan& plan, int32_t& budget) {
  while (!kv_.reserve(seq.table, n_tokens)) {
    Sequence* victim = running_.back();
    preempt(*victim, plan, budget);
    if (victim == &seq) return false;
  }
  return true;
}

StepPlan Scheduler::schedule() {
  StepPlan plan;
  int32_t budget = limits_.max_batch_tokens;
  const int64_t preemptions_before = preemptions_;
  const int32_t bs = kv_.block_tokens();
  const std::vector<Sequence*> snapshot = running_;
  auto add = [&](Sequence* s, int32_t n) {
    Chunk c;
    c.seq = s;
    c.start = s->table.n_tokens;
    c.n_tokens = n;
    c.embed = s->req.embed;
    c.sample = !s->req.embed && c.start + n == int32_t(s->tokens.size());
    plan.chunks.push_back(c);
    plan.n_tokens += n;
    budget -= n;
  };

  // 1. Decoding sequences: one token each, oldest first.
  for (Sequence* s : snapshot) {
    if (budget == 0) break;
    if (s->state != SeqState::kRunning || s->n_pending() != 1) continue;
    if (try_reserve_or_preempt(*s, s->table.n_tokens + 1, plan, budget)) add(s, 1);
  }
  // 2. Sequences in prefill: a chunk each, as large as the budget and the free blocks allow.
  for (Sequence* s : snapshot) {
    if (budget == 0) break;
    if (s->state != SeqState::kRunning || s->n_pending() <= 1) continue;
    int32_t n = std::min(s->n_pending(), budget);
    const int32_t fit = s->table.capacity(bs) + kv_.available_blocks() * bs - s->table.n_tokens;
    if (fit > 0) n = std::min(n, fit);
    if (try_reserve_or_preempt(*s, s->table.n_tokens + n, plan, budget)) add(s, n);
  }
  // 3. Waiting requests join, oldest first, unless this step had to preempt (memory is short).
  while (preemptions_ == preemptions_before && budget > 0 && !waiting_.empty() &&
         int32_t(running_.size()) < limits_.max_seqs) {
    Sequence* s = waiting_.front();
    assert(s->table.blocks.empty());
    if (!s->req.embed) kv_.match_prefix(s->table, s->tokens);
    // Admit only when the whole remaining prompt fits now, so a new request does not start a preemption.
    if (kv_.blocks_needed(s->table, int32_t(s->tokens.size())) > kv_.available_blocks()) {
      kv_.release(s->table);
      break;
    }
    if (s->n_cached < 0) {
      s->n_cached = s->table.n_tokens;
      kv_.record_prefix_lookup(int64_t(s->tokens.size()), s->table.n_tokens);
    }
    waiting_.pop_front();
    s->state = SeqState::kRunning;
    insert_by_arrival(running_, s);
    const int32_t n = std::min(s->n_pending(), budget);
    const bool ok = kv_.reserve(s->table, s->table.n_tokens + n);
    assert(ok);
    (void)ok;
    add(s, n);
  }
  last_batch_tokens_ = plan.n_tokens;
  last_batch_seqs_ = int32_t(plan.chunks.size());
  return plan;
}

std::vector<Event> Scheduler::complete(const StepPlan& plan, std::span<const int32_t> sampled,
                                       std::span<const std::span<const float>> hidden) {
  std::vector<Event> out = take_events();
  for (size_t i = 0; i < plan.chunks.size(); ++i) {
    const Chunk& c = plan.chunks[i];
    Sequence& s = *c.seq;
    kv_.commit(s.table, s.tokens, c.start + c.n_tokens);
    Event ev;
    ev.id = s.req.id;
    ev.n_prompt = s.n_prompt;
    ev.n_cached = std::max(0, s.n_cached);
    if (c.embed) {
      const std::span<const float> h = i < hidden.size() ? hidden[i] : std::span<const float>{};
      const size_t n_embd = c.n_tokens > 0 ? h.size() / size_t(c.n_tokens) : 0;
      if (s.embed_sum.empty()) s.embed_sum.assign(n_embd, 0.0);
      for (size_t r = 0; r < size_t(c.n_tokens) && n_embd == s.embed_sum.size(); ++r) {
        for (size_t j = 0; j < n_embd; ++j) s.embed_sum[j] += h[r * n_embd + j];
      }
      if (c.start + c.n_tokens < int32_t(s.tokens.size())) continue;
      double norm = 0;
      for (double x : s.embed_sum) norm += x * x;
      norm = std::sqrt(norm);
      ev.embedding.resize(s.embed_sum.size());
      for (size_t j = 0; j < s.embed_sum.size(); ++j) ev.embedding[j] = norm > 0 ? float(s.embed_sum[j] / norm) : 0.0f;
      finish(s, FinishReason::kStop, out, std::move(ev));
      continue;
    }
    if (!c.sample) continue;
    const int32_t tok = sampled[i];
    const auto& stops = s.req.stop_tokens;
    if (std::find(stops.begin(), stops.end(), tok) != stops.end()) {
      ev.n_generated = s.n_generated();
      finish(s, FinishReason::kStop, out, std::move(ev));
      continue;
    }
    s.tokens.push_back(tok);
    ev.token = tok;
    ev.n_generated = s.n_generated();
    if (int32_t(s.tokens.size()) >= s.max_total) {
      finish(s, FinishReason::kLength, out, std::move(ev));
    } else {
      out.push_back(std::move(ev));
    }
  }
  return out;
}

std::vector<Event> Scheduler::take_events() {
  std::vector<Event> out;
  out.swap(pending_events_);
  return out;
}

SchedulerStats Scheduler::stats() const {
  SchedulerStats s;
  s.running = int32_t(running_.size());
  s.waiting = int32_t(waiting_.size());
  s.preemptions = preemptions_;
  s.finished = finished_;
  s.last_batch_tokens = last_batch_tokens_;
  s.last_batch_seqs = last_batch_seqs_;
  return s;
}

}  // namespace kuai::engine::sched
