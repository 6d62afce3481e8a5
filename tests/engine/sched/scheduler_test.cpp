// Scheduler tests with a toy "model" that really goes through the KV cache: computing position p writes
// (token, p) into the K/V rows of the block table's slot, and the next token is a hash of everything
// read back through the block table. So a wrong block table, a wrongly shared block or a bad recompute
// after preemption changes the output; the reference output is computed straight from the token list.
#include "engine/sched/scheduler.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <vector>

namespace kuai::engine::sched {
namespace {

constexpr int kBs = 4;
constexpr int kDim = 32;
constexpr int32_t kVocab = 50;
constexpr int32_t kEos = 0;

uint64_t mix(uint64_t h, uint64_t x) {
  h ^= x + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdull;
}

int32_t next_token_of(const std::vector<std::pair<int32_t, int32_t>>& tok_pos) {
  uint64_t h = 1469598103934665603ull;
  for (auto [t, p] : tok_pos) h = mix(h, uint64_t(t) * 100003u + uint64_t(p));
  return int32_t(h % kVocab);
}

// Reference: greedy generation computed from the tokens alone.
std::vector<int32_t> reference(const Request& r, int max_context) {
  std::vector<std::pair<int32_t, int32_t>> tp;
  for (size_t i = 0; i < r.prompt.size(); ++i) tp.emplace_back(r.prompt[i], int32_t(i));
  std::vector<int32_t> out;
  while (int32_t(out.size()) < r.max_tokens && int32_t(tp.size()) < max_context) {
    const int32_t t = next_token_of(tp);
    if (std::find(r.stop_tokens.begin(), r.stop_tokens.end(), t) != r.stop_tokens.end()) break;
    out.push_back(t);
    tp.emplace_back(t, int32_t(tp.size()));
  }
  return out;
}

// Runs one step of the toy model for `plan`.
std::vector<int32_t> toy_forward(kv::KvCache& kv, const StepPlan& plan) {
  std::vector<int32_t> sampled(plan.chunks.size(), -1);
  std::vector<float> k(kDim), v(kDim), kb(kBs * kDim), vb(kBs * kDim);
  for (size_t i = 0; i < plan.chunks.size(); ++i) {
    const Chunk& c = plan.chunks[i];
    const auto& table = c.seq->table;
    EXPECT_GE(table.capacity(kBs), c.start + c.n_tokens);
    for (int p = c.start; p < c.start + c.n_tokens; ++p) {
      const kv::BlockId b = table.blocks[size_t(p / kBs)];
      EXPECT_EQ(kv.pool().refcount(b), 1) << "writing into a shared block";
      std::fill(k.begin(), k.end(), float(c.seq->tokens[size_t(p)]));
      std::fill(v.begin(), v.end(), float(p));
      kv.store().write(b, p % kBs, 0, k.data(), v.data());
    }
    if (!c.sample) continue;
    std::vector<std::pair<int32_t, int32_t>> tp;
    const int n = c.start + c.n_tokens;
    for (int p = 0; p < n; p += kBs) {
      const int m = std::min(kBs, n - p);
      kv.store().read(table.blocks[size_t(p / kBs)], 0, m, kb.data(), vb.data());
      for (int j = 0; j < m; ++j) tp.emplace_back(int32_t(kb[size_t(j * kDim)]), int32_t(vb[size_t(j * kDim)]));
    }
    sampled[i] = next_token_of(tp);
  }
  return sampled;
}

std::unique_ptr<kv::KvCache> make_cache(int n_blocks) {
  std::string err;
  auto c = kv::KvCache::create({.n_layer = 1, .kv_dim = kDim, .block_tokens = kBs, .type = kv::KvType::kF32},
                               uint64_t(n_blocks) * 2 * kBs * kDim * 4, &err);
  EXPECT_TRUE(c) << err;
  return c;
}

struct Outcome {
  std::vector<int32_t> tokens;
  FinishReason finish = FinishReason::kNone;
  int finish_events = 0;
  int n_cached = 0;
};

// Steps the scheduler until idle (or `max_steps`), calling `between(step)` before each step.
template <typename F>
std::map<RequestId, Outcome> run(Scheduler& s, F between, int max_steps = 100000) {
  std::map<RequestId, Outcome> out;
  auto absorb = [&](const std::vector<Event>& evs) {
    for (const auto& e : evs) {
      auto& o = out[e.id];
      if (e.token >= 0) o.tokens.push_back(e.token);
      if (e.finish != FinishReason::kNone) {
        o.finish = e.finish;
        ++o.finish_events;
        o.n_cached = e.n_cached;
      }
    }
  };
  for (int step = 0; step < max_steps; ++step) {
    between(step);
    absorb(s.take_events());
    if (s.idle()) break;
    StepPlan plan = s.schedule();
    EXPECT_LE(plan.n_tokens, s.limits().max_batch_tokens);
    EXPECT_LE(int(plan.chunks.size()), s.limits().max_seqs);
    auto sampled = toy_forward(s.kv(), plan);
    absorb(s.complete(plan, sampled));
  }
  return out;
}

Request make_request(RequestId id, std::vector<int32_t> prompt, int max_tokens) {
  Request r;
  r.id = id;
  r.prompt = std::move(prompt);
  r.max_tokens = max_tokens;
  r.stop_tokens = {kEos};
  return r;
}

std::vector<int32_t> random_prompt(std::mt19937& rng, int n) {
  std::uniform_int_distribution<int32_t> d(1, kVocab - 1);
  std::vector<int32_t> p(static_cast<size_t>(n));
  for (auto& t : p) t = d(rng);
  return p;
}

TEST(Scheduler, RejectsBadRequests) {
  auto kv = make_cache(8);
  Scheduler s(*kv, {.max_batch_tokens = 16, .max_seqs = 4, .max_context = 64});
  EXPECT_TRUE(s.submit(make_request(1, {}, 4)).has_value());
  EXPECT_TRUE(s.submit(make_request(2, {1, 2}, 0)).has_value());
  auto over = s.submit(make_request(3, std::vector<int32_t>(64, 1), 4));
  ASSERT_TRUE(over.has_value());
  EXPECT_NE(over->find("context"), std::string::npos);
  auto big = s.submit(make_request(4, std::vector<int32_t>(30, 1), 30));  // 60 tokens > 8 blocks * 4
  ASSERT_TRUE(big.has_value());
  EXPECT_NE(big->find("KV"), std::string::npos);
  EXPECT_FALSE(s.submit(make_request(5, {1, 2, 3}, 4)).has_value());
  EXPECT_TRUE(s.submit(make_request(5, {1, 2, 3}, 4)).has_value());  // duplicate id
  EXPECT_TRUE(s.cancel(5));
  EXPECT_TRUE(s.idle());
}

TEST(Scheduler, SingleRequestMatchesReference) {
  auto kv = make_cache(32);
  Scheduler s(*kv, {.max_batch_tokens = 8, .max_seqs = 4, .max_context = 100});
  std::mt19937 rng(1);
  auto req = make_request(1, random_prompt(rng, 21), 30);
  const auto want = reference(req, 100);
  ASSERT_FALSE(s.submit(req));
  auto out = run(s, [](int) {});
  EXPECT_EQ(out[1].tokens, want);
  EXPECT_EQ(out[1].finish_events, 1);
  EXPECT_EQ(kv->stats().pool.used_blocks, 0);
}

TEST(Scheduler, ConcurrentEqualsAloneAndPrefillIsChunked) {
  auto kv = make_cache(64);
  Scheduler s(*kv, {.max_batch_tokens = 10, .max_seqs = 8, .max_context = 200});
  std::mt19937 rng(2);
  std::vector<Request> reqs;
  for (RequestId id = 1; id <= 6; ++id) reqs.push_back(make_request(id, random_prompt(rng, 5 + int(id) * 7), 12));
  for (const auto& r : reqs) ASSERT_FALSE(s.submit(r));
  // First step: chunked, never more than 10 tokens.
  auto out = run(s, [](int) {});
  for (const auto& r : reqs) {
    EXPECT_EQ(out[r.id].tokens, reference(r, 200)) << "request " << r.id;
  }
  EXPECT_EQ(kv->stats().pool.used_blocks, 0);
}

TEST(Scheduler, LongPromptDoesNotStallDecoding) {
  auto kv = make_cache(64);
  Scheduler s(*kv, {.max_batch_tokens = 8, .max_seqs = 4, .max_context = 200});
  std::mt19937 rng(3);
  ASSERT_FALSE(s.submit(make_request(1, random_prompt(rng, 3), 40)));
  // Let request 1 reach decoding, then a 120-token prompt arrives: request 1 must get a token every step.
  StepPlan p1 = s.schedule();
  s.complete(p1, toy_forward(*kv, p1));
  ASSERT_FALSE(s.submit(make_request(2, random_prompt(rng, 120), 4)));
  for (int step = 0; step < 10; ++step) {
    StepPlan plan = s.schedule();
    bool has1 = false;
    for (const auto& c : plan.chunks) has1 |= c.seq->req.id == 1;
    EXPECT_TRUE(has1) << "step " << step;
    EXPECT_LE(plan.n_tokens, 8);
    s.complete(plan, toy_forward(*kv, plan));
  }
  s.cancel(1);
  s.cancel(2);
  EXPECT_EQ(kv->stats().pool.used_blocks, 0);
}

TEST(Scheduler, PrefixSharedEqualsUnshared) {
  auto kv = make_cache(64);
  Scheduler s(*kv, {.max_batch_tokens = 64, .max_seqs = 8, .max_context = 200});
  std::mt19937 rng(4);
  const auto system = random_prompt(rng, 33);
  auto first = make_request(1, system, 5);
  first.prompt.push_back(7);
  ASSERT_FALSE(s.submit(first));
  auto out1 = run(s, [](int) {});
  EXPECT_EQ(out1[1].tokens, reference(first, 200));
  EXPECT_EQ(out1[1].n_cached, 0);
  // Later requests with the same system prompt reuse its 8 full blocks (32 tokens).
  std::vector<Request> later;
  for (RequestId id = 2; id <= 5; ++id) {
    auto r = make_request(id, system, 6);
    const auto tail = random_prompt(rng, int(id));
    r.prompt.insert(r.prompt.end(), tail.begin(), tail.end());
    later.push_back(r);
    ASSERT_FALSE(s.submit(r));
  }
  auto out = run(s, [](int) {});
  for (const auto& r : later) {
    EXPECT_EQ(out[r.id].tokens, reference(r, 200));
    EXPECT_EQ(out[r.id].n_cached, 32) << r.id;
  }
  EXPECT_GE(kv->stats().prefix_hit_tokens, 4 * 32);
  EXPECT_EQ(kv->stats().pool.used_blocks, 0);
}

TEST(Scheduler, PreemptsUnderMemoryPressureAndStillMatches) {
  auto kv = make_cache(12);  // 48 token slots for 4 requests that grow to 40 tokens each
  Scheduler s(*kv, {.max_batch_tokens = 16, .max_seqs = 4, .max_context = 200});
  std::mt19937 rng(5);
  std::vector<Request> reqs;
  for (RequestId id = 1; id <= 4; ++id) {
    reqs.push_back(make_request(id, random_prompt(rng, 10), 30));
    reqs.back().stop_tokens.clear();
    ASSERT_FALSE(s.submit(reqs.back()));
  }
  auto out = run(s, [](int) {});
  EXPECT_GT(s.stats().preemptions, 0);
  for (const auto& r : reqs) {
    EXPECT_EQ(out[r.id].tokens, reference(r, 200));
    EXPECT_EQ(out[r.id].finish, FinishReason::kLength);
  }
  EXPECT_EQ(kv->stats().pool.used_blocks, 0);
}

TEST(Scheduler, CancelFreesBlocksAtOnce) {
  auto kv = make_cache(32);
  Scheduler s(*kv, {.max_batch_tokens = 32, .max_seqs = 4, .max_context = 200});
  std::mt19937 rng(6);
  ASSERT_FALSE(s.submit(make_request(1, random_prompt(rng, 30), 50)));
  StepPlan plan = s.schedule();
  s.complete(plan, toy_forward(*kv, plan));
  EXPECT_GT(kv->stats().pool.used_blocks, 0);
  EXPECT_TRUE(s.cancel(1));
  EXPECT_EQ(kv->stats().pool.used_blocks, 0);
  auto evs = s.take_events();
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].finish, FinishReason::kCancelled);
  EXPECT_FALSE(s.cancel(1));
  EXPECT_TRUE(s.idle());
}

