#include "engine/kv/kv_cache.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

namespace kuai::engine::kv {
namespace {

constexpr int kBs = 4;

std::unique_ptr<KvCache> make_cache(int n_blocks) {
  const KvShape shape{.n_layer = 1, .kv_dim = 32, .block_tokens = kBs, .type = KvType::kF32};
  std::string err;
  auto c = KvCache::create(shape, uint64_t(n_blocks) * 2 * kBs * 32 * 4, &err);
  EXPECT_TRUE(c) << err;
  EXPECT_EQ(c->total_blocks(), n_blocks);
  return c;
}

std::vector<int32_t> tokens(int n, int start = 1) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), start);
  return t;
}

// Writes a recognisable row (value = token) for positions [table.n_tokens, n) and commits them.
void compute(KvCache& c, BlockTable& t, const std::vector<int32_t>& toks, int n) {
  ASSERT_TRUE(c.reserve(t, n));
  std::vector<float> row(32);
  for (int p = t.n_tokens; p < n; ++p) {
    std::fill(row.begin(), row.end(), float(toks[size_t(p)]));
    c.store().write(t.blocks[size_t(p / kBs)], p % kBs, 0, row.data(), row.data());
  }
  c.commit(t, toks, n);
}

std::vector<int32_t> read_back(const KvCache& c, const BlockTable& t) {
  std::vector<int32_t> out;
  std::vector<float> k(kBs * 32), v(kBs * 32);
  for (int p = 0; p < t.n_tokens; p += kBs) {
    const int n = std::min(kBs, t.n_tokens - p);
    c.store().read(t.blocks[size_t(p / kBs)], 0, n, k.data(), v.data());
    for (int i = 0; i < n; ++i) out.push_back(int32_t(k[size_t(i * 32)]));
  }
  return out;
}

TEST(KvCache, ReserveAndReleaseAccounting) {
  auto c = make_cache(8);
  BlockTable t;
  EXPECT_EQ(c->blocks_needed(t, 9), 3);
  ASSERT_TRUE(c->reserve(t, 9));
  EXPECT_EQ(t.blocks.size(), 3u);
  EXPECT_TRUE(c->reserve(t, 12));  // same three blocks
  EXPECT_EQ(t.blocks.size(), 3u);
  EXPECT_FALSE(c->reserve(t, 40));  // 10 blocks > 8
  EXPECT_EQ(t.blocks.size(), 3u);   // unchanged on failure
  c->release(t);
  EXPECT_TRUE(t.blocks.empty());
  EXPECT_EQ(c->stats().pool.free_blocks, 8);
}

TEST(KvCache, SharedPrefixUsesSameBlocksAndSameData) {
  auto c = make_cache(16);
  auto a_toks = tokens(10);               // blocks [1..4] [5..8] + 2 tokens
  auto b_toks = tokens(8);
  b_toks.insert(b_toks.end(), {50, 51, 52, 53, 54});  // same two first blocks, then different
  BlockTable a, b;
  EXPECT_EQ(c->match_prefix(a, a_toks), 0);
  compute(*c, a, a_toks, 10);
  EXPECT_EQ(a.n_published, 2);
  EXPECT_EQ(c->match_prefix(b, b_toks), 8);
  EXPECT_EQ(b.blocks[0], a.blocks[0]);
  EXPECT_EQ(b.blocks[1], a.blocks[1]);
  EXPECT_EQ(c->pool().refcount(a.blocks[0]), 2);
  compute(*c, b, b_toks, 13);
  EXPECT_EQ(read_back(*c, b), b_toks);
  EXPECT_EQ(read_back(*c, a), a_toks);  // untouched by b's writes
  EXPECT_EQ(c->stats().pool.used_blocks, 3 + 2);  // a: 3, b: 2 shared + 2 own -> 5 distinct
  c->release(a);
  c->release(b);
  const auto s = c->stats().pool;
  EXPECT_EQ(s.used_blocks, 0);
  EXPECT_EQ(s.cached_blocks + s.free_blocks, 16);
  EXPECT_EQ(s.cached_blocks, 3);  // a's two full blocks, b's third block [50..53]
}

TEST(KvCache, MatchNeverTakesTheWholePrompt) {
  auto c = make_cache(8);
  auto toks = tokens(8);
  BlockTable a, b;
  compute(*c, a, toks, 8);
  c->release(a);
  // All 8 tokens are cached, but the last one must be computed for logits: only the first block is taken.
  EXPECT_EQ(c->match_prefix(b, toks), 4);
  c->release(b);
}

TEST(KvCache, PromptCacheSurvivesRequestAndIsEvictedUnderPressure) {
  auto c = make_cache(4);
  auto sys = tokens(9);
  BlockTable a;
  compute(*c, a, sys, 9);
  c->release(a);
  EXPECT_EQ(c->stats().pool.cached_blocks, 2);
  // A later request with the same prefix gets it back.
  BlockTable b;
  EXPECT_EQ(c->match_prefix(b, sys), 8);
  c->release(b);
  // An unrelated request that needs all 4 blocks evicts the cached ones; nothing fails.
  BlockTable d;
  auto other = tokens(16, 100);
  compute(*c, d, other, 16);
  EXPECT_EQ(c->stats().pool.evictions, 2);
  c->release(d);
  BlockTable e;
  EXPECT_EQ(c->match_prefix(e, sys), 0);
  c->release(e);
}

TEST(KvCache, ForkSharesFullBlocksAndCopiesPartialOne) {
  auto c = make_cache(8);
  auto toks = tokens(6);
  BlockTable a;
  compute(*c, a, toks, 6);
  BlockTable f;
  ASSERT_TRUE(c->fork(a, f));
  EXPECT_EQ(f.blocks[0], a.blocks[0]);
  EXPECT_NE(f.blocks[1], a.blocks[1]);
  EXPECT_EQ(read_back(*c, f), toks);
  // Diverge: each appends its own token to its own partial block.
  auto ta = toks, tf = toks;
  ta.push_back(70);
  tf.push_back(80);
  compute(*c, a, ta, 7);
  compute(*c, f, tf, 7);
  EXPECT_EQ(read_back(*c, a), ta);
  EXPECT_EQ(read_back(*c, f), tf);
  c->release(a);
  c->release(f);
  EXPECT_EQ(c->stats().pool.used_blocks, 0);
}

TEST(KvCache, WasteCountsPartialLastBlocks) {
  auto c = make_cache(8);
  BlockTable a;
  auto toks = tokens(5);
  compute(*c, a, toks, 5);  // 2 blocks, 5 of 8 slots filled
  EXPECT_DOUBLE_EQ(c->stats().pool.waste(), 3.0 / 8.0);
  c->release(a);
}

}  // namespace
}  // namespace kuai::engine::kv
