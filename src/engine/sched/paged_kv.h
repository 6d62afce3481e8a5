// model::SequenceKv over the paged KV cache: the forward pass writes and reads one sequence's K/V
// through its block table (position p → block table.blocks[p / block_tokens], slot p % block_tokens).
// chunk() hands out at least 64 positions (whole blocks) at a time, decoded into the caller's buffers
// (F16 / Q8_0, and F32 with blocks under 16 tokens), or one block's rows in place (F32), so small blocks
// (less KV waste) do not slow attention down.
// Threads: a view is built per step on the engine thread; the forward pass may call write() for
// distinct positions and chunk() from several pool threads at once (no mutable state here).
#pragma once

#include "engine/kv/kv_cache.h"
#include "engine/model/kv_view.h"

namespace kuai::engine::sched {

class PagedSequenceKv final : public model::SequenceKv {
 public:
  // head_dim: columns per kv head (for kv_head-restricted decoding).
  PagedSequenceKv(kv::KvStore& store, const kv::BlockTable& table, int32_t head_dim);

  int32_t capacity() const override { return table_->capacity(bs_); }
  void write(int32_t layer, int32_t pos, const float* k, const float* v) override;
  int32_t chunk_tokens() const override { return chunk_; }
  // F16 / Q8_0: with kv_head >= 0 only that head's columns are decoded (attention runs one task per
  // (token, kv head), so decoding whole rows would convert n_head_kv times too much).
  model::KvChunk chunk(int32_t layer, int32_t pos0, int32_t n_pos, float* k_buf, float* v_buf,
                       int32_t kv_head = -1) const override;
  bool f16_rows(int32_t layer, int32_t pos0, int32_t n, int32_t col0, const uint16_t** k,
                const uint16_t** v) const override;
  bool q8_rows(int32_t layer, int32_t pos0, int32_t n, int32_t col0, const uint8_t** k,
               const uint8_t** v) const override;

 private:
  // Pointers to column col0 of the stored K and V rows of positions [pos0, pos0 + n) of `layer`.
  template <class T>
  void rows_in_place(int32_t layer, int32_t pos0, int32_t n, int32_t col0, const T** k, const T** v) const;
  // Whether the head_dim columns from col0 lie in one part of the store's rows (kv_store.h).
  bool within_part(int32_t col0) const {
    const int32_t part = store_->part_dim();
    return col0 % part + head_dim_ <= part;
  }

  kv::KvStore* store_;
  const kv::BlockTable* table_;
  int32_t bs_;
  int32_t head_dim_;
  int32_t chunk_;  // positions per chunk(): a multiple of bs_
};

}  // namespace kuai::engine::sched
