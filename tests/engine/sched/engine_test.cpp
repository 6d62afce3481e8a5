// The engine on a real model (stories260K): greedy output equals llama2.c's reference; requests run
// concurrently equal the same requests run alone (also on a Q4_0 model made by `kuai synth`, whose
// batched and one-token weight products take different kernels); prefix-shared requests equal unshared ones;
// embeddings are normalised and equal alone or batched; 1,000 mixed requests with cancellations and
// preemptions leave every KV block free or cached.
#include "engine/sched/engine.h"

#include "engine/gguf/gguf_file.h"
#include "engine/model/llama_model.h"
#include "engine/model/stories_reference.h"
#include "support/process.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>

namespace kuai::engine::sched {
namespace {

std::shared_ptr<const model::LlamaModel> stories() {
  static std::shared_ptr<const model::LlamaModel> m = [] {
    auto r = model::LlamaModel::load(model::test::shared_dir() + "/models/stories260K/stories260K.gguf");
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error());
    return r.ok() ? std::shared_ptr<const model::LlamaModel>(std::move(r).value()) : nullptr;
  }();
  return m;
}

// Collects events of many requests; wait() blocks until `n` have finished.
struct Collector {
  std::mutex mu;
  std::condition_variable cv;
  std::map<RequestId, Event> last;
  std::map<RequestId, std::vector<int32_t>> tokens;
  std::map<RequestId, int> finishes;
  int finished = 0;

  EventCallback callback() {
    return [this](const Event& e) {
      std::lock_guard lock(mu);
      if (e.token >= 0) tokens[e.id].push_back(e.token);
      if (e.finish != FinishReason::kNone) {
        last[e.id] = e;
        ++finishes[e.id];
        ++finished;
        cv.notify_all();
      }
    };
  }
  bool wait(int n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(120), [&] { return finished >= n; });
  }
};

Request greedy(RequestId id, std::vector<int32_t> prompt, int max_tokens) {
  Request r;
  r.id = id;
  r.prompt = std::move(prompt);
  r.max_tokens = max_tokens;
  return r;
}

std::unique_ptr<Engine> make_engine(EngineOptions o = {}, std::shared_ptr<const model::LlamaModel> m = stories()) {
  if (o.kv_memory_bytes == (512ull << 20)) o.kv_memory_bytes = 8ull << 20;
  if (o.threads == 0) o.threads = 2;
  auto e = Engine::create(std::move(m), o);
  EXPECT_TRUE(e.ok()) << (e.ok() ? "" : e.error());
  return e.ok() ? std::move(e).value() : nullptr;
}

std::vector<int32_t> run_alone(const Request& r, EngineOptions o = {},
                               std::shared_ptr<const model::LlamaModel> m = stories()) {
  auto e = make_engine(o, std::move(m));
  Collector c;
  EXPECT_FALSE(e->submit(r, c.callback()));
  EXPECT_TRUE(c.wait(1));
  return c.tokens[r.id];
}

std::vector<std::vector<int32_t>> prompts() {
  std::vector<std::vector<int32_t>> out;
  for (const char* stem : {"greedy_once_upon_a_time", "greedy_lily_and_tom", "greedy_empty_prompt"}) {
    out.push_back(model::test::load_stories_reference(stem).prompt_tokens);
  }
  return out;
}

TEST(Engine, GreedyMatchesLlama2cReference) {
  ASSERT_TRUE(stories());
  for (const char* stem : {"greedy_once_upon_a_time", "greedy_lily_and_tom"}) {
    const auto ref = model::test::load_stories_reference(stem);
    ASSERT_FALSE(ref.tokens.empty());
    const int n_gen = int(ref.tokens.size() - ref.prompt_tokens.size());
    // F32 KV: exact; chunked prefill (8 tokens per step) must not change anything.
    auto got = run_alone(greedy(1, ref.prompt_tokens, n_gen),
                         {.kv_type = kv::KvType::kF32, .max_batch_tokens = 8});
    std::vector<int32_t> all = ref.prompt_tokens;
    all.insert(all.end(), got.begin(), got.end());
    EXPECT_EQ(all, ref.tokens) << stem;
  }
}

TEST(Engine, ConcurrentEqualsAlone) {
  ASSERT_TRUE(stories());
  std::vector<Request> reqs;
  RequestId id = 1;
  std::mt19937 rng(1);
  for (const auto& p : prompts()) {
    for (int v = 0; v < 3; ++v) {
      auto prompt = p;
      for (int j = 0; j < v * 3; ++j) prompt.push_back(int32_t(3 + rng() % 500));
      reqs.push_back(greedy(id++, prompt, 40 + v * 10));
    }
  }
  for (kv::KvType type : {kv::KvType::kF16, kv::KvType::kQ8_0}) {
    if (type == kv::KvType::kQ8_0 && stories()->hparams().kv_dim() % 32 != 0) continue;
    EngineOptions o{.kv_type = type, .max_batch_tokens = 64};
    std::map<RequestId, std::vector<int32_t>> alone;
    for (const auto& r : reqs) alone[r.id] = run_alone(r, o);
    auto e = make_engine(o);
    Collector c;
    for (const auto& r : reqs) ASSERT_FALSE(e->submit(r, c.callback()));
    ASSERT_TRUE(c.wait(int(reqs.size())));
    for (const auto& r : reqs) {
      EXPECT_EQ(c.tokens[r.id], alone[r.id]) << "request " << r.id << " kv " << kv::kv_type_name(type);
      EXPECT_EQ(c.last[r.id].finish, FinishReason::kLength);
    }
    EXPECT_GT(e->stats().steps, 0);
  }
}

