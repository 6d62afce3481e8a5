// The paged KV cache: a BlockPool (accounting, prefix cache, LRU) over a KvStore (bytes), and the
// operations on a sequence's BlockTable. Token position p of a sequence lives in block
// table.blocks[p / block_tokens], slot p % block_tokens.
//
// Life of a sequence: match_prefix (take published blocks of a common prefix: prefix sharing / prompt
// cache) → reserve (blocks for the tokens about to be computed) → the forward pass writes K/V for them
// → commit (marks them written; full blocks get their chained hash and become shareable) → … → release
// (blocks go back: published ones stay cached for later requests until memory is needed).
// Invariant: a block that a sequence writes into is never shared (shared blocks are full and immutable;
// fork copies a partial last block), so sharing needs no locks and no copies.
// Thread-safety: none; owned by the engine thread (the forward pass may write distinct blocks in parallel).
#pragma once

#include "engine/kv/block_hash.h"
#include "engine/kv/block_pool.h"
#include "engine/kv/kv_store.h"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace kuai::engine::kv {

struct BlockTable {
  std::vector<BlockId> blocks;
  int32_t n_tokens = 0;       // positions [0, n_tokens) hold written K/V
  int32_t n_published = 0;    // leading full blocks whose hash is known
  uint64_t last_hash = kRootHash;  // chained hash of blocks[n_published - 1] (kRootHash when none)
  int32_t capacity(int32_t block_tokens) const { return int32_t(blocks.size()) * block_tokens; }
};

struct KvStats {
  BlockPoolStats pool;
  int64_t prefix_query_tokens = 0;  // prompt tokens looked up in match_prefix, ever
  int64_t prefix_hit_tokens = 0;    // of those, tokens found cached (not recomputed), ever
};

class KvCache {
 public:
  // Error (message) for a bad shape or a budget below one block.
  static std::unique_ptr<KvCache> create(const KvShape& shape, uint64_t budget_bytes, std::string* error);

  int32_t block_tokens() const { return store_->shape().block_tokens; }
  int32_t total_blocks() const { return pool_.total_blocks(); }
  int32_t available_blocks() const { return pool_.available_blocks(); }
  KvStore& store() { return *store_; }
  const KvStore& store() const { return *store_; }
  const BlockPool& pool() const { return pool_; }

  // `table` must be empty. Takes the published blocks of the longest cached prefix of `tokens`, but never
  // all of them: at most (tokens.size() - 1) rounded down to whole blocks, since the last token must be
  // computed to yield logits. Returns the tokens hit (= table.n_tokens afterwards).
  // Not counted in the stats: see record_prefix_lookup.
  int32_t match_prefix(BlockTable& table, std::span<const int32_t> tokens);

  // Blocks that reserve(table, n_tokens) would still have to allocate.
  int32_t blocks_needed(const BlockTable& table, int32_t n_tokens) const;
  // Makes the table hold blocks for positions [0, n_tokens). False, with the table unchanged, when the
  // pool cannot supply them (after evicting every cached block it may).
  bool reserve(BlockTable& table, int32_t n_tokens);

  // Records that positions [table.n_tokens, n_total) were written (tokens[0, n_total) are the sequence's
  // tokens) and publishes blocks that became full.
  void commit(BlockTable& table, std::span<const int32_t> tokens, int32_t n_total);

  // Gives every block back (refcount - 1) and empties the table.
  void release(BlockTable& table);

  // `dst` (empty) becomes a copy of `src`: full blocks shared, a partial last block copied (copy-on-write).
  // False, with dst empty, when no block is available for the copy.
  bool fork(const BlockTable& src, BlockTable& dst);

  // Counts a prefix lookup in the stats (the scheduler calls it once per request, not per retry).
  void record_prefix_lookup(int64_t query_tokens, int64_t hit_tokens) {
    prefix_query_tokens_ += query_tokens;
    prefix_hit_tokens_ += hit_tokens;
  }

  KvStats stats() const;

 private:
  explicit KvCache(std::unique_ptr<KvStore> store);

  std::unique_ptr<KvStore> store_;
  BlockPool pool_;
  int64_t prefix_query_tokens_ = 0;
  int64_t prefix_hit_tokens_ = 0;
};

}  // namespace kuai::engine::kv
