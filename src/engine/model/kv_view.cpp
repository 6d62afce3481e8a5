#include "engine/model/kv_view.h"

#include <algorithm>
#include <cstring>

namespace kuai::engine::model {

KvCacheF32::KvCacheF32(int32_t n_layer, int32_t kv_dim, int32_t capacity)
    : n_layer_(n_layer), kv_dim_(kv_dim), capacity_(capacity),
      k_(new float[size_t(n_layer) * size_t(capacity) * size_t(kv_dim)]),
      v_(new float[size_t(n_layer) * size_t(capacity) * size_t(kv_dim)]) {}

void KvCacheF32::write(int32_t layer, int32_t pos, const float* k, const float* v) {
  const size_t off = (size_t(layer) * size_t(capacity_) + size_t(pos)) * size_t(kv_dim_);
  std::memcpy(k_.get() + off, k, size_t(kv_dim_) * sizeof(float));
  std::memcpy(v_.get() + off, v, size_t(kv_dim_) * sizeof(float));
}

KvChunk KvCacheF32::chunk(int32_t layer, int32_t pos0, int32_t n_pos, float*, float*, int32_t) const {
  const size_t off = (size_t(layer) * size_t(capacity_) + size_t(pos0)) * size_t(kv_dim_);
  return KvChunk{pos0, std::max(0, std::min(n_pos, pos0 + 256) - pos0), k_.get() + off, v_.get() + off};
}

}  // namespace kuai::engine::model
