#include "engine/model/attention.h"

#include <algorithm>
#include <cmath>

#include "engine/kernels/type_traits.h"

namespace kuai::engine::model {

size_t attn_scratch_floats(int hd, int max_n, int max_rows) {
  const size_t npad = size_t(max_n + 15) / 16 * 16;
  const size_t rows = size_t(std::max(max_rows, 1));
  return size_t(hd) * npad + rows * npad + rows + 16;  // transposed keys, scores per row, rescales, slack
}

void attn_chunk_ref(const AttnChunk& c, AttnAccum& a, float* scratch) {
  float* s = scratch;
  for (int i = 0; i < c.nq; ++i) {
    const int m = c.lim[i];
    if (m <= 0) continue;
    const float* q = c.q + size_t(i) * size_t(c.hd);
    float cmax = -INFINITY;
    for (int j = 0; j < m; ++j) {
      const float* kj = c.k + size_t(j) * c.kv_stride;
      float d = 0;
      for (int e = 0; e < c.hd; ++e) d += q[e] * kj[e];
      s[j] = d * c.scale;
      cmax = std::max(cmax, s[j]);
    }
    const float new_max = std::max(a.m[i], cmax);
    const float rescale = std::exp(a.m[i] - new_max);  // exp(-inf) = 0 on the first chunk
    float* acc = a.acc + size_t(i) * size_t(c.hd);
    if (rescale != 1.0f)
      for (int e = 0; e < c.hd; ++e) acc[e] *= rescale;
    a.l[i] *= rescale;
    for (int j = 0; j < m; ++j) {
      const float w = std::exp(s[j] - new_max);
      a.l[i] += w;
      const float* vj = c.v + size_t(j) * c.kv_stride;
      for (int e = 0; e < c.hd; ++e) acc[e] += w * vj[e];
    }
    a.m[i] = new_max;
  }
}

namespace {
bool avx512() { return kernels::detected_isa() >= kernels::Isa::kAvx512; }
bool avx2_fits(int hd) { return kernels::detected_isa() >= kernels::Isa::kAvx2 && hd % 8 == 0; }
}  // namespace

void attn_chunk(const AttnChunk& c, AttnAccum& a, float* scratch) {
  if (avx512()) attn_chunk_avx512(c, a, scratch);
  else if (avx2_fits(c.hd)) attn_chunk_avx2(c, a, scratch);
  else attn_chunk_ref(c, a, scratch);
}

bool attn_reads_f16_in_place(int hd) { return avx512() || avx2_fits(hd); }
bool attn_reads_q8_in_place(int hd) { return attn_reads_f16_in_place(hd) && hd % 32 == 0; }

void attn_chunk_f16(const AttnChunkF16& c, AttnAccum& a, float* scratch) {
  if (avx512()) attn_chunk_f16_avx512(c, a, scratch);
  else attn_chunk_f16_avx2(c, a, scratch);
}

void attn_chunk_q8(const AttnChunkQ8& c, AttnAccum& a, float* scratch) {
  if (avx512()) attn_chunk_q8_avx512(c, a, scratch);
  else attn_chunk_q8_avx2(c, a, scratch);
}

}  // namespace kuai::engine::model
