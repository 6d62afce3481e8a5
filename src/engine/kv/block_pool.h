// Accounting for the paged KV cache's fixed-size blocks (no storage here: see kv_store.h).
//
// Every block is in exactly one of three states:
//   free    — refcount 0, holds nothing anyone can reuse; on the free list;
//   used    — refcount > 0, in some sequences' block tables;
//   cached  — refcount 0 but FULL and published under its chained prefix hash: a later request with the
//             same prefix can take it back (prompt cache). Cached blocks sit in an LRU list and are
//             evicted (oldest first) only when no free block is left.
// A full published block is immutable, so any number of sequences can share it without copies.
// Thread-safety: none; owned by the engine thread.
#pragma once

#include <cstdint>
#include <list>
#include <span>
#include <unordered_map>
#include <vector>

namespace kuai::engine::kv {

using BlockId = int32_t;
constexpr BlockId kNoBlock = -1;

struct BlockPoolStats {
  int32_t total_blocks = 0;
  int32_t used_blocks = 0;    // refcount > 0
  int32_t cached_blocks = 0;  // refcount 0, reusable by prefix
  int32_t free_blocks = 0;    // refcount 0, empty
  int64_t used_slots = 0;     // token slots of used blocks (used_blocks * block_tokens)
  int64_t filled_slots = 0;   // token slots of used blocks that hold a token's K/V
  int64_t evictions = 0;      // cached blocks reclaimed for new data, ever
  // Allocated-but-unused token slots / allocated token slots, over used blocks (0 when none used).
  double waste() const { return used_slots ? double(used_slots - filled_slots) / double(used_slots) : 0.0; }
};

class BlockPool {
 public:
  BlockPool(int32_t n_blocks, int32_t block_tokens);

  int32_t block_tokens() const { return block_tokens_; }
  int32_t total_blocks() const { return int32_t(meta_.size()); }
  // Blocks allocate() could return right now (free + evictable cached).
  int32_t available_blocks() const { return int32_t(free_.size() + lru_.size()); }

  // A fresh block with refcount 1 and fill 0: from the free list, else by evicting the least recently
  // used cached block. kNoBlock when every block is in use.
  BlockId allocate();
  void retain(BlockId b);
  // Refcount - 1; at 0 a published block becomes cached (most recently used), any other becomes free.
  void release(BlockId b);

  // Token slots of `b` that hold data (0..block_tokens). Set by the writer.
  void set_filled(BlockId b, int32_t n_tokens);
  int32_t filled(BlockId b) const { return meta_[size_t(b)].filled; }
  int32_t refcount(BlockId b) const { return meta_[size_t(b)].ref; }

  // Publishes a full block under `hash` (chained over `parent` and `tokens`, block_tokens of them).
  // No-op when that hash is already published by another block (that one stays the shared copy).
  void publish(BlockId b, uint64_t hash, uint64_t parent, std::span<const int32_t> tokens);
  bool is_published(BlockId b) const { return meta_[size_t(b)].published; }
  uint64_t hash_of(BlockId b) const { return meta_[size_t(b)].hash; }

  // The published block for this prefix, verified token for token (a hash collision is a miss), with
  // its refcount raised by one (taken out of the LRU list if it was cached). kNoBlock on a miss.
  BlockId acquire_published(uint64_t hash, uint64_t parent, std::span<const int32_t> tokens);

  BlockPoolStats stats() const;

 private:
  struct Meta {
    int32_t ref = 0;
    int32_t filled = 0;
    bool published = false;
    bool in_lru = false;
    uint64_t hash = 0;
    uint64_t parent = 0;
    std::list<BlockId>::iterator lru_pos;
  };
  void unpublish(BlockId b);

  int32_t block_tokens_;
  std::vector<Meta> meta_;
  std::vector<int32_t> tokens_;  // (n_blocks, block_tokens): tokens of published blocks, for verification
  std::vector<BlockId> free_;    // LIFO
  std::list<BlockId> lru_;       // cached blocks, front = least recently used
  std::unordered_map<uint64_t, BlockId> by_hash_;
  int32_t used_ = 0;
  int64_t filled_used_ = 0;  // sum of `filled` over used blocks
  int64_t evictions_ = 0;
};

}  // namespace kuai::engine::kv
