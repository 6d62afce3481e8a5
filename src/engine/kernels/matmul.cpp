#include "engine/kernels/matmul.h"

#include <algorithm>
#include <cstring>

#include "engine/kernels/type_traits.h"
#include "engine/threads/thread_pool.h"

namespace kuai::engine::kernels {
namespace {

constexpr int64_t kRowTile = 16;  // weight rows per work item
constexpr int64_t kMinParallelMacs = 1 << 17;

struct ActBuffer {
  GgmlType type;
  const uint8_t* data;
  size_t stride;  // bytes per token row
};

}  // namespace

void matmul(ThreadPool& pool, std::span<const MatmulOut> outs, const float* x, size_t x_stride, int n_tokens,
            MatmulScratch& scratch) {
  if (outs.empty() || n_tokens <= 0) return;
  const int64_t cols = outs[0].w->cols;

  // 1. Convert the activations once per distinct format.
  ActBuffer acts[3];
  int n_acts = 0;
  const KernelTraits* traits[8];
  int act_index[8];
  const size_t n_outs = std::min<size_t>(outs.size(), 8);
  for (size_t o = 0; o < n_outs; ++o) {
    traits[o] = kernel_traits(outs[o].w->type);
    const GgmlType at = traits[o]->act_type;
    int found = -1;
    for (int a = 0; a < n_acts; ++a)
      if (acts[a].type == at) found = a;
    if (found < 0) {
      found = n_acts++;
      const size_t stride = row_bytes(at, uint64_t(cols));
      if (at == GgmlType::F32 && x_stride == size_t(cols)) {
        acts[found] = {at, reinterpret_cast<const uint8_t*>(x), stride};
      } else {
        auto& buf = scratch.act[found];
        buf.resize(stride * size_t(n_tokens));
        const KernelTraits* conv = kernel_traits(at);
        uint8_t* base = buf.data();
        pool.parallel_for(n_tokens, std::max<int64_t>(1, kMinParallelMacs / 8 / cols), [&](int64_t b, int64_t e, int) {
          for (int64_t t = b; t < e; ++t) conv->from_float(x + t * x_stride, base + t * stride, cols);
        });
        acts[found] = {at, base, stride};
      }
    }
    act_index[o] = found;
  }

  // 2. Work items: tiles of rows over all outputs.
  int64_t tiles_before[9];
  tiles_before[0] = 0;
  for (size_t o = 0; o < n_outs; ++o)
    tiles_before[o + 1] = tiles_before[o] + (outs[o].w->rows + kRowTile - 1) / kRowTile;
  const int64_t n_tiles = tiles_before[n_outs];
  // Tiny products (toy models) are not worth waking other threads for.
  int64_t macs = 0;
  for (size_t o = 0; o < n_outs; ++o) macs += outs[o].w->rows * cols * n_tokens;
  const int64_t grain = macs < kMinParallelMacs ? n_tiles : 1;

  pool.parallel_for(n_tiles, grain, [&](int64_t begin, int64_t end, int) {
    for (int64_t tile = begin; tile < end; ++tile) {
      size_t o = 0;
      while (tiles_before[o + 1] <= tile) ++o;
      const WeightView& w = *outs[o].w;
      const KernelTraits& k = *traits[o];
      const ActBuffer& act = acts[act_index[o]];
      const int64_t r0 = (tile - tiles_before[o]) * kRowTile;
      const int64_t r1 = std::min(w.rows, r0 + kRowTile);
      float* y = outs[o].y;
      const size_t ys = outs[o].y_stride;
      const auto* wbase = static_cast<const uint8_t*>(w.data);
      int t = 0;
      if (k.vec_dot_x4) {
        for (; t + 4 <= n_tokens; t += 4) {
          const uint8_t* a = act.data + size_t(t) * act.stride;
          for (int64_t r = r0; r < r1; ++r) {
            float out[4];
            k.vec_dot_x4(int(cols), wbase + r * w.row_bytes, a, act.stride, out);
            for (int j = 0; j < 4; ++j) y[size_t(t + j) * ys + size_t(r)] = out[j];
          }
        }
      }
      for (; t < n_tokens; ++t) {
        const uint8_t* a = act.data + size_t(t) * act.stride;
        for (int64_t r = r0; r < r1; ++r) y[size_t(t) * ys + size_t(r)] = k.vec_dot(int(cols), wbase + r * w.row_bytes, a);
      }
    }
  });
}

void matmul(ThreadPool& pool, const WeightView& w, const float* x, int n_tokens, float* y, MatmulScratch& scratch) {
  const MatmulOut out{&w, y, size_t(w.rows)};
  matmul(pool, std::span<const MatmulOut>(&out, 1), x, size_t(w.cols), n_tokens, scratch);
}

void weight_row_to_float(const WeightView& w, int64_t r, float* dst) {
  kernel_traits(w.type)->to_float(static_cast<const uint8_t*>(w.data) + r * w.row_bytes, dst, w.cols);
}

}  // namespace kuai::engine::kernels
