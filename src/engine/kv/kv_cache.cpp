#include "engine/kv/kv_cache.h"

#include "engine/kv/block_hash.h"

#include <algorithm>
#include <cassert>

namespace kuai::engine::kv {

std::unique_ptr<KvCache> KvCache::create(const KvShape& shape, uint64_t budget_bytes, std::string* error) {
  auto store = KvStore::create(shape, budget_bytes, error);
  if (!store) return nullptr;
  return std::unique_ptr<KvCache>(new KvCache(std::move(store)));
}

KvCache::KvCache(std::unique_ptr<KvStore> store)
    : store_(std::move(store)), pool_(store_->n_blocks(), store_->shape().block_tokens) {}

int32_t KvCache::match_prefix(BlockTable& table, std::span<const int32_t> tokens) {
  assert(table.blocks.empty());
  const int32_t bs = block_tokens();
  if (tokens.empty()) return 0;
  const int32_t max_blocks = int32_t((tokens.size() - 1) / size_t(bs));
  uint64_t parent = kRootHash;
  for (int32_t i = 0; i < max_blocks; ++i) {
    const auto chunk = tokens.subspan(size_t(i) * size_t(bs), size_t(bs));
    const uint64_t h = block_hash(parent, chunk);
    const BlockId b = pool_.acquire_published(h, parent, chunk);
    if (b == kNoBlock) break;
    table.blocks.push_back(b);
    parent = h;
  }
  table.n_published = int32_t(table.blocks.size());
  table.n_tokens = table.n_published * bs;
  table.last_hash = parent;
  return table.n_tokens;
}

int32_t KvCache::blocks_needed(const BlockTable& table, int32_t n_tokens) const {
  const int32_t bs = block_tokens();
  const int32_t want = (n_tokens + bs - 1) / bs;
  return std::max(0, want - int32_t(table.blocks.size()));
}

bool KvCache::reserve(BlockTable& table, int32_t n_tokens) {
  const int32_t need = blocks_needed(table, n_tokens);
  if (need == 0) return true;
  if (need > pool_.available_blocks()) return false;
  for (int32_t i = 0; i < need; ++i) {
    const BlockId b = pool_.allocate();
    assert(b != kNoBlock);
    table.blocks.push_back(b);
  }
  return true;
}

void KvCache::commit(BlockTable& table, std::span<const int32_t> tokens, int32_t n_total) {
  const int32_t bs = block_tokens();
  assert(n_total <= table.capacity(bs) && size_t(n_total) <= tokens.size());
  if (n_total <= table.n_tokens) return;
  for (int32_t bi = table.n_tokens / bs; bi * bs < n_total; ++bi) {
    pool_.set_filled(table.blocks[size_t(bi)], std::min(bs, n_total - bi * bs));
  }
  table.n_tokens = n_total;
  for (; (table.n_published + 1) * bs <= n_total; ++table.n_published) {
    const auto chunk = tokens.subspan(size_t(table.n_published) * size_t(bs), size_t(bs));
    const uint64_t h = block_hash(table.last_hash, chunk);
    pool_.publish(table.blocks[size_t(table.n_published)], h, table.last_hash, chunk);
    table.last_hash = h;
  }
}

void KvCache::release(BlockTable& table) {
  // Release from the end so that, among one sequence's cached blocks, the prefix's first blocks are the
  // most recently used (evicted last): a later request can only reuse block i if it has blocks 0..i-1.
  for (auto it = table.blocks.rbegin(); it != table.blocks.rend(); ++it) pool_.release(*it);
  table = BlockTable{};
}

bool KvCache::fork(const BlockTable& src, BlockTable& dst) {
  assert(dst.blocks.empty());
  const int32_t bs = block_tokens();
  const int32_t full = src.n_tokens / bs;
  const int32_t partial = src.n_tokens % bs;
  BlockId copy = kNoBlock;
  if (partial > 0) {
    copy = pool_.allocate();
    if (copy == kNoBlock) return false;
    store_->copy(copy, src.blocks[size_t(full)], partial);
    pool_.set_filled(copy, partial);
  }
  for (int32_t i = 0; i < full; ++i) {
    pool_.retain(src.blocks[size_t(i)]);
    dst.blocks.push_back(src.blocks[size_t(i)]);
  }
  if (copy != kNoBlock) dst.blocks.push_back(copy);
  dst.n_tokens = src.n_tokens;
  dst.n_published = src.n_published;
  dst.last_hash = src.last_hash;
  // Full blocks the source has not published yet are shared too: they are full, so never written again.
  return true;
}

KvStats KvCache::stats() const {
  KvStats s;
  s.pool = pool_.stats();
  s.prefix_query_tokens = prefix_query_tokens_;
  s.prefix_hit_tokens = prefix_hit_tokens_;
  return s;
}

}  // namespace kuai::engine::kv
