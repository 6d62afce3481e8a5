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

#include "engine/model/attention.h"

namespace kuai::engine::model {

namespace {

// e^x for x <= 0 (relative error ~2e-7; below -87.3 the result is ~1e-38, callers mask such lanes).
inline __m512 exp512(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.3f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.0f / 720);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

inline __mmask16 tile_mask(int m, int tile) {
  const int left = m - tile * 16;
  return left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << std::max(left, 0)) - 1);
}

}  // namespace

void attn_chunk_avx512(const AttnChunk& c, AttnAccum& a, float* scratch) {
  const int hd = c.hd, n = c.n;
  if (n <= 0) return;
  const int tiles = (n + 15) / 16;
  const size_t npad = size_t(tiles) * 16;
  float* kt = scratch;           // (hd, npad): kt[e * npad + j] = k_j[e]
  float* s = kt + size_t(hd) * npad;  // (npad) scores, then weights
  for (int j = 0; j < n; ++j) {
    const float* kj = c.k + size_t(j) * c.kv_stride;
    for (int e = 0; e < hd; ++e) kt[size_t(e) * npad + size_t(j)] = kj[e];
  }
  for (int e = 0; e < hd; ++e)
    for (size_t j = size_t(n); j < npad; ++j) kt[size_t(e) * npad + j] = 0.0f;

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
      const __m512 p = _mm512_maskz_mov_ps(tile_mask(m, tile), exp512(_mm512_sub_ps(_mm512_loadu_ps(s + size_t(tile) * 16), vmx)));
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
      const float* vb = c.v + e0;
      int j = 0;
      if (nv == 4) {
        for (; j + 1 < m; j += 2) {
          const float* v0 = vb + size_t(j) * c.kv_stride;
          const float* v1 = v0 + c.kv_stride;
          const __m512 w0 = _mm512_set1_ps(s[j]), w1 = _mm512_set1_ps(s[j + 1]);
          ev[0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(v0), ev[0]);
          ev[1] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(v0 + 16), ev[1]);
          ev[2] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(v0 + 32), ev[2]);
          ev[3] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(v0 + 48), ev[3]);
          od[0] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(v1), od[0]);
          od[1] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(v1 + 16), od[1]);
          od[2] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(v1 + 32), od[2]);
          od[3] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(v1 + 48), od[3]);
        }
      } else {
        for (; j + 1 < m; j += 2) {
          const float* v0 = vb + size_t(j) * c.kv_stride;
          const float* v1 = v0 + c.kv_stride;
          const __m512 w0 = _mm512_set1_ps(s[j]), w1 = _mm512_set1_ps(s[j + 1]);
          for (int d = 0; d < nv; ++d) {
            ev[d] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(v0 + 16 * d), ev[d]);
            od[d] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(v1 + 16 * d), od[d]);
          }
        }
      }
      if (j < m) {
        const float* v0 = vb + size_t(j) * c.kv_stride;
        const __m512 w0 = _mm512_set1_ps(s[j]);
        for (int d = 0; d < nv; ++d) ev[d] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(v0 + 16 * d), ev[d]);
      }
      for (int d = 0; d < nv; ++d) _mm512_storeu_ps(out + e0 + 16 * d, _mm512_add_ps(ev[d], od[d]));
    }
  }
}

}  // namespace kuai::engine::model
