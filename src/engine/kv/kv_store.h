// Storage of the paged KV cache: one contiguous arena of fixed-size blocks.
//
// Layout of one block (block_tokens token slots), for layer l = 0..n_layer-1:
//   K rows: (block_tokens, kv_dim) then V rows: (block_tokens, kv_dim), kv_dim = n_kv_head * head_dim,
// each row stored as `dtype`: F32, F16 (default; binary16) or Q8_0 (ggml's 34-byte blocks of 32, needs
// kv_dim % 32 == 0). Rows are converted on write and dequantised to F32 on read.
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
    return reinterpret_cast<const float*>(row(b, layer, value, 0));
  }
  // One row in place, as stored (F16: kv_dim binary16 values; Q8_0: kv_dim / 32 ggml blocks of 34 bytes).
  const uint8_t* row_in_place(BlockId b, int32_t layer, bool value, int32_t slot) const { return row(b, layer, value, slot); }
  // Copies the first n_tokens slots of every layer from `src` into `dst` (copy-on-write of a partial block).
  void copy(BlockId dst, BlockId src, int32_t n_tokens);

 private:
  KvStore(const KvShape& shape, int32_t n_blocks);
  uint8_t* row(BlockId b, int32_t layer, bool value, int32_t slot) const {
    const size_t layer_bytes = 2 * size_t(shape_.block_tokens) * row_bytes_;
    return arena_.get() + size_t(b) * block_bytes_ + size_t(layer) * layer_bytes +
           (value ? size_t(shape_.block_tokens) * row_bytes_ : 0) + size_t(slot) * row_bytes_;
  }
  void encode(const float* x, uint8_t* out) const;
  void decode(const uint8_t* in, float* x) const;

  KvShape shape_;
  int32_t n_blocks_;
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
