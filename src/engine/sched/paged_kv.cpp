#include "engine/sched/paged_kv.h"

#include "engine/kernels/blocks.h"

#include <algorithm>

namespace kuai::engine::sched {

namespace {
// Positions one chunk() gathers at least (whole blocks): attention's per-chunk costs (a softmax
// rescale per q head, a virtual call) stay small however small the blocks are.
constexpr int32_t kGatherTokens = 64;
}  // namespace

PagedSequenceKv::PagedSequenceKv(kv::KvStore& store, const kv::BlockTable& table, int32_t head_dim)
    : store_(&store),
      table_(&table),
      bs_(store.shape().block_tokens),
      head_dim_(head_dim),
      chunk_(bs_ >= kGatherTokens ? bs_ : (kGatherTokens + bs_ - 1) / bs_ * bs_) {}

void PagedSequenceKv::write(int32_t layer, int32_t pos, const float* k, const float* v) {
  store_->write(table_->blocks[size_t(pos / bs_)], pos % bs_, layer, k, v);
}

model::KvChunk PagedSequenceKv::chunk(int32_t layer, int32_t pos0, int32_t n_pos, float* k_buf, float* v_buf,
                                      int32_t kv_head) const {
  const int32_t slot0 = pos0 % bs_;
  const int32_t end = std::max(pos0, std::min(n_pos, pos0 + chunk_));
  if (end == pos0) return model::KvChunk{pos0, 0, k_buf, v_buf};
  const int32_t kv_dim = store_->shape().kv_dim;
  // F32 with blocks of a useful size: rows in place (zero-copy), up to the block's end.
  if (store_->shape().type == kv::KvType::kF32 && bs_ >= 16) {
    const int32_t n = std::min(end - pos0, bs_ - slot0);
    const kv::BlockId b = table_->blocks[size_t(pos0 / bs_)];
    const size_t off = size_t(slot0) * size_t(kv_dim);
    return model::KvChunk{pos0, n, store_->f32_rows(b, layer, false) + off, store_->f32_rows(b, layer, true) + off};
  }
  // Otherwise decode block after block into the caller's buffers.
  for (int32_t p = pos0; p < end;) {
    const int32_t slot = p % bs_;
    const int32_t n = std::min(end - p, bs_ - slot);
    const kv::BlockId b = table_->blocks[size_t(p / bs_)];
    float* k_out = k_buf + size_t(p - pos0) * size_t(kv_dim);
    float* v_out = v_buf + size_t(p - pos0) * size_t(kv_dim);
    if (kv_head >= 0) {
      store_->read_cols(b, layer, slot, n, kv_head * head_dim_, head_dim_, k_out, v_out);
    } else {
      store_->read(b, layer, slot, n, k_out, v_out);
    }
    p += n;
  }
  return model::KvChunk{pos0, end - pos0, k_buf, v_buf};
}

template <class T>
void PagedSequenceKv::rows_in_place(int32_t layer, int32_t pos0, int32_t n, int32_t col0, const T** k, const T** v) const {
  const size_t stride = store_->slot_stride();
  for (int32_t i = 0; i < n;) {
    const int32_t p = pos0 + i, slot0 = p % bs_, in_block = std::min(n - i, bs_ - slot0);
    const kv::BlockId b = table_->blocks[size_t(p / bs_)];
    const uint8_t* kb = store_->cols_in_place(b, layer, false, slot0, col0);
    const uint8_t* vb = store_->cols_in_place(b, layer, true, slot0, col0);
    for (int32_t s = 0; s < in_block; ++s, ++i) {
      k[i] = reinterpret_cast<const T*>(kb + size_t(s) * stride);
      v[i] = reinterpret_cast<const T*>(vb + size_t(s) * stride);
    }
  }
}

bool PagedSequenceKv::f16_rows(int32_t layer, int32_t pos0, int32_t n, int32_t col0, const uint16_t** k,
                               const uint16_t** v) const {
  if (store_->shape().type != kv::KvType::kF16 || !within_part(col0)) return false;
  rows_in_place(layer, pos0, n, col0, k, v);
  return true;
}

bool PagedSequenceKv::q8_rows(int32_t layer, int32_t pos0, int32_t n, int32_t col0, const uint8_t** k,
                              const uint8_t** v) const {
  if (store_->shape().type != kv::KvType::kQ8_0 || col0 % engine::kernels::kQK8_0 != 0 || !within_part(col0)) return false;
  rows_in_place(layer, pos0, n, col0, k, v);
  return true;
}

}  // namespace kuai::engine::sched
