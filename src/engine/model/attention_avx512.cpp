// attn_chunk_avx512 (see attention.h): compiled with the avx512 flags, called only at that level.
// Scores: the chunk's keys transposed once into (hd, 16-key tiles), then per query 4 tiles at a time,
// one FMA with an embedded broadcast of q[e] per (tile, e): no horizontal sums. exp: range reduction
// to [-ln2/2, ln2/2], a degree-6 polynomial, vscalefps. Values: two accumulator sets (even and odd keys)
// per 64 columns of the head, summed at the end.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "engine/kernels/exp_avx512.h"
#include "engine/model/attention.h"

namespace kuai::engine::model {

namespace {

inline __mmask16 tile_mask(int m, int tile) {
  const int left = m - tile * 16;
  return left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << std::max(left, 0)) - 1);
}

// 16 rows of 16 floats, transposed in registers.
inline void transpose16(__m512* r) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  auto lo = [](__m512 a, __m512 b) { return _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a), _mm512_castps_pd(b))); };
  auto hi = [](__m512 a, __m512 b) { return _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a), _mm512_castps_pd(b))); };
  for (int i = 0; i < 4; ++i) {
    r[4 * i] = lo(t[4 * i], t[4 * i + 2]);
    r[4 * i + 1] = hi(t[4 * i], t[4 * i + 2]);
    r[4 * i + 2] = lo(t[4 * i + 1], t[4 * i + 3]);
    r[4 * i + 3] = hi(t[4 * i + 1], t[4 * i + 3]);
  }
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm512_shuffle_f32x4(r[i], r[4 + i], 0x88);
    t[4 + i] = _mm512_shuffle_f32x4(r[i], r[4 + i], 0xdd);
    t[8 + i] = _mm512_shuffle_f32x4(r[8 + i], r[12 + i], 0x88);
    t[12 + i] = _mm512_shuffle_f32x4(r[8 + i], r[12 + i], 0xdd);
  }
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0x88);
    r[8 + i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0xdd);
  }
}

// Where a chunk's keys and values come from: 16 values of row j from column e. F32Rows: float rows at a
// stride (AttnChunk); F16Rows: binary16 rows by pointer (AttnChunkF16), converted on the fly (exactly:
// every binary16 is a float), so both give the same bits for the same values.
struct F32Rows {
  const AttnChunk& c;
  __m512 key(int j, int e) const { return _mm512_loadu_ps(c.k + size_t(j) * c.kv_stride + size_t(e)); }
  __m512 value(int j, int e) const { return _mm512_loadu_ps(c.v + size_t(j) * c.kv_stride + size_t(e)); }
};

struct F16Rows {
  const AttnChunkF16& c;
  __m512 key(int j, int e) const { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(c.k[j] + e))); }
  __m512 value(int j, int e) const { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(c.v[j] + e))); }
};

// kt[e * npad + j] = k_j[e] for j < n, zero for j in [n, npad): 16 x 16 tiles transposed in registers.
template <class Src>
void transpose_keys(const Src& src, int hd, int n, float* kt, size_t npad) {
  __m512 r[16];
  for (int j0 = 0; j0 < n; j0 += 16) {
    for (int e0 = 0; e0 < hd; e0 += 16) {
      for (int j = 0; j < 16; ++j) r[j] = j0 + j < n ? src.key(j0 + j, e0) : _mm512_setzero_ps();
      transpose16(r);
      for (int e = 0; e < 16; ++e) _mm512_storeu_ps(kt + size_t(e0 + e) * npad + size_t(j0), r[e]);
    }
  }
}