// kuai synth's tiny preset (width 256, 2 layers) in Q4_0: alone, each decode step is one token (the
// Q4_0 one-token path); together, steps batch several tokens (packed tiles). Same tokens either way,
// with an F16 and with a Q8_0 KV cache.
TEST(Engine, Q4_0ConcurrentEqualsAlone) {
  namespace fs = std::filesystem;
  const fs::path path = fs::temp_directory_path() / ("kuai_engine_q4_0_" + std::to_string(::getpid()) + ".gguf");
  struct Remove {
    fs::path p;
    ~Remove() { fs::remove(p); }
  } remove{path};
  const auto synth = kuai::test::run_shell(kuai::test::kuai_bin() + " synth --preset tiny --type q4_0 --seed 7 --std 0.05 -o " +
                                           path.string());
  ASSERT_EQ(synth.code, 0) << synth.out;
  {
    auto file = GgufFile::open(path.string());
    ASSERT_TRUE(file.ok()) << file.error();
    int q4 = 0;
    for (const auto& t : (*file)->tensors()) q4 += t.type == GgmlType::Q4_0;
    ASSERT_GE(q4, 14) << "every layer's weights should be Q4_0";
  }
  auto loaded = model::LlamaModel::load(path.string());
  ASSERT_TRUE(loaded.ok()) << loaded.error();
  std::shared_ptr<const model::LlamaModel> m(std::move(loaded).value());

  std::mt19937 rng(11);
  std::vector<Request> reqs;
  for (RequestId id = 1; id <= 6; ++id) {
    std::vector<int32_t> prompt(size_t(2 + rng() % 20));
    for (auto& t : prompt) t = int32_t(3 + rng() % 500);
    reqs.push_back(greedy(id, prompt, 24));
  }
  // F16 and Q8_0 caches: both are read in place by the AVX-512 attention (head width 64).
  for (kv::KvType type : {kv::KvType::kF16, kv::KvType::kQ8_0}) {
    const EngineOptions o{.kv_type = type, .max_batch_tokens = 64};
    std::map<RequestId, std::vector<int32_t>> alone;
    for (const auto& r : reqs) alone[r.id] = run_alone(r, o, m);
    auto e = make_engine(o, m);
    Collector c;
    for (const auto& r : reqs) ASSERT_FALSE(e->submit(r, c.callback()));
    ASSERT_TRUE(c.wait(int(reqs.size())));
    std::set<std::vector<int32_t>> distinct;
    for (const auto& r : reqs) {
      EXPECT_EQ(c.tokens[r.id].size(), 24u) << "request " << r.id;
      EXPECT_EQ(c.tokens[r.id], alone[r.id]) << "request " << r.id << " kv " << kv::kv_type_name(type);
      distinct.insert(alone[r.id]);
    }
    EXPECT_GT(distinct.size(), 1u) << "different prompts should not all decode alike";
  }
}

TEST(Engine, PrefixSharedEqualsUnshared) {
  ASSERT_TRUE(stories());
  std::mt19937 rng(2);
  std::vector<int32_t> system;
  for (int i = 0; i < 70; ++i) system.push_back(int32_t(3 + rng() % 500));
  auto with_tail = [&](RequestId id, int tail) {
    auto p = system;
    for (int i = 0; i < tail; ++i) p.push_back(int32_t(3 + rng() % 500));
    return greedy(id, p, 30);
  };
  const EngineOptions o{.block_tokens = 16, .max_batch_tokens = 32};
  auto e = make_engine(o);
  Collector c;
  ASSERT_FALSE(e->submit(with_tail(1, 5), c.callback()));
  ASSERT_TRUE(c.wait(1));
  std::vector<Request> later;
  for (RequestId id = 2; id <= 5; ++id) later.push_back(with_tail(id, int(id)));
  for (const auto& r : later) ASSERT_FALSE(e->submit(r, c.callback()));
  ASSERT_TRUE(c.wait(5));
  for (const auto& r : later) {
    EXPECT_EQ(c.last[r.id].n_cached, 64) << r.id;  // 4 full blocks of the 70-token system prompt
    EXPECT_EQ(c.tokens[r.id], run_alone(r, o)) << r.id;
  }
  EXPECT_GE(e->stats().kv.prefix_hit_tokens, 4 * 64);
}

