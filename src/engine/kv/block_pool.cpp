#include "engine/kv/block_pool.h"

#include <algorithm>
#include <cassert>

namespace kuai::engine::kv {

BlockPool::BlockPool(int32_t n_blocks, int32_t block_tokens)
    : block_tokens_(block_tokens),
      meta_(size_t(std::max(n_blocks, 0))),
      tokens_(size_t(std::max(n_blocks, 0)) * size_t(std::max(block_tokens, 1))) {
  free_.reserve(meta_.size());
  for (int32_t b = n_blocks - 1; b >= 0; --b) free_.push_back(b);
}

BlockId BlockPool::allocate() {
  BlockId b = kNoBlock;
  if (!free_.empty()) {
    b = free_.back();
    free_.pop_back();
  } else if (!lru_.empty()) {
    b = lru_.front();
    lru_.pop_front();
    meta_[size_t(b)].in_lru = false;
    unpublish(b);
    ++evictions_;
  } else {
    return kNoBlock;
  }
  Meta& m = meta_[size_t(b)];
  assert(m.ref == 0);
  m.ref = 1;
  m.filled = 0;
  ++used_;
  return b;
}

void BlockPool::retain(BlockId b) {
  Meta& m = meta_[size_t(b)];
  assert(m.ref > 0);
  ++m.ref;
}

void BlockPool::release(BlockId b) {
  Meta& m = meta_[size_t(b)];
  assert(m.ref > 0);
  if (--m.ref > 0) return;
  --used_;
  filled_used_ -= m.filled;
  if (m.published) {
    lru_.push_back(b);
    m.lru_pos = std::prev(lru_.end());
    m.in_lru = true;
  } else {
    m.filled = 0;
    free_.push_back(b);
  }
}

void BlockPool::set_filled(BlockId b, int32_t n_tokens) {
  Meta& m = meta_[size_t(b)];
  assert(m.ref > 0 && n_tokens >= 0 && n_tokens <= block_tokens_);
  filled_used_ += n_tokens - m.filled;
  m.filled = n_tokens;
}

void BlockPool::publish(BlockId b, uint64_t hash, uint64_t parent, std::span<const int32_t> tokens) {
  Meta& m = meta_[size_t(b)];
  if (m.published || by_hash_.count(hash)) return;
  assert(int32_t(tokens.size()) == block_tokens_);
  m.published = true;
  m.hash = hash;
  m.parent = parent;
  std::copy(tokens.begin(), tokens.end(), tokens_.begin() + ptrdiff_t(size_t(b) * size_t(block_tokens_)));
  by_hash_.emplace(hash, b);
}

void BlockPool::unpublish(BlockId b) {
  Meta& m = meta_[size_t(b)];
  if (!m.published) return;
  by_hash_.erase(m.hash);
  m.published = false;
  m.hash = 0;
  m.parent = 0;
}

BlockId BlockPool::acquire_published(uint64_t hash, uint64_t parent, std::span<const int32_t> tokens) {
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return kNoBlock;
  const BlockId b = it->second;
  Meta& m = meta_[size_t(b)];
  const auto stored = tokens_.begin() + ptrdiff_t(size_t(b) * size_t(block_tokens_));
  if (m.parent != parent || int32_t(tokens.size()) != block_tokens_ ||
      !std::equal(tokens.begin(), tokens.end(), stored)) {
    return kNoBlock;
  }
  if (m.in_lru) {
    lru_.erase(m.lru_pos);
    m.in_lru = false;
  }
  if (m.ref++ == 0) {
    ++used_;
    filled_used_ += m.filled;
  }
  return b;
}

BlockPoolStats BlockPool::stats() const {
  BlockPoolStats s;
  s.total_blocks = total_blocks();
  s.used_blocks = used_;
  s.cached_blocks = int32_t(lru_.size());
  s.free_blocks = int32_t(free_.size());
  s.used_slots = int64_t(used_) * block_tokens_;
  s.filled_slots = filled_used_;
  s.evictions = evictions_;
  return s;
}

}  // namespace kuai::engine::kv
