// The seam between the forward pass and KV storage: the model writes each token's K and V rows and
// reads them back in chunks, so the same forward pass runs over a contiguous F32 cache (this part) or a
// paged, F16/Q8_0, prefix-shared cache (engine/kv). One SequenceKv per sequence in a batch.
// Rows are kv_dim = n_head_kv * head_dim floats; K is stored after RoPE.
// Threads: during a forward pass, write() is called for distinct (layer, pos) pairs and chunk() from
// several pool threads at once; an implementation must allow that (no shared mutable state per call).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>

namespace kuai::engine::model {

struct KvChunk {
  int32_t pos0 = 0;         // first position in the chunk
  int32_t n = 0;            // positions in the chunk
  const float* k = nullptr;  // (n, kv_dim)
  const float* v = nullptr;  // (n, kv_dim)
};

class SequenceKv {
 public:
  virtual ~SequenceKv() = default;
  // Positions [0, capacity()) can be written.
  virtual int32_t capacity() const = 0;
  virtual void write(int32_t layer, int32_t pos, const float* k, const float* v) = 0;
  // Most positions one chunk() returns; bufs passed to chunk() hold that many rows.
  virtual int32_t chunk_tokens() const = 0;
  // Rows [pos0, min(pos0 + chunk_tokens(), n_pos)) of `layer`. May return pointers into storage or
  // decode into k_buf / v_buf ((chunk_tokens(), kv_dim) floats each, owned by the calling thread).
  // kv_head >= 0: the caller reads only that head's columns [kv_head * head_dim, +head_dim) of each
  // row (still at their offsets in the kv_dim-wide rows), so a decoding cache may convert just those.
  virtual KvChunk chunk(int32_t layer, int32_t pos0, int32_t n_pos, float* k_buf, float* v_buf,
                        int32_t kv_head = -1) const = 0;
  // Where rows are stored as binary16: pointers to column col0 of the K and V rows of positions
  // [pos0, pos0 + n) of `layer`, so attention reads them in place; false (nothing written) otherwise.
  virtual bool f16_rows(int32_t /*layer*/, int32_t /*pos0*/, int32_t /*n*/, int32_t /*col0*/, const uint16_t** /*k*/,
                        const uint16_t** /*v*/) const {
    return false;
  }
  // Where rows are stored as ggml Q8_0 blocks (34 bytes: a binary16 scale, 32 int8) and col0 starts a
  // block: pointers to the block holding column col0 of the K and V rows of positions [pos0, pos0 + n)
  // of `layer`, so attention dequantises them as it reads; false (nothing written) otherwise.
  virtual bool q8_rows(int32_t /*layer*/, int32_t /*pos0*/, int32_t /*n*/, int32_t /*col0*/, const uint8_t** /*k*/,
                       const uint8_t** /*v*/) const {
    return false;
  }
};

// Contiguous F32 cache of one sequence: (n_layer, capacity, kv_dim) for K and for V.
class KvCacheF32 final : public SequenceKv {
 public:
  KvCacheF32(int32_t n_layer, int32_t kv_dim, int32_t capacity);
  int32_t capacity() const override { return capacity_; }
  void write(int32_t layer, int32_t pos, const float* k, const float* v) override;
  int32_t chunk_tokens() const override { return std::min(capacity_, 256); }
  KvChunk chunk(int32_t layer, int32_t pos0, int32_t n_pos, float*, float*, int32_t kv_head = -1) const override;

 private:
  int32_t n_layer_, kv_dim_, capacity_;
  std::unique_ptr<float[]> k_, v_;
};

}  // namespace kuai::engine::model
