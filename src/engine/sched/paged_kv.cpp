#include "engine/sched/paged_kv.h"

#include <algorithm>

namespace kuai::engine::sched {

void PagedSequenceKv::write(int32_t layer, int32_t pos, const float* k, const float* v) {
  store_->write(table_->blocks[size_t(pos / bs_)], pos % bs_, layer, k, v);
}

model::KvChunk PagedSequenceKv::chunk(int32_t layer, int32_t pos0, int32_t n_pos, float* k_buf, float* v_buf,
                                      int32_t kv_head) const {
  const int32_t slot = pos0 % bs_;
  const int32_t n = std::max(0, std::min(n_pos - pos0, bs_ - slot));
  if (n == 0) return model::KvChunk{pos0, 0, k_buf, v_buf};
  const kv::BlockId b = table_->blocks[size_t(pos0 / bs_)];
  if (store_->shape().type == kv::KvType::kF32) {
    const size_t off = size_t(slot) * size_t(store_->shape().kv_dim);
    return model::KvChunk{pos0, n, store_->f32_rows(b, layer, false) + off, store_->f32_rows(b, layer, true) + off};
  }
  if (kv_head >= 0) {
    store_->read_cols(b, layer, slot, n, kv_head * head_dim_, head_dim_, k_buf, v_buf);
  } else {
    store_->read(b, layer, slot, n, k_buf, v_buf);
  }
  return model::KvChunk{pos0, n, k_buf, v_buf};
}

}  // namespace kuai::engine::sched
