// attn_chunk_avx512 (see attention.h): compiled with the avx512 flags, called only at that level.
// Scores: one fixed sum per score (16 lane chains over the head dimension, then the lanes left to right),
// computed by a block path (keys transposed once per chunk, for blocks of rows) or a row path (keys read
// as rows, for a decode row); see score_block below. exp: range reduction
// to [-ln2/2, ln2/2], a degree-6 polynomial, vscalefps. Values: two accumulator sets (even and odd keys)
// per 64 columns of the head, summed at the end.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/kernels/blocks.h"
#include "engine/kernels/exp_avx512.h"
#include "engine/model/attention.h"
#include "engine/model/attention_prefetch.h"

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
// `m`: the lanes to read (a head width that is not a multiple of 16 ends with a partial vector).
struct F32Rows {
  const AttnChunk& c;
  void prefetch(int) const {}  // rows are contiguous (or converted just now)
  __m512 key(int j, int e, __mmask16 m) const { return _mm512_maskz_loadu_ps(m, c.k + size_t(j) * c.kv_stride + size_t(e)); }
  __m512 value(int j, int e, __mmask16 m) const {
    return _mm512_maskz_loadu_ps(m, c.v + size_t(j) * c.kv_stride + size_t(e));
  }
};

struct F16Rows {
  const AttnChunkF16& c;
  // Rows of a paged cache are scattered (a block holds a couple of positions), so the hardware
  // prefetcher cannot follow them: ask for key and value j ahead of use.
  void prefetch(int j) const { prefetch_kv_rows(c.k[j], c.v[j], c.hd * int(sizeof(uint16_t))); }
  __m512 key(int j, int e, __mmask16 m) const { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, c.k[j] + e)); }
  __m512 value(int j, int e, __mmask16 m) const { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, c.v[j] + e)); }
};

struct Q8Rows {
  const AttnChunkQ8& c;
  static constexpr int kBlockBytes = int(sizeof(kernels::BlockQ8_0));  // binary16 scale, then kQK8_0 int8
  static constexpr int kBlockValues = kernels::kQK8_0;
  // Rows are scattered like F16Rows'; a head of 64 is 68 bytes.
  void prefetch(int j) const { prefetch_kv_rows(c.k[j], c.v[j], (c.hd / kBlockValues) * kBlockBytes); }
  // 16 values from column e (a multiple of 16): scale x int8, as the store's decoding computes them.
  static __m512 dequant(const uint8_t* row, int e, __mmask16 m) {
    const uint8_t* block = row + (e / kBlockValues) * kBlockBytes;
    uint16_t d;
    std::memcpy(&d, block, sizeof d);
    const __m512 q = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, block + sizeof d + e % kBlockValues)));
    return _mm512_mul_ps(_mm512_set1_ps(_cvtsh_ss(d)), q);
  }
  __m512 key(int j, int e, __mmask16 m) const { return dequant(c.k[j], e, m); }  // the transposing path
  // A whole block (hd % 32 == 0, so every lane is used): one scale and one load of its 32 quants, the
  // same products as dequant (dot_key and value_vectors below read decode rows this way).
  static void dequant_block(const uint8_t* block, __m512& lo, __m512& hi) {
    uint16_t h;
    std::memcpy(&h, block, sizeof h);
    const __m512 scale = _mm512_set1_ps(_cvtsh_ss(h));
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + sizeof h));
    lo = _mm512_mul_ps(scale, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(q))));
    hi = _mm512_mul_ps(scale, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(q, 1))));
  }
};

// Lane sums of key j against the query vectors qv[0..nv-1]: one FMA chain over the head, d in order.
template <class Src>
inline __m512 dot_key(const Src& src, int j, const __m512* qv, int nv, __mmask16 last) {
  __m512 acc = _mm512_setzero_ps();
  for (int d = 0; d < nv; ++d) acc = _mm512_fmadd_ps(qv[d], src.key(j, 16 * d, d == nv - 1 ? last : __mmask16(0xFFFF)), acc);
  return acc;
}
inline __m512 dot_key(const Q8Rows& src, int j, const __m512* qv, int nv, __mmask16) {
  __m512 acc = _mm512_setzero_ps();
  for (int d = 0; d < nv; d += 2) {
    __m512 lo, hi;
    Q8Rows::dequant_block(src.c.k[j] + (d / 2) * Q8Rows::kBlockBytes, lo, hi);
    acc = _mm512_fmadd_ps(qv[d], lo, acc);
    acc = _mm512_fmadd_ps(qv[d + 1], hi, acc);
  }
  return acc;
}

