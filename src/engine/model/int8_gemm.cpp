#include "engine/model/int8_gemm.h"

#include <algorithm>
#include <cmath>

#include "engine/kernels/type_traits.h"
#include "engine/threads/thread_pool.h"

namespace kuai::engine::model {

namespace {

constexpr int kRows = 8;       // weight rows must come in multiples of this
constexpr int kTileRows = 16;  // rows per work item (the last of a weight may have 8)

// Token row x (cols floats) -> int8 blocks of 32 with scale d = max|x| / 127, and offset * sum(q) per
// block (offset: what the packed weights carry above their true value, 8 for Q4_0, 128 for Q8_0).
void quantize_row(const float* x, int64_t cols, int32_t offset, int8_t* q, float* d, int32_t* c) {
  for (int64_t b = 0; b < cols / 32; ++b) {
    const float* xb = x + b * 32;
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(xb[i]));
    const float scale = amax / 127.0f;
    const float inv = amax > 0 ? 127.0f / amax : 0.0f;
    int32_t sum = 0;
    for (int i = 0; i < 32; ++i) {
      const int v = int(std::nearbyint(xb[i] * inv));
      q[b * 32 + i] = int8_t(std::clamp(v, -127, 127));
      sum += q[b * 32 + i];
    }
    d[b] = scale;
    c[b] = offset * sum;
  }
}

}  // namespace

size_t detail::int8_gemm_pack_bytes(int nb, size_t row_bytes) {
  return size_t(nb) * 576 + size_t(kTileRows) * row_bytes;  // packed tile (512 + 64 scales per block), row copy
}

bool int8_gemm_supported(std::span<const kernels::MatmulOut> outs) {
  if (outs.empty() || kernels::detected_isa() < kernels::Isa::kAvx512) return false;
  const GgmlType type = outs[0].w->type;
  if (type != GgmlType::Q4_0 && type != GgmlType::Q8_0) return false;
  for (const auto& o : outs) {
    const kernels::WeightView& w = *o.w;
    if (w.type != type || w.rows % kRows != 0 || w.cols % 32 != 0 || w.cols != outs[0].w->cols) return false;
  }
  return true;
}

bool int8_gemm_preferred(std::span<const kernels::MatmulOut> outs, int n_tokens) {
  if (!int8_gemm_supported(outs)) return false;
  return outs[0].w->type == GgmlType::Q4_0 || n_tokens >= kInt8GemmMinTokensQ8_0;
}

void int8_gemm(ThreadPool& pool, std::span<const kernels::MatmulOut> outs, const float* x, size_t x_stride,
               int n_tokens, Int8GemmScratch& s) {
  if (outs.empty() || n_tokens <= 0) return;
  const bool q8 = outs[0].w->type == GgmlType::Q8_0;
  const int64_t cols = outs[0].w->cols;
  const int nb = int(cols / 32);
  s.aq.resize(size_t(n_tokens) * size_t(cols));
  s.ad.resize(size_t(n_tokens) * size_t(nb));
  s.ac.resize(size_t(n_tokens) * size_t(nb));
  pool.parallel_for(n_tokens, std::max<int64_t>(1, 4096 / cols), [&](int64_t b, int64_t e, int) {
    for (int64_t t = b; t < e; ++t)
      quantize_row(x + size_t(t) * x_stride, cols, q8 ? 128 : 8, s.aq.data() + size_t(t) * size_t(cols),
                   s.ad.data() + t * nb, s.ac.data() + t * nb);
  });

  size_t max_row_bytes = 0;
  for (const auto& o : outs) max_row_bytes = std::max(max_row_bytes, o.w->row_bytes);
  const size_t pack_bytes = detail::int8_gemm_pack_bytes(nb, max_row_bytes) + 64;  // + alignment
  if (s.pack.size() < size_t(pool.size())) s.pack.resize(size_t(pool.size()));
  for (auto& p : s.pack)
    if (p.size() < pack_bytes) p.resize(pack_bytes);

  auto* tile_fn = q8 ? detail::q8_0_tile_avx512 : detail::q4_0_tile_avx512;
  const size_t n_outs = outs.size();
  std::vector<int64_t> tiles_before(n_outs + 1, 0);
  for (size_t o = 0; o < n_outs; ++o) tiles_before[o + 1] = tiles_before[o] + (outs[o].w->rows + kTileRows - 1) / kTileRows;
  const int64_t n_tiles = tiles_before[n_outs];
  pool.parallel_for(n_tiles, 1, [&](int64_t begin, int64_t end, int ith) {
    auto addr = reinterpret_cast<uintptr_t>(s.pack[size_t(ith)].data());
    auto* pack = reinterpret_cast<uint8_t*>((addr + 63) & ~uintptr_t(63));
    for (int64_t tile = begin; tile < end; ++tile) {
      size_t o = 0;
      while (tiles_before[o + 1] <= tile) ++o;
      const kernels::WeightView& w = *outs[o].w;
      const int64_t r0 = (tile - tiles_before[o]) * kTileRows;
      const int rows = int(std::min<int64_t>(kTileRows, w.rows - r0));
      const auto* wbase = static_cast<const uint8_t*>(w.data) + size_t(r0) * w.row_bytes;
      tile_fn(wbase, w.row_bytes, rows, nb, s.aq.data(), s.ad.data(), s.ac.data(), n_tokens, outs[o].y + r0,
              outs[o].y_stride, pack);
    }
  });
}

}  // namespace kuai::engine::model
