#include "engine/kv/kv_store.h"

#include "engine/kernels/blocks.h"
#include "engine/kv/kv_convert.h"

#include <sys/mman.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <new>

namespace kuai::engine::kv {

namespace {
// Uninitialised arena bytes, 2 MiB-aligned and advised as huge pages (committed only when touched).
uint8_t* alloc_arena(size_t bytes) {
  constexpr size_t kHuge = size_t(2) << 20;
  const size_t size = (std::max<size_t>(bytes, 1) + kHuge - 1) / kHuge * kHuge;
  auto* p = static_cast<uint8_t*>(std::aligned_alloc(kHuge, size));
  if (!p) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
  ::madvise(p, size, MADV_HUGEPAGE);  // advice only: where THP is off nothing changes
#endif
  return p;
}
}  // namespace

void KvStore::Free::operator()(uint8_t* p) const { std::free(p); }

std::string_view kv_type_name(KvType t) {
  switch (t) {
    case KvType::kF32: return "f32";
    case KvType::kF16: return "f16";
    case KvType::kQ8_0: return "q8_0";
  }
  return "?";
}

std::optional<KvType> kv_type_from_name(std::string_view name) {
  std::string s;
  for (char c : name) s.push_back(char(std::tolower(static_cast<unsigned char>(c))));
  if (s == "f32") return KvType::kF32;
  if (s == "f16") return KvType::kF16;
  if (s == "q8_0" || s == "q8") return KvType::kQ8_0;
  return std::nullopt;
}

size_t kv_row_bytes(KvType t, int32_t kv_dim) {
  switch (t) {
    case KvType::kF32: return size_t(kv_dim) * 4;
    case KvType::kF16: return size_t(kv_dim) * 2;
    case KvType::kQ8_0: return size_t(kv_dim / kernels::kQK8_0) * sizeof(kernels::BlockQ8_0);
  }
  return 0;
}

std::unique_ptr<KvStore> KvStore::create(const KvShape& shape, uint64_t budget_bytes, std::string* error) {
  auto fail = [&](std::string why) -> std::unique_ptr<KvStore> {
    if (error) *error = std::move(why);
    return nullptr;
  };
  if (shape.n_layer <= 0 || shape.kv_dim <= 0 || shape.block_tokens <= 0 || shape.block_tokens > 1024) {
    return fail("bad KV shape (n_layer, kv_dim and block_tokens must be positive)");
  }
  if (shape.type == KvType::kQ8_0 && shape.kv_dim % kernels::kQK8_0 != 0) {
    return fail("KV type q8_0 needs n_kv_head * head_dim to be a multiple of 32, got " + std::to_string(shape.kv_dim));
  }
  const size_t block_bytes = size_t(shape.n_layer) * 2 * size_t(shape.block_tokens) * kv_row_bytes(shape.type, shape.kv_dim);
  const uint64_t n = budget_bytes / block_bytes;
  if (n == 0) {
    return fail("KV memory budget of " + std::to_string(budget_bytes) + " bytes holds no block (one block is " +
                std::to_string(block_bytes) + " bytes)");
  }
  if (n > uint64_t(INT32_MAX / 2)) return fail("KV memory budget too large");
  return std::unique_ptr<KvStore>(new KvStore(shape, int32_t(n)));
}

KvStore::KvStore(const KvShape& shape, int32_t n_blocks)
    : shape_(shape),
      n_blocks_(n_blocks),
      row_bytes_(kv_row_bytes(shape.type, shape.kv_dim)),
      block_bytes_(size_t(shape.n_layer) * 2 * size_t(shape.block_tokens) * row_bytes_),
      arena_(alloc_arena(size_t(n_blocks) * block_bytes_)) {}

void KvStore::encode(const float* x, uint8_t* out) const {
  switch (shape_.type) {
    case KvType::kF32: std::memcpy(out, x, row_bytes_); break;
    case KvType::kF16: kv_f32_to_f16(x, reinterpret_cast<uint16_t*>(out), shape_.kv_dim); break;
    case KvType::kQ8_0: kv_f32_to_q8_0(x, out, shape_.kv_dim); break;
  }
}

void KvStore::decode(const uint8_t* in, float* x) const {
  switch (shape_.type) {
    case KvType::kF32: std::memcpy(x, in, row_bytes_); break;
    case KvType::kF16: kv_f16_to_f32(reinterpret_cast<const uint16_t*>(in), x, shape_.kv_dim); break;
    case KvType::kQ8_0: kv_q8_0_to_f32(in, x, shape_.kv_dim); break;
  }
}

void KvStore::write(BlockId b, int32_t slot, int32_t layer, const float* k, const float* v) {
  encode(k, row(b, layer, false, slot));
  encode(v, row(b, layer, true, slot));
}

void KvStore::read(BlockId b, int32_t layer, int32_t slot0, int32_t n_tokens, float* k_out, float* v_out) const {
  const int64_t n = int64_t(n_tokens) * shape_.kv_dim;
  const uint8_t* k = row(b, layer, false, slot0);
  const uint8_t* v = row(b, layer, true, slot0);
  // Rows of one block are contiguous, so a whole block converts in one call.
  switch (shape_.type) {
    case KvType::kF32:
      std::memcpy(k_out, k, size_t(n) * 4);
      std::memcpy(v_out, v, size_t(n) * 4);
      break;
    case KvType::kF16:
      kv_f16_to_f32(reinterpret_cast<const uint16_t*>(k), k_out, n);
      kv_f16_to_f32(reinterpret_cast<const uint16_t*>(v), v_out, n);
      break;
    case KvType::kQ8_0:
      kv_q8_0_to_f32(k, k_out, n);
      kv_q8_0_to_f32(v, v_out, n);
      break;
  }
}

void KvStore::read_cols(BlockId b, int32_t layer, int32_t slot0, int32_t n_tokens, int32_t col0, int32_t n_cols,
                        float* k_out, float* v_out) const {
  const int32_t dim = shape_.kv_dim;
  if (col0 <= 0 && n_cols >= dim) return read(b, layer, slot0, n_tokens, k_out, v_out);
  for (int32_t t = 0; t < n_tokens; ++t) {
    const uint8_t* k = row(b, layer, false, slot0 + t);
    const uint8_t* v = row(b, layer, true, slot0 + t);
    float* ko = k_out + size_t(t) * size_t(dim);
    float* vo = v_out + size_t(t) * size_t(dim);
    switch (shape_.type) {
      case KvType::kF32:
        std::memcpy(ko + col0, reinterpret_cast<const float*>(k) + col0, size_t(n_cols) * 4);
        std::memcpy(vo + col0, reinterpret_cast<const float*>(v) + col0, size_t(n_cols) * 4);
        break;
      case KvType::kF16:
        kv_f16_to_f32(reinterpret_cast<const uint16_t*>(k) + col0, ko + col0, n_cols);
        kv_f16_to_f32(reinterpret_cast<const uint16_t*>(v) + col0, vo + col0, n_cols);
        break;
      case KvType::kQ8_0: {
        const int32_t g0 = col0 / kernels::kQK8_0;
        const int32_t g1 = (col0 + n_cols + kernels::kQK8_0 - 1) / kernels::kQK8_0;
        const size_t gb = sizeof(kernels::BlockQ8_0);
        kv_q8_0_to_f32(k + size_t(g0) * gb, ko + g0 * kernels::kQK8_0, int64_t(g1 - g0) * kernels::kQK8_0);
        kv_q8_0_to_f32(v + size_t(g0) * gb, vo + g0 * kernels::kQK8_0, int64_t(g1 - g0) * kernels::kQK8_0);
        break;
      }
    }
  }
}

void KvStore::copy(BlockId dst, BlockId src, int32_t n_tokens) {
  for (int32_t l = 0; l < shape_.n_layer; ++l) {
    std::memcpy(row(dst, l, false, 0), row(src, l, false, 0), size_t(n_tokens) * row_bytes_);
    std::memcpy(row(dst, l, true, 0), row(src, l, true, 0), size_t(n_tokens) * row_bytes_);
  }
}

}  // namespace kuai::engine::kv
