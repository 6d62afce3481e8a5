#include "engine/model/int8_gemm.h"

#include <algorithm>
#include <cmath>

#include "engine/kernels/fp16.h"
#include "engine/kernels/type_traits.h"
#include "engine/model/int8_pack.h"
#include "engine/threads/thread_pool.h"

namespace kuai::engine::model {

void detail::int8_quantize_row(const float* x, int64_t cols, int32_t offset, int8_t* q, float* d, int32_t* c) {
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

void detail::int8_group_ref(GgmlType type, const uint8_t* g, int rows, int nb, const int8_t* aq, const float* ad,
                            const int32_t* ac, int n, float* y, size_t ys) {
  const int offset = type == GgmlType::Q4_0 ? 0 : 128;  // stored quant -> the unsigned byte the kernel reads
  const size_t cols = size_t(nb) * 32;
  for (int t = 0; t < n; ++t) {
    for (int r = 0; r < rows; ++r) {
      float acc = 0.0f;
      for (int b = 0; b < nb; ++b) {
        int32_t s = 0;
        for (int i = 0; i < 32; ++i)
          s += (int8_pack_quant_at(type, g, r, int64_t(b) * 32 + i) + offset) * aq[size_t(t) * cols + size_t(b) * 32 + size_t(i)];
        s -= ac[size_t(t) * size_t(nb) + size_t(b)];
        const float scale = kernels::fp16_to_fp32(int8_pack_scale_at(type, g, r, b)) * ad[size_t(t) * size_t(nb) + size_t(b)];
        acc = std::fma(scale, float(s), acc);
      }
      y[size_t(t) * ys + size_t(r)] = acc;
    }
  }
}

bool int8_gemm_supported(std::span<const kernels::MatmulOut> outs) {
  if (outs.empty() || kernels::detected_isa() < kernels::Isa::kAvx2) return false;
  const GgmlType type = outs[0].w->type;
  if (type != GgmlType::Q4_0 && type != GgmlType::Q8_0) return false;
  for (const auto& o : outs) {
    const kernels::WeightView& w = *o.w;
    if (w.type != type || !int8_packable(w) || w.cols != outs[0].w->cols) return false;
  }
  return true;
}

bool int8_gemm_preferred(std::span<const kernels::MatmulOut> outs, int n_tokens) {
  if (!int8_gemm_supported(outs)) return false;
  if (outs[0].w->type == GgmlType::Q4_0 || n_tokens >= kInt8GemmMinTokensQ8_0) return true;
  return std::all_of(outs.begin(), outs.end(), [](const kernels::MatmulOut& o) { return o.w->packed != nullptr; });
}

void int8_gemm(ThreadPool& pool, std::span<const kernels::MatmulOut> outs, const float* x, size_t x_stride,
               int n_tokens, Int8GemmScratch& s) {
  if (outs.empty() || n_tokens <= 0) return;
  const GgmlType type = outs[0].w->type;
  const int64_t cols = outs[0].w->cols;
  const int nb = int(cols / 32);
  s.aq.resize(size_t(n_tokens) * size_t(cols));
  s.ad.resize(size_t(n_tokens) * size_t(nb));
  s.ac.resize(size_t(n_tokens) * size_t(nb));
  const bool avx512 = kernels::detected_isa() >= kernels::Isa::kAvx512;
  const auto quantize_row = avx512 ? detail::int8_quantize_row_avx512 : detail::int8_quantize_row_avx2;
  const auto group_kernel = avx512 ? detail::int8_group_avx512 : detail::int8_group_avx2;
  pool.parallel_for(n_tokens, std::max<int64_t>(1, 4096 / cols), [&](int64_t b, int64_t e, int) {
    for (int64_t t = b; t < e; ++t)
      quantize_row(x + size_t(t) * x_stride, cols, type == GgmlType::Q8_0 ? 128 : 8, s.aq.data() + size_t(t) * size_t(cols),
                   s.ad.data() + t * nb, s.ac.data() + t * nb);
  });

  const size_t group_bytes = int8_pack_group_bytes(type, cols);
  const bool any_unpacked = std::any_of(outs.begin(), outs.end(), [](const kernels::MatmulOut& o) { return !o.w->packed; });
  if (any_unpacked) {
    if (s.pack.size() < size_t(pool.size())) s.pack.resize(size_t(pool.size()));
    for (auto& p : s.pack)
      if (p.size() < group_bytes + 64) p.resize(group_bytes + 64);  // + alignment
  }

  const size_t n_outs = outs.size();
  std::vector<int64_t> groups_before(n_outs + 1, 0);
  for (size_t o = 0; o < n_outs; ++o)
    groups_before[o + 1] = groups_before[o] + (outs[o].w->rows + kPackRows - 1) / kPackRows;
  // One group is a work item (two with several tokens on AVX-512: a packed weight's groups then run in
  // pairs, int8_group_pair_avx512); a thread's contiguous share of groups is one sequential stream.
  const bool pairs = avx512 && n_tokens >= 2;
  pool.parallel_for(groups_before[n_outs], pairs ? 2 : 1, [&](int64_t begin, int64_t end, int ith) {
    for (int64_t gi = begin; gi < end; ++gi) {
      size_t o = 0;
      while (groups_before[o + 1] <= gi) ++o;
      const kernels::WeightView& w = *outs[o].w;
      const int64_t g = gi - groups_before[o], r0 = g * kPackRows;
      const int rows = int(std::min<int64_t>(kPackRows, w.rows - r0));
      if (pairs && w.packed && rows == kPackRows && gi + 1 < end && gi + 1 < groups_before[o + 1]) {
        const auto* g0 = static_cast<const uint8_t*>(w.packed) + size_t(g) * group_bytes;
        const int rows1 = int(std::min<int64_t>(kPackRows, w.rows - r0 - kPackRows));
        detail::int8_group_pair_avx512(type, g0, g0 + group_bytes, rows1, nb, s.aq.data(), s.ad.data(), s.ac.data(),
                                       n_tokens, outs[o].y + r0, outs[o].y + r0 + kPackRows, outs[o].y_stride);
        ++gi;
        continue;
      }
      const uint8_t* group;
      if (w.packed) {
        group = static_cast<const uint8_t*>(w.packed) + size_t(g) * group_bytes;
      } else {
        auto addr = reinterpret_cast<uintptr_t>(s.pack[size_t(ith)].data());
        auto* dst = reinterpret_cast<uint8_t*>((addr + 63) & ~uintptr_t(63));
        int8_pack_group(w, r0, dst);
        group = dst;
      }
      group_kernel(type, group, rows, nb, s.aq.data(), s.ad.data(), s.ac.data(), n_tokens, outs[o].y + r0,
                   outs[o].y_stride);
    }
  });
}

}  // namespace kuai::engine::model
