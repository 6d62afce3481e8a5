#include "engine/kv/kv_store.h"

#include "engine/kernels/blocks.h"
#include "engine/kernels/huge_pages.h"
#include "engine/kv/kv_convert.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>

namespace kuai::engine::kv {

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

namespace {
// Columns per part: a KV head where the type allows reading it in place on its own (see kv_store.h).
int32_t part_dim_of(const KvShape& s) {
  const int32_t hd = s.head_dim;
  if (s.type == KvType::kF32 || hd <= 0 || hd >= s.kv_dim || s.kv_dim % hd != 0) return s.kv_dim;
  if (s.type == KvType::kQ8_0 && hd % kernels::kQK8_0 != 0) return s.kv_dim;
  return hd;
}
}  // namespace

KvStore::KvStore(const KvShape& shape, int32_t n_blocks)
    : shape_(shape),
      n_blocks_(n_blocks),
      part_dim_(part_dim_of(shape)),
      n_part_(shape.kv_dim / part_dim_),
      part_bytes_(kv_row_bytes(shape.type, part_dim_)),
      row_bytes_(kv_row_bytes(shape.type, shape.kv_dim)),
      block_bytes_(size_t(shape.n_layer) * 2 * size_t(shape.block_tokens) * row_bytes_),
      arena_(kernels::huge_page_alloc(size_t(n_blocks) * block_bytes_)) {}

size_t KvStore::col_bytes(int32_t n) const { return kv_row_bytes(shape_.type, n); }

void KvStore::encode(const float* x, uint8_t* out, int64_t n) const {
  switch (shape_.type) {
    case KvType::kF32: std::memcpy(out, x, size_t(n) * 4); break;
    case KvType::kF16: kv_f32_to_f16(x, reinterpret_cast<uint16_t*>(out), n); break;
    case KvType::kQ8_0: kv_f32_to_q8_0(x, out, n); break;
  }
}

void KvStore::decode(const uint8_t* in, float* x, int64_t n) const {
  switch (shape_.type) {
    case KvType::kF32: std::memcpy(x, in, size_t(n) * 4); break;
    case KvType::kF16: kv_f16_to_f32(reinterpret_cast<const uint16_t*>(in), x, n); break;
    case KvType::kQ8_0: kv_q8_0_to_f32(in, x, n); break;
  }
}

void KvStore::write(BlockId b, int32_t slot, int32_t layer, const float* k, const float* v) {
  for (int32_t p = 0; p < n_part_; ++p) {
    encode(k + size_t(p) * size_t(part_dim_), part(b, layer, false, slot, p), part_dim_);
    encode(v + size_t(p) * size_t(part_dim_), part(b, layer, true, slot, p), part_dim_);
  }
}

void KvStore::read(BlockId b, int32_t layer, int32_t slot0, int32_t n_tokens, float* k_out, float* v_out) const {
  read_cols(b, layer, slot0, n_tokens, 0, shape_.kv_dim, k_out, v_out);
}

void KvStore::read_cols(BlockId b, int32_t layer, int32_t slot0, int32_t n_tokens, int32_t col0, int32_t n_cols,
                        float* k_out, float* v_out) const {
  const int32_t dim = shape_.kv_dim;
  col0 = std::max(col0, 0);
  int32_t col1 = std::min(dim, col0 + n_cols);
  if (shape_.type == KvType::kQ8_0) {  // whole 32-wide groups
    col0 = col0 / kernels::kQK8_0 * kernels::kQK8_0;
    col1 = (col1 + kernels::kQK8_0 - 1) / kernels::kQK8_0 * kernels::kQK8_0;
  }
  if (col1 <= col0) return;
  // One part's slots of a block are contiguous: whole rows of one part convert in one call.
  if (n_part_ == 1 && col0 == 0 && col1 == dim) {
    const int64_t n = int64_t(n_tokens) * dim;
    decode(part(b, layer, false, slot0, 0), k_out, n);
    decode(part(b, layer, true, slot0, 0), v_out, n);
    return;
  }
  for (int32_t t = 0; t < n_tokens; ++t) {
    float* ko = k_out + size_t(t) * size_t(dim);
    float* vo = v_out + size_t(t) * size_t(dim);
    for (int32_t c = col0; c < col1;) {
      const int32_t p = c / part_dim_, in = c % part_dim_, n = std::min(col1 - c, part_dim_ - in);
      decode(part(b, layer, false, slot0 + t, p) + col_bytes(in), ko + c, n);
      decode(part(b, layer, true, slot0 + t, p) + col_bytes(in), vo + c, n);
      c += n;
    }
  }
}

void KvStore::copy(BlockId dst, BlockId src, int32_t n_tokens) {
  for (int32_t l = 0; l < shape_.n_layer; ++l)
    for (int value = 0; value < 2; ++value)
      for (int32_t p = 0; p < n_part_; ++p)
        std::memcpy(part(dst, l, value, 0, p), part(src, l, value, 0, p), size_t(n_tokens) * part_bytes_);
}

}  // namespace kuai::engine::kv