TEST(Scheduler, StopTokenAndContextLimit) {
  auto kv = make_cache(32);
  Scheduler s(*kv, {.max_batch_tokens = 32, .max_seqs = 4, .max_context = 20});
  std::mt19937 rng(7);
  auto r = make_request(1, random_prompt(rng, 15), 100);
  r.stop_tokens.clear();
  ASSERT_FALSE(s.submit(r));
  auto out = run(s, [](int) {});
  EXPECT_EQ(out[1].tokens.size(), 5u);  // clamped to the context
  EXPECT_EQ(out[1].finish, FinishReason::kLength);
  // A stop token ends generation without being emitted.
  for (RequestId id = 2; id < 40; ++id) {
    auto q = make_request(id, random_prompt(rng, 3), 10);
    const auto want = reference(q, 20);
    ASSERT_FALSE(s.submit(q));
    auto o = run(s, [](int) {});
    EXPECT_EQ(o[id].tokens, want);
    if (int(want.size()) < 10) {
      EXPECT_EQ(o[id].finish, FinishReason::kStop);
    }
  }
}

// 1,000 mixed requests: shared system prompts, random lengths, cancellations at random moments, a pool
// small enough to force preemptions. Every request ends exactly once, uncancelled ones equal their
// reference, and at the end every block is back (free or cached).
TEST(Scheduler, NoLeakAfterThousandMixedRequests) {
  auto kv = make_cache(40);
  Scheduler s(*kv, {.max_batch_tokens = 24, .max_seqs = 12, .max_context = 120});
  std::mt19937 rng(8);
  std::vector<std::vector<int32_t>> systems;
  for (int i = 0; i < 4; ++i) systems.push_back(random_prompt(rng, 8 + 5 * i));
  std::map<RequestId, Request> reqs;
  std::set<RequestId> cancelled;
  RequestId next = 1;
  const RequestId total = 1000;
  auto between = [&](int) {
    std::uniform_int_distribution<int> burst(0, 3);
    for (int i = burst(rng); i > 0 && next <= total; --i) {
      std::vector<int32_t> prompt;
      if (rng() % 3 != 0) prompt = systems[rng() % systems.size()];
      const auto tail = random_prompt(rng, 1 + int(rng() % 20));
      prompt.insert(prompt.end(), tail.begin(), tail.end());
      auto r = make_request(next, prompt, 1 + int(rng() % 40));
      ASSERT_FALSE(s.submit(r));
      reqs.emplace(next, r);
      ++next;
    }
    if (!reqs.empty() && rng() % 4 == 0) {
      const RequestId victim = 1 + rng() % (next - 1);
      if (s.cancel(victim)) cancelled.insert(victim);
    }
  };
  std::map<RequestId, Outcome> out;
  while (next <= total || !s.idle()) {
    auto part = run(s, between, 50);
    for (auto& [id, o] : part) {
      auto& acc = out[id];
      acc.tokens.insert(acc.tokens.end(), o.tokens.begin(), o.tokens.end());
      acc.finish_events += o.finish_events;
      if (o.finish != FinishReason::kNone) acc.finish = o.finish;
    }
  }
  ASSERT_EQ(out.size(), size_t(total));
  int checked = 0;
  for (const auto& [id, r] : reqs) {
    const auto& o = out[id];
    EXPECT_EQ(o.finish_events, 1) << id;
    if (cancelled.count(id)) {
      EXPECT_EQ(o.finish, FinishReason::kCancelled);
      continue;
    }
    EXPECT_EQ(o.tokens, reference(r, 120)) << id;
    ++checked;
  }
  EXPECT_GT(checked, 500);
  EXPECT_GT(cancelled.size(), 20u);
  EXPECT_GT(s.stats().preemptions, 0);
  EXPECT_GT(kv->stats().prefix_hit_tokens, 0);
  const auto st = kv->stats().pool;
  EXPECT_EQ(st.used_blocks, 0);
  EXPECT_EQ(st.free_blocks + st.cached_blocks, st.total_blocks);
  EXPECT_EQ(st.filled_slots, 0);
}

}  // namespace
}  // namespace kuai::engine::sched