// The kernel over either source; `c` (an AttnChunk or AttnChunkF16) gives hd, nq, q, lim, n, scale.
template <class Src, class Geometry>
void chunk_kernel(const Geometry& c, const Src& src, AttnAccum& a, float* scratch) {
  const int hd = c.hd, n = c.n;
  if (n <= 0) return;
  const int tiles = (n + 15) / 16;
  const size_t npad = size_t(tiles) * 16;
  float* kt = scratch;           // (hd, npad): kt[e * npad + j] = k_j[e]
  float* s = kt + size_t(hd) * npad;  // (npad) scores, then weights
  transpose_keys(src, hd, n, kt, npad);
  const __m512 vscale = _mm512_set1_ps(c.scale);
  for (int i = 0; i < c.nq; ++i) {
    const int m = std::min(c.lim[i], n);
    if (m <= 0) continue;
    const float* q = c.q + size_t(i) * size_t(hd);
    const int mt = (m + 15) / 16;
    // scores, 4 tiles at a time
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    for (int t0 = 0; t0 < mt; t0 += 4) {
      const int nt = std::min(4, mt - t0);
      __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
      const float* base = kt + size_t(t0) * 16;
      if (nt == 4) {
        for (int e = 0; e < hd; ++e) {
          const __m512 qe = _mm512_set1_ps(q[e]);
          const float* row = base + size_t(e) * npad;
          acc[0] = _mm512_fmadd_ps(qe, _mm512_loadu_ps(row), acc[0]);
          acc[1] = _mm512_fmadd_ps(qe, _mm512_loadu_ps(row + 16), acc[1]);
          acc[2] = _mm512_fmadd_ps(qe, _mm512_loadu_ps(row + 32), acc[2]);
          acc[3] = _mm512_fmadd_ps(qe, _mm512_loadu_ps(row + 48), acc[3]);
        }
      } else {
        for (int e = 0; e < hd; ++e) {
          const __m512 qe = _mm512_set1_ps(q[e]);
          const float* row = base + size_t(e) * npad;
          for (int k = 0; k < nt; ++k) acc[k] = _mm512_fmadd_ps(qe, _mm512_loadu_ps(row + 16 * k), acc[k]);
        }
      }
      for (int k = 0; k < nt; ++k) {
        const int tile = t0 + k;
        const __m512 sv = _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), tile_mask(m, tile), _mm512_mul_ps(acc[k], vscale));
        _mm512_storeu_ps(s + size_t(tile) * 16, sv);
        vmax = _mm512_max_ps(vmax, sv);
      }
    }
    const float new_max = std::max(a.m[i], _mm512_reduce_max_ps(vmax));
    const float rescale = std::exp(a.m[i] - new_max);  // exp(-inf) = 0 on the first chunk
    const __m512 vmx = _mm512_set1_ps(new_max);
    __m512 lsum = _mm512_setzero_ps();
    for (int tile = 0; tile < mt; ++tile) {
      const __m512 p = _mm512_maskz_mov_ps(tile_mask(m, tile), kernels::exp512(_mm512_sub_ps(_mm512_loadu_ps(s + size_t(tile) * 16), vmx)));
      _mm512_storeu_ps(s + size_t(tile) * 16, p);
      lsum = _mm512_add_ps(lsum, p);
    }
    a.l[i] = a.l[i] * rescale + _mm512_reduce_add_ps(lsum);
    a.m[i] = new_max;
    // values, 64 columns at a time, even and odd keys in separate accumulators
    float* out = a.acc + size_t(i) * size_t(hd);
    const __m512 vr = _mm512_set1_ps(rescale);
    for (int e0 = 0; e0 < hd; e0 += 64) {
      const int nv = std::min(4, (hd - e0) / 16);
      __m512 ev[4], od[4];
      for (int d = 0; d < nv; ++d) {
        ev[d] = _mm512_mul_ps(_mm512_loadu_ps(out + e0 + 16 * d), vr);
        od[d] = _mm512_setzero_ps();
      }
      int j = 0;
      if (nv == 4) {
        for (; j + 1 < m; j += 2) {
          const __m512 w0 = _mm512_set1_ps(s[j]), w1 = _mm512_set1_ps(s[j + 1]);
          ev[0] = _mm512_fmadd_ps(w0, src.value(j, e0), ev[0]);
          ev[1] = _mm512_fmadd_ps(w0, src.value(j, e0 + 16), ev[1]);
          ev[2] = _mm512_fmadd_ps(w0, src.value(j, e0 + 32), ev[2]);
          ev[3] = _mm512_fmadd_ps(w0, src.value(j, e0 + 48), ev[3]);
          od[0] = _mm512_fmadd_ps(w1, src.value(j + 1, e0), od[0]);
          od[1] = _mm512_fmadd_ps(w1, src.value(j + 1, e0 + 16), od[1]);
          od[2] = _mm512_fmadd_ps(w1, src.value(j + 1, e0 + 32), od[2]);
          od[3] = _mm512_fmadd_ps(w1, src.value(j + 1, e0 + 48), od[3]);
        }
      } else {
        for (; j + 1 < m; j += 2) {
          const __m512 w0 = _mm512_set1_ps(s[j]), w1 = _mm512_set1_ps(s[j + 1]);
          for (int d = 0; d < nv; ++d) {
            ev[d] = _mm512_fmadd_ps(w0, src.value(j, e0 + 16 * d), ev[d]);
            od[d] = _mm512_fmadd_ps(w1, src.value(j + 1, e0 + 16 * d), od[d]);
          }
        }
      }
      if (j < m) {
        const __m512 w0 = _mm512_set1_ps(s[j]);
        for (int d = 0; d < nv; ++d) ev[d] = _mm512_fmadd_ps(w0, src.value(j, e0 + 16 * d), ev[d]);
      }
      for (int d = 0; d < nv; ++d) _mm512_storeu_ps(out + e0 + 16 * d, _mm512_add_ps(ev[d], od[d]));
    }
  }
}

}  // namespace

void attn_chunk_avx512(const AttnChunk& c, AttnAccum& a, float* scratch) { chunk_kernel(c, F32Rows{c}, a, scratch); }

void attn_chunk_f16_avx512(const AttnChunkF16& c, AttnAccum& a, float* scratch) {
  chunk_kernel(c, F16Rows{c}, a, scratch);
}

}  // namespace kuai::engine::model
