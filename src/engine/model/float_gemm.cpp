#include "engine/model/float_gemm.h"

#include <algorithm>
#include <vector>

#include "engine/kernels/type_traits.h"
#include "engine/threads/thread_pool.h"

namespace kuai::engine::model {

namespace {
constexpr int kTileRows = 32;  // weight rows per work item
}

bool float_gemm_supported(std::span<const kernels::MatmulOut> outs) {
  if (outs.empty() || kernels::detected_isa() < kernels::Isa::kAvx2) return false;
  const GgmlType type = outs[0].w->type;
  if (type != GgmlType::F32 && type != GgmlType::F16 && type != GgmlType::BF16) return false;
  for (const auto& o : outs)
    if (o.w->type != type || o.w->cols != outs[0].w->cols) return false;
  return true;
}

bool float_gemm_preferred(std::span<const kernels::MatmulOut> outs, int n_tokens) {
  return n_tokens >= kFloatGemmMinTokens && float_gemm_supported(outs);
}

void float_gemm(ThreadPool& pool, std::span<const kernels::MatmulOut> outs, const float* x, size_t x_stride,
                int n_tokens) {
  if (outs.empty() || n_tokens <= 0) return;
  const size_t n_outs = outs.size();
  std::vector<int64_t> tiles_before(n_outs + 1, 0);
  for (size_t o = 0; o < n_outs; ++o) tiles_before[o + 1] = tiles_before[o] + (outs[o].w->rows + kTileRows - 1) / kTileRows;
  const auto tile_kernel = kernels::detected_isa() >= kernels::Isa::kAvx512 ? detail::float_tile_avx512 : detail::float_tile_avx2;
  pool.parallel_for(tiles_before[n_outs], 1, [&](int64_t begin, int64_t end, int) {
    for (int64_t tile = begin; tile < end; ++tile) {
      size_t o = 0;
      while (tiles_before[o + 1] <= tile) ++o;
      const kernels::WeightView& w = *outs[o].w;
      const int64_t r0 = (tile - tiles_before[o]) * kTileRows;
      const int rows = int(std::min<int64_t>(kTileRows, w.rows - r0));
      tile_kernel(w.type, static_cast<const uint8_t*>(w.data) + size_t(r0) * w.row_bytes, w.row_bytes, rows, int(w.cols),
                  x, x_stride, n_tokens, outs[o].y + r0, outs[o].y_stride);
    }
  });
}

}  // namespace kuai::engine::model
