#include "engine/kv/block_pool.h"

#include "engine/kv/block_hash.h"

#include <gtest/gtest.h>

#include <numeric>
#include <set>
#include <vector>

namespace kuai::engine::kv {
namespace {

std::vector<int32_t> iota_tokens(int n, int start) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), start);
  return t;
}

TEST(BlockPool, AllocatesEveryBlockOnceThenFails) {
  BlockPool pool(8, 4);
  std::set<BlockId> got;
  for (int i = 0; i < 8; ++i) got.insert(pool.allocate());
  EXPECT_EQ(got.size(), 8u);
  EXPECT_EQ(pool.allocate(), kNoBlock);
  EXPECT_EQ(pool.stats().used_blocks, 8);
  for (BlockId b : got) pool.release(b);
  const auto s = pool.stats();
  EXPECT_EQ(s.used_blocks, 0);
  EXPECT_EQ(s.free_blocks, 8);
  EXPECT_EQ(s.cached_blocks, 0);
}

TEST(BlockPool, RefcountKeepsSharedBlockUsed) {
  BlockPool pool(2, 4);
  const BlockId b = pool.allocate();
  pool.retain(b);
  EXPECT_EQ(pool.refcount(b), 2);
  pool.release(b);
  EXPECT_EQ(pool.stats().used_blocks, 1);
  pool.release(b);
  EXPECT_EQ(pool.stats().used_blocks, 0);
  EXPECT_EQ(pool.stats().free_blocks, 2);
}

TEST(BlockPool, PublishedBlockIsCachedAfterReleaseAndReacquired) {
  BlockPool pool(4, 4);
  const auto toks = iota_tokens(4, 10);
  const uint64_t h = block_hash(kRootHash, toks);
  const BlockId b = pool.allocate();
  pool.set_filled(b, 4);
  pool.publish(b, h, kRootHash, toks);
  pool.release(b);
  EXPECT_EQ(pool.stats().cached_blocks, 1);
  EXPECT_EQ(pool.stats().free_blocks, 3);
  EXPECT_EQ(pool.acquire_published(h, kRootHash, toks), b);
  EXPECT_EQ(pool.stats().cached_blocks, 0);
  EXPECT_EQ(pool.stats().used_blocks, 1);
  EXPECT_EQ(pool.stats().filled_slots, 4);
  // Same hash, other tokens (a collision) or other parent: a miss, never the wrong data.
  auto other = toks;
  other[0] = 99;
  EXPECT_EQ(pool.acquire_published(h, kRootHash, other), kNoBlock);
  EXPECT_EQ(pool.acquire_published(h, 1234, toks), kNoBlock);
  pool.release(b);
}

TEST(BlockPool, EvictsLeastRecentlyUsedCachedBlockOnlyWhenNothingIsFree) {
  BlockPool pool(3, 2);
  std::vector<uint64_t> hashes;
  std::vector<BlockId> blocks;
  for (int i = 0; i < 3; ++i) {
    const auto toks = iota_tokens(2, 100 * i);
    const BlockId b = pool.allocate();
    pool.set_filled(b, 2);
    hashes.push_back(block_hash(kRootHash, toks));
    pool.publish(b, hashes.back(), kRootHash, toks);
    blocks.push_back(b);
  }
  // Released in order 1, 0, 2: block 1 is the least recently used.
  pool.release(blocks[1]);
  pool.release(blocks[0]);
  pool.release(blocks[2]);
  EXPECT_EQ(pool.stats().cached_blocks, 3);
  EXPECT_EQ(pool.available_blocks(), 3);
  const BlockId fresh = pool.allocate();
  EXPECT_EQ(fresh, blocks[1]);
  EXPECT_EQ(pool.filled(fresh), 0);
  EXPECT_EQ(pool.stats().evictions, 1);
  EXPECT_EQ(pool.acquire_published(hashes[1], kRootHash, iota_tokens(2, 100)), kNoBlock);
  EXPECT_EQ(pool.acquire_published(hashes[0], kRootHash, iota_tokens(2, 0)), blocks[0]);
  pool.release(blocks[0]);
  pool.release(fresh);
}

TEST(BlockPool, DuplicatePublishKeepsFirstCopy) {
  BlockPool pool(2, 2);
  const auto toks = iota_tokens(2, 7);
  const uint64_t h = block_hash(kRootHash, toks);
  const BlockId a = pool.allocate();
  const BlockId b = pool.allocate();
  pool.publish(a, h, kRootHash, toks);
  pool.publish(b, h, kRootHash, toks);
  EXPECT_TRUE(pool.is_published(a));
  EXPECT_FALSE(pool.is_published(b));
  pool.release(b);  // unpublished: straight to the free list
  EXPECT_EQ(pool.stats().free_blocks, 1);
  pool.release(a);
  EXPECT_EQ(pool.stats().cached_blocks, 1);
}

TEST(BlockPool, WasteIsUnfilledSlotsOverUsedSlots) {
  BlockPool pool(4, 16);
  const BlockId a = pool.allocate();
  const BlockId b = pool.allocate();
  pool.set_filled(a, 16);
  pool.set_filled(b, 4);
  const auto s = pool.stats();
  EXPECT_EQ(s.used_slots, 32);
  EXPECT_EQ(s.filled_slots, 20);
  EXPECT_DOUBLE_EQ(s.waste(), 12.0 / 32.0);
  pool.release(a);
  pool.release(b);
  EXPECT_DOUBLE_EQ(pool.stats().waste(), 0.0);
}

TEST(BlockHash, ChainsOverPrefix) {
  const auto a = iota_tokens(4, 0);
  const auto b = iota_tokens(4, 4);
  const uint64_t ha = block_hash(kRootHash, a);
  EXPECT_EQ(block_hash(ha, b), block_hash(block_hash(kRootHash, a), b));
  EXPECT_NE(block_hash(ha, b), block_hash(kRootHash, b));  // same block, different prefix
}

}  // namespace
}  // namespace kuai::engine::kv