// Vectors d = 0..nv-1 of value row j from column e0 (16 values each; the last one masked by `last`).
template <class Src>
inline void value_vectors(const Src& src, int j, int e0, int nv, __mmask16 last, __m512* out) {
  for (int d = 0; d < nv; ++d) out[d] = src.value(j, e0 + 16 * d, d == nv - 1 ? last : __mmask16(0xFFFF));
}
inline void value_vectors(const Q8Rows& src, int j, int e0, int nv, __mmask16, __m512* out) {
  const uint8_t* row = src.c.v[j];
  for (int d = 0; d < nv; d += 2)
    Q8Rows::dequant_block(row + ((e0 + 16 * d) / Q8Rows::kBlockValues) * Q8Rows::kBlockBytes, out[d], out[d + 1]);
}

// Lanes [0, n) of a vector, n <= 16.
inline __mmask16 first_lanes(int n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1); }

// kt[e * npad + j] = k_j[e] for j < n, zero for j in [n, npad): 16 x 16 tiles transposed in registers
// (the last tile of a head width that is not a multiple of 16 is zero-padded and stores its rows only).
template <class Src>
void transpose_keys(const Src& src, int hd, int n, float* kt, size_t npad) {
  __m512 r[16];
  for (int j = 0; j < std::min(n, 16); ++j) src.prefetch(j);
  for (int j0 = 0; j0 < n; j0 += 16) {
    for (int j = j0 + 16; j < std::min(n, j0 + 32); ++j) src.prefetch(j);
    for (int e0 = 0; e0 < hd; e0 += 16) {
      const int ne = std::min(16, hd - e0);
      const __mmask16 m = first_lanes(ne);
      for (int j = 0; j < 16; ++j) r[j] = j0 + j < n ? src.key(j0 + j, e0, m) : _mm512_setzero_ps();
      transpose16(r);
      for (int e = 0; e < ne; ++e) _mm512_storeu_ps(kt + size_t(e0 + e) * npad + size_t(j0), r[e]);
    }
  }
}

// A score is one fixed sum whichever of two paths computes it (a row gets the same bits alone or in a
// block of any size): lane l = 0..15 of the head dimension accumulates v_l = sum over d of q[16d + l] *
// k[16d + l] (FMA, d in order, from +0; lanes past hd add +0), then s = v_0 + v_1 + ... + v_15, left to
// right.
//   - block path (score_block): keys transposed once per chunk (kt), one query value times 16 keys per
//     FMA, 4 rows x 3 tiles of 16 keys at a time; the transpose is shared by the block's rows (prompts,
//     GQA groups);
//   - row path (score_row): one key per FMA chain, the 16 lane sums of 16 keys transposed once; a decode
//     row of a multi-head model (one query per KV head) reads each key once and transposes 4x less than
//     the block path at head width 64.

// Scores of R query rows (q: (R, hd)) against the T key tiles from t0; S row r, tile t = the scaled
// scores, -inf past the row's m[r] visible keys.
template <int R, int T>
void score_block(const float* q, int hd, const float* kt, size_t npad, int t0, const int* m, __m512 vscale, float* S) {
  const int nv = (hd + 15) / 16;
  const float* base = kt + size_t(t0) * 16;
  __m512 sum[R][T];
  for (int l = 0; l < 16; ++l) {
    __m512 acc[R][T];
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
    for (int d = 0; d < nv; ++d) {
      const int e = 16 * d + l;
      if (e >= hd) {  // a lane past the head width: the row path's masked FMA adds +0
        for (int r = 0; r < R; ++r)
          for (int t = 0; t < T; ++t) acc[r][t] = _mm512_add_ps(acc[r][t], _mm512_setzero_ps());
        continue;
      }
      const float* row = base + size_t(e) * npad;
      __m512 kv[T];
      for (int t = 0; t < T; ++t) kv[t] = _mm512_loadu_ps(row + 16 * t);
      for (int r = 0; r < R; ++r) {
        const __m512 qe = _mm512_set1_ps(q[size_t(r) * size_t(hd) + size_t(e)]);
        for (int t = 0; t < T; ++t) acc[r][t] = _mm512_fmadd_ps(qe, kv[t], acc[r][t]);
      }
    }
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) sum[r][t] = l == 0 ? acc[r][t] : _mm512_add_ps(sum[r][t], acc[r][t]);
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) {
      const int tile = t0 + t;
      const __m512 sv = _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), tile_mask(m[r], tile), _mm512_mul_ps(sum[r][t], vscale));
      _mm512_storeu_ps(S + size_t(r) * npad + size_t(tile) * 16, sv);
    }
}