TEST(Engine, EmbeddingsAreNormalisedAndBatchIndependent) {
  ASSERT_TRUE(stories());
  auto e = make_engine({.max_batch_tokens = 16});
  Collector c;
  const auto ps = prompts();
  RequestId id = 1;
  for (const auto& p : ps) {
    Request r = greedy(id++, p, 1);
    r.embed = true;
    ASSERT_FALSE(e->submit(r, c.callback()));
  }
  ASSERT_FALSE(e->submit(greedy(id++, ps[0], 20), c.callback()));  // a generating request alongside
  ASSERT_TRUE(c.wait(int(id - 1)));
  for (RequestId i = 1; i <= RequestId(ps.size()); ++i) {
    const auto& emb = c.last[i].embedding;
    ASSERT_EQ(int(emb.size()), stories()->hparams().n_embd);
    double norm = 0;
    for (float x : emb) norm += double(x) * x;
    EXPECT_NEAR(norm, 1.0, 1e-5);
    // Alone, in another engine: the same vector.
    auto e2 = make_engine({.max_batch_tokens = 64});
    Collector c2;
    Request r = greedy(i, ps[size_t(i - 1)], 1);
    r.embed = true;
    ASSERT_FALSE(e2->submit(r, c2.callback()));
    ASSERT_TRUE(c2.wait(1));
    const auto& alone = c2.last[i].embedding;
    ASSERT_EQ(alone.size(), emb.size());
    for (size_t j = 0; j < emb.size(); ++j) EXPECT_NEAR(emb[j], alone[j], 1e-4);
  }
}

TEST(Engine, RejectsBadRequestsAtSubmit) {
  ASSERT_TRUE(stories());
  auto e = make_engine();
  Collector c;
  EXPECT_TRUE(e->submit(greedy(1, {}, 5), c.callback()));
  EXPECT_TRUE(e->submit(greedy(2, {1, 2}, 0), c.callback()));
  auto over = e->submit(greedy(3, std::vector<int32_t>(size_t(e->max_context()), 5), 5), c.callback());
  ASSERT_TRUE(over);
  EXPECT_NE(over->find("context"), std::string::npos);
  EXPECT_TRUE(e->submit(greedy(4, {1, 100000}, 5), c.callback()));
}

TEST(Engine, NoLeakAfterThousandMixedRequestsWithCancellationsAndPreemptions) {
  ASSERT_TRUE(stories());
  const auto& h = stories()->hparams();
  // Room for ~24 blocks of 16 tokens: far less than 1,000 requests in flight need, so preemptions happen.
  const uint64_t block_bytes = uint64_t(h.n_layer) * 2 * 16 * uint64_t(h.kv_dim()) * 2;
  auto e = make_engine({.kv_memory_bytes = block_bytes * 24, .threads = 1, .max_batch_tokens = 64, .max_seqs = 16});
  Collector c;
  std::mt19937 rng(3);
  auto ps = prompts();
  std::vector<int32_t> system;  // a shared 40-token prefix (2 full blocks) for some of them
  for (int i = 0; i < 40; ++i) system.push_back(int32_t(3 + rng() % 500));
  ps.push_back(system);
  std::set<RequestId> cancelled;
  for (RequestId id = 1; id <= 1000; ++id) {
    auto p = ps[rng() % ps.size()];
    for (int j = int(rng() % 12); j > 0; --j) p.push_back(int32_t(3 + rng() % 500));
    Request r = greedy(id, p, 1 + int(rng() % 40));
    if (rng() % 5 == 0) r.sampling.temperature = 0.8f, r.sampling.seed = id;
    if (rng() % 10 == 0) r.embed = true;
    ASSERT_FALSE(e->submit(r, c.callback()));
    if (rng() % 6 == 0) {
      const RequestId victim = 1 + rng() % id;
      e->cancel(victim);
      cancelled.insert(victim);
    }
  }
  ASSERT_TRUE(c.wait(1000));
  EXPECT_EQ(c.finishes.size(), 1000u);
  for (const auto& [id, n] : c.finishes) EXPECT_EQ(n, 1) << id;
  int n_cancelled = 0;
  for (const auto& [id, ev] : c.last) n_cancelled += ev.finish == FinishReason::kCancelled;
  EXPECT_GT(n_cancelled, 0);
  // The engine publishes stats after the step whose events we saw: wait for it to go idle.
  EngineStats s;
  for (int i = 0; i < 2000; ++i) {
    s = e->stats();
    if (s.sched.running == 0 && s.sched.waiting == 0 && s.kv.pool.used_blocks == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(s.kv.pool.used_blocks, 0);
  EXPECT_EQ(s.kv.pool.free_blocks + s.kv.pool.cached_blocks, s.kv.pool.total_blocks);
  EXPECT_GT(s.sched.preemptions, 0);
  EXPECT_GT(s.kv.prefix_hit_tokens, 0);
}

}  // namespace
}  // namespace kuai::engine::sched
