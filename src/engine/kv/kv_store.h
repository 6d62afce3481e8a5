// Storage of the paged KV cache: one contiguous arena of fixed-size blocks.
//
// Layout of one block (block_tokens token slots), for layer l = 0..n_layer-1: K then V, each
// (n_part, block_tokens, part_dim), kv_dim = n_part * part_dim, stored as `dtype`: F32, F16 (default;
// binary16) or Q8_0 (ggml's 34-byte blocks of 32, needs kv_dim % 32 == 0). A part is one KV head
// (part_dim = head_dim) for F16, and for Q8_0 where head_dim % 32 == 0: decode attention reads one
// head of many positions, and a head's slots of a block are then contiguous (the hardware prefetcher
// follows them; a head's 128 bytes at a whole row's stride it did not: attention 1.6x slower on Zen 3
// at 8 streams x 320 positions). F32 (read in place as whole rows) and a shape without head_dim keep
// one part, whole rows. Rows are converted on write and dequantised to F32 on read.
// Pages of the arena are touched lazily (allocated uninitialised), so a large --kv-memory costs RSS only
// as blocks are used. Thread-safety: distinct blocks (or distinct layers) may be written from different
// threads at once; a block is never written while it is read.
#pragma once

#include "engine/kv/block_pool.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace kuai::engine::kv {

enum class KvType { kF32, kF16, kQ8_0 };

std::string_view kv_type_name(KvType t);                      // "f32" | "f16" | "q8_0"
std::optional<KvType> kv_type_from_name(std::string_view name);  // case-insensitive

struct KvShape {
  int32_t n_layer = 0;
  int32_t kv_dim = 0;          // n_kv_head * head_dim
  int32_t block_tokens = 16;
  KvType type = KvType::kF16;
  int32_t head_dim = 0;  // columns per KV head; 0: rows are not split by head
};

size_t kv_row_bytes(KvType t, int32_t kv_dim);

class KvStore {
 public:
  // Fits as many blocks as `budget_bytes` holds. Error (message) for a bad shape or a budget below one block.
  static std::unique_ptr<KvStore> create(const KvShape& shape, uint64_t budget_bytes, std::string* error);

  const KvShape& shape() const { return shape_; }
  int32_t n_blocks() const { return n_blocks_; }
  size_t block_bytes() const { return block_bytes_; }
  size_t row_bytes() const { return row_bytes_; }
  // Columns per part (see the layout above): head_dim, or kv_dim where rows stay whole.
  int32_t part_dim() const { return part_dim_; }

  // k, v: kv_dim floats each, for token slot `slot` (0..block_tokens-1) of block `b`, layer `layer`.
  void write(BlockId b, int32_t slot, int32_t layer, const float* k, const float* v);
  // k_out, v_out: (n_tokens, kv_dim) floats, slots [slot0, slot0 + n_tokens) of block `b` for `layer`.
  void read(BlockId b, int32_t layer, int32_t n_tokens, float* k_out, float* v_out) const {
    read(b, layer, 0, n_tokens, k_out, v_out);
  }
  void read(BlockId b, int32_t layer, int32_t slot0, int32_t n_tokens, float* k_out, float* v_out) const;
  // Like read(), but only columns [col0, col0 + n_cols) of each row are written (at their offsets in
  // the kv_dim-wide output rows; other columns are left as they are). Q8_0 decodes the 32-wide groups
  // that cover the range.
  void read_cols(BlockId b, int32_t layer, int32_t slot0, int32_t n_tokens, int32_t col0, int32_t n_cols,
                 float* k_out, float* v_out) const;
  // F32 stores only: the rows in place, (block_tokens, kv_dim) from slot 0 (zero-copy reads).
  const float* f32_rows(BlockId b, int32_t layer, bool value) const {
    return reinterpret_cast<const float*>(part(b, layer, value, 0, 0));
  }
  // Columns [col0, col0 + n) of one row in place, as stored (F16: binary16 values; Q8_0: ggml blocks of
  // 34 bytes, col0 % 32 == 0), for a range inside one part (col0 % part_dim() + n <= part_dim()).
  const uint8_t* cols_in_place(BlockId b, int32_t layer, bool value, int32_t slot, int32_t col0) const {
    return part(b, layer, value, slot, col0 / part_dim_) + col_bytes(col0 % part_dim_);
  }
  // Bytes from one slot's part to the next slot's (cols_in_place of slot s + 1 = that of slot s + this).
  size_t slot_stride() const { return part_bytes_; }
  // Copies the first n_tokens slots of every layer from `src` into `dst` (copy-on-write of a partial block).
  void copy(BlockId dst, BlockId src, int32_t n_tokens);

 private:
  KvStore(const KvShape& shape, int32_t n_blocks);
  // Part p of the row of `slot`.
  uint8_t* part(BlockId b, int32_t layer, bool value, int32_t slot, int32_t p) const {
    const size_t half = size_t(shape_.block_tokens) * row_bytes_;  // K (or V) of one layer
    return arena_.get() + size_t(b) * block_bytes_ + size_t(layer) * 2 * half + (value ? half : 0) +
           (size_t(p) * size_t(shape_.block_tokens) + size_t(slot)) * part_bytes_;
  }
  // Bytes of the first n columns of a part (n % 32 == 0 for Q8_0).
  size_t col_bytes(int32_t n) const;
  void encode(const float* x, uint8_t* out, int64_t n) const;
  void decode(const uint8_t* in, float* x, int64_t n) const;

  KvShape shape_;
  int32_t n_blocks_;
  int32_t part_dim_;
  int32_t n_part_;
  size_t part_bytes_;
  size_t row_bytes_;
  size_t block_bytes_;
  struct Free {
    void operator()(uint8_t* p) const;
  };
  // 2 MiB-aligned and MADV_HUGEPAGE (kv_store.cpp): a batch of new sequences writing rows into fresh
  // 4 KiB pages spent ~5% of its steps in page faults; huge pages cut them 512-fold.
  std::unique_ptr<uint8_t[], Free> arena_;
};

}  // namespace kuai::engine::kv