using ScoreBlock = void (*)(const float*, int, const float*, size_t, int, const int*, __m512, float*);
constexpr ScoreBlock kScoreBlocks[4][3] = {{score_block<1, 1>, score_block<1, 2>, score_block<1, 3>},
                                           {score_block<2, 1>, score_block<2, 2>, score_block<2, 3>},
                                           {score_block<3, 1>, score_block<3, 2>, score_block<3, 3>},
                                           {score_block<4, 1>, score_block<4, 2>, score_block<4, 3>}};

// Head widths the row path holds in registers (a wider head takes the block path: the same bits).
constexpr int kRowPathMaxHd = 256;
// Query rows up to which a chunk takes the row path.
constexpr int kRowPathMaxRows = 2;

// Scores of query row q against its m visible keys, read as rows: S = the scaled scores, -inf past m
// (whole tiles of 16).
template <class Src>
void score_row(const Src& src, const float* q, int hd, int m, __m512 vscale, float* S) {
  const int nv = (hd + 15) / 16;
  const __mmask16 last = first_lanes(hd - 16 * (nv - 1));
  __m512 qv[kRowPathMaxHd / 16];
  for (int d = 0; d < nv; ++d) qv[d] = _mm512_maskz_loadu_ps(d == nv - 1 ? last : __mmask16(0xFFFF), q + 16 * d);
  for (int j = 0; j < std::min(m, 16); ++j) src.prefetch(j);
  for (int j0 = 0; j0 < m; j0 += 16) {
    for (int j = j0 + 16; j < std::min(m, j0 + 32); ++j) src.prefetch(j);
    __m512 a[16];  // a[j] = key j0 + j's lane sums
    for (int j = 0; j < 16; ++j) {
      a[j] = j0 + j < m ? dot_key(src, j0 + j, qv, nv, last) : _mm512_setzero_ps();
    }
    transpose16(a);  // a[l] = lane l of the 16 keys
    __m512 sum = a[0];
    for (int l = 1; l < 16; ++l) sum = _mm512_add_ps(sum, a[l]);
    _mm512_storeu_ps(S + j0, _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), tile_mask(m, j0 / 16), _mm512_mul_ps(sum, vscale)));
  }
}

// out[p] = out[p] * rescale[p] + sum_j w[p][j] v_j over keys j < m, for P rows seeing the same keys:
// 64 columns at a time, even and odd keys in separate accumulators (the order a row alone takes).
template <int P, class Src>
inline void accumulate_values(const Src& src, int hd, int m, const float* const* w, float* const* out, const float* rescale) {
  for (int e0 = 0; e0 < hd; e0 += 64) {
    const int nv = std::min(4, (hd - e0 + 15) / 16);
    const __mmask16 last = first_lanes(hd - e0 - 16 * (nv - 1));  // lanes of vector nv - 1
    auto lanes = [&](int d) { return d == nv - 1 ? last : __mmask16(0xFFFF); };
    __m512 ev[P][4], od[P][4];
    for (int p = 0; p < P; ++p) {
      const __m512 vr = _mm512_set1_ps(rescale[p]);
      for (int d = 0; d < nv; ++d) {
        ev[p][d] = _mm512_mul_ps(_mm512_maskz_loadu_ps(lanes(d), out[p] + e0 + 16 * d), vr);
        od[p][d] = _mm512_setzero_ps();
      }
    }
    int j = 0;
    auto pair = [&](int nvv) {
      __m512 v0[4], v1[4];
      value_vectors(src, j, e0, nvv, last, v0);
      value_vectors(src, j + 1, e0, nvv, last, v1);
      for (int p = 0; p < P; ++p) {
        const __m512 w0 = _mm512_set1_ps(w[p][j]), w1 = _mm512_set1_ps(w[p][j + 1]);
        for (int d = 0; d < nvv; ++d) {
          ev[p][d] = _mm512_fmadd_ps(w0, v0[d], ev[p][d]);
          od[p][d] = _mm512_fmadd_ps(w1, v1[d], od[p][d]);
        }
      }
    };
    if (nv == 4) {
      for (; j + 1 < m; j += 2) pair(4);
    } else {
      for (; j + 1 < m; j += 2) pair(nv);
    }
    if (j < m) {
      __m512 v0[4];
      value_vectors(src, j, e0, nv, last, v0);
      for (int d = 0; d < nv; ++d)
        for (int p = 0; p < P; ++p) ev[p][d] = _mm512_fmadd_ps(_mm512_set1_ps(w[p][j]), v0[d], ev[p][d]);
    }
    for (int p = 0; p < P; ++p)
      for (int d = 0; d < nv; ++d) _mm512_mask_storeu_ps(out[p] + e0 + 16 * d, lanes(d), _mm512_add_ps(ev[p][d], od[p][d]));
  }
}

// The kernel over either source; `c` (an AttnChunk or AttnChunkF16) gives hd, nq, q, lim, n, scale.
template <class Src, class Geometry>
void chunk_kernel(const Geometry& c, const Src& src, AttnAccum& a, float* scratch) {
  const int hd = c.hd, n = c.n;
  if (n <= 0) return;
  const int tiles = (n + 15) / 16;
  const size_t npad = size_t(tiles) * 16;
  float* kt = scratch;                // (hd, npad): kt[e * npad + j] = k_j[e]
  float* S = kt + size_t(hd) * npad;  // (nq, npad) scores, then weights
  const __m512 vscale = _mm512_set1_ps(c.scale);
  if (c.nq <= kRowPathMaxRows && hd <= kRowPathMaxHd) {
    for (int i = 0; i < c.nq; ++i)
      score_row(src, c.q + size_t(i) * size_t(hd), hd, std::clamp(c.lim[i], 0, n), vscale, S + size_t(i) * npad);
  } else {
    transpose_keys(src, hd, n, kt, npad);
    for (int i0 = 0; i0 < c.nq; i0 += 4) {
      const int R = std::min(4, c.nq - i0);
      int ms[4] = {0, 0, 0, 0}, mt_max = 0;
      for (int r = 0; r < R; ++r) {
        ms[r] = std::clamp(c.lim[i0 + r], 0, n);
        mt_max = std::max(mt_max, (ms[r] + 15) / 16);
      }
      for (int t0 = 0; t0 < mt_max; t0 += 3) {
        const int T = std::min(3, mt_max - t0);
        kScoreBlocks[R - 1][T - 1](c.q + size_t(i0) * size_t(hd), hd, kt, npad, t0, ms, vscale, S + size_t(i0) * npad);
      }
    }
  }
  // softmax per row: the chunk's weights in place of its scores, the running max and sum updated
  float* rescale = S + size_t(c.nq) * npad;  // (nq) factor on each row's earlier output
  for (int i = 0; i < c.nq; ++i) {
    const int m = std::min(c.lim[i], n);
    if (m <= 0) continue;
    const int mt = (m + 15) / 16;
    float* s = S + size_t(i) * npad;
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    for (int tile = 0; tile < mt; ++tile) vmax = _mm512_max_ps(vmax, _mm512_loadu_ps(s + size_t(tile) * 16));
    const float new_max = std::max(a.m[i], _mm512_reduce_max_ps(vmax));
    rescale[i] = std::exp(a.m[i] - new_max);  // exp(-inf) = 0 on the first chunk
    const __m512 vmx = _mm512_set1_ps(new_max);
    __m512 lsum = _mm512_setzero_ps();
    for (int tile = 0; tile < mt; ++tile) {
      const __m512 p = _mm512_maskz_mov_ps(tile_mask(m, tile), kernels::exp512(_mm512_sub_ps(_mm512_loadu_ps(s + size_t(tile) * 16), vmx)));
      _mm512_storeu_ps(s + size_t(tile) * 16, p);
      lsum = _mm512_add_ps(lsum, p);
    }
    a.l[i] = a.l[i] * rescale[i] + _mm512_reduce_add_ps(lsum);
    a.m[i] = new_max;
  }
  // values: two rows at a time where they see the same keys (each value load serves both)
  for (int i = 0; i < c.nq;) {
    const int m = std::min(c.lim[i], n);
    if (m <= 0) {
      ++i;
      continue;
    }
    const size_t hs = size_t(hd);
    if (i + 1 < c.nq && std::min(c.lim[i + 1], n) == m) {
      const float* w[2] = {S + size_t(i) * npad, S + size_t(i + 1) * npad};
      float* out[2] = {a.acc + size_t(i) * hs, a.acc + size_t(i + 1) * hs};
      accumulate_values<2>(src, hd, m, w, out, rescale + i);
      i += 2;
    } else {
      const float* w[1] = {S + size_t(i) * npad};
      float* out[1] = {a.acc + size_t(i) * hs};
      accumulate_values<1>(src, hd, m, w, out, rescale + i);
      ++i;
    }
  }
}

}  // namespace

void attn_chunk_avx512(const AttnChunk& c, AttnAccum& a, float* scratch) { chunk_kernel(c, F32Rows{c}, a, scratch); }

void attn_chunk_f16_avx512(const AttnChunkF16& c, AttnAccum& a, float* scratch) {
  chunk_kernel(c, F16Rows{c}, a, scratch);
}

void attn_chunk_q8_avx512(const AttnChunkQ8& c, AttnAccum& a, float* scratch) { chunk_kernel(c, Q8Rows{c}, a, scratch); }

}  // namespace kuai::engine::model
