// attn_chunk_avx2 and its F16 / Q8_0 in-place twins (see attention.h): compiled with the avx2 flags,
// called only at that level (AVX2 + FMA + F16C: AMD Zen 2/3, Intel before Ice Lake), head widths that are
// a multiple of 8 (Q8_0: of 32).
// One path for every query row, so a row gets the same bits alone or in a block:
//   - scores: the row's query against 8 keys at a time, one FMA chain per key over the head (8 lanes, d in
//     order, from +0), then the 8 keys' lanes reduced together by the same hadd tree,
//     ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7));
//   - softmax: a polynomial exp on 8 lanes (range reduction to [-ln2/2, ln2/2], degree 6, the exponent
//     added as an integer), lane sums reduced in a fixed order;
//   - values: out = out * rescale, then one FMA per key in key order for each element of the head; two
//     rows that see the same keys share each value load (their chains are the ones they take alone).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/kernels/blocks.h"
#include "engine/kernels/reduce_avx2.h"
#include "engine/model/attention.h"
#include "engine/model/attention_prefetch.h"

namespace kuai::engine::model {

namespace {

using kernels::hmax;
using kernels::hsum;

// e^x for x <= 0 (relative error ~2e-7; below -87.3 the result is ~1e-38, callers zero such lanes).
inline __m256 exp256(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.3f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.0f / 720);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  // 2^n as a float: n >= -126 after the clamp, so the biased exponent stays normal
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

// Lane sums of 8 keys (a[j]: key j's 8 lanes) -> the 8 scores, key j in lane j, by one fixed tree.
inline __m256 reduce8(const __m256* a) {
  const __m256 t0 = _mm256_hadd_ps(a[0], a[1]), t1 = _mm256_hadd_ps(a[2], a[3]);
  const __m256 t2 = _mm256_hadd_ps(a[4], a[5]), t3 = _mm256_hadd_ps(a[6], a[7]);
  const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

// Where a chunk's keys and values come from: 8 values of row j from column e (a multiple of 8).
struct F32Rows {
  const AttnChunk& c;
  void prefetch(int) const {}  // rows are contiguous (or converted just now)
  __m256 key(int j, int e) const { return _mm256_loadu_ps(c.k + size_t(j) * c.kv_stride + size_t(e)); }
  __m256 value(int j, int e) const { return _mm256_loadu_ps(c.v + size_t(j) * c.kv_stride + size_t(e)); }
};

// binary16 rows by pointer, converted exactly as read (the bits of the converted rows).
struct F16Rows {
  const AttnChunkF16& c;
  // Rows of a paged cache are scattered (a block holds a couple of positions): ask for them ahead of use.
  void prefetch(int j) const { prefetch_kv_rows(c.k[j], c.v[j], c.hd * int(sizeof(uint16_t))); }
  static __m256 load(const uint16_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  __m256 key(int j, int e) const { return load(c.k[j] + e); }
  __m256 value(int j, int e) const { return load(c.v[j] + e); }
};

// Q8_0 blocks by pointer: scale x int8, the product the store's own decoding computes (exact in float).
struct Q8Rows {
  const AttnChunkQ8& c;
  static constexpr int kBlockBytes = int(sizeof(kernels::BlockQ8_0));
  static constexpr int kBlockValues = kernels::kQK8_0;
  void prefetch(int j) const { prefetch_kv_rows(c.k[j], c.v[j], (c.hd / kBlockValues) * kBlockBytes); }
  static __m256 dequant(const uint8_t* row, int e) {
    const uint8_t* block = row + (e / kBlockValues) * kBlockBytes;
    uint16_t d;
    std::memcpy(&d, block, sizeof d);
    int64_t q8;
    std::memcpy(&q8, block + sizeof d + e % kBlockValues, sizeof q8);
    const __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_cvtsi64_si128(q8)));
    return _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(d)), q);
  }
  __m256 key(int j, int e) const { return dequant(c.k[j], e); }
  __m256 value(int j, int e) const { return dequant(c.v[j], e); }
};

// Lane sums of query q (nv vectors) against keys j0 .. j0 + K - 1 into a[0..K). K is a compile-time
// count so the sums stay in registers (a runtime count kept them on the stack).
template <int K, class Src>
inline void key_sums(const Src& src, const float* q, int nv, int j0, __m256* a) {
  for (int j = 0; j < K; ++j) a[j] = _mm256_setzero_ps();
  for (int d = 0; d < nv; ++d) {
    const __m256 qd = _mm256_loadu_ps(q + 8 * d);
    for (int j = 0; j < K; ++j) a[j] = _mm256_fmadd_ps(qd, src.key(j0 + j, 8 * d), a[j]);
  }
}

// Scaled scores of query q against its m visible keys: S[j] for j < m, -inf up to the next multiple of 8.
template <class Src>
void score_row(const Src& src, const float* q, int hd, int m, float scale, float* S) {
  const int nv = hd / 8;
  const __m256 vscale = _mm256_set1_ps(scale);
  for (int j = 0; j < std::min(m, 16); ++j) src.prefetch(j);
  for (int j0 = 0; j0 < m; j0 += 8) {
    for (int j = j0 + 16; j < std::min(m, j0 + 24); ++j) src.prefetch(j);
    const int keys = std::min(8, m - j0);
    __m256 a[8];
    if (keys == 8) {
      key_sums<8>(src, q, nv, j0, a);
      _mm256_storeu_ps(S + j0, _mm256_mul_ps(reduce8(a), vscale));
      continue;
    }
    // The last keys: the same chains, lanes of the missing keys zero.
    for (int j = 0; j < 8; ++j) a[j] = _mm256_setzero_ps();
    for (int j = 0; j < keys; ++j) key_sums<1>(src, q, nv, j0 + j, a + j);
    alignas(32) float tmp[8];
    _mm256_store_ps(tmp, _mm256_mul_ps(reduce8(a), vscale));
    for (int j = 0; j < 8; ++j) S[j0 + j] = j < keys ? tmp[j] : -INFINITY;
  }
}

// out[p] = out[p] * rescale[p] + sum_j w[p][j] v_j over keys j < m, for P rows seeing the same keys, on
// the NV vectors of the head from column e0; per element one FMA chain in key order. NV is a
// compile-time count so the accumulators stay in registers.
template <int P, int NV, class Src>
inline void accumulate_slice(const Src& src, int e0, int m, const float* const* w, float* const* out, const float* rescale) {
  __m256 acc[P][NV];
  for (int p = 0; p < P; ++p) {
    const __m256 r = _mm256_set1_ps(rescale[p]);
    for (int d = 0; d < NV; ++d) acc[p][d] = _mm256_mul_ps(_mm256_loadu_ps(out[p] + e0 + 8 * d), r);
  }
  for (int j = 0; j < m; ++j) {
    __m256 wj[P];
    for (int p = 0; p < P; ++p) wj[p] = _mm256_set1_ps(w[p][j]);
    for (int d = 0; d < NV; ++d) {
      const __m256 v = src.value(j, e0 + 8 * d);
      for (int p = 0; p < P; ++p) acc[p][d] = _mm256_fmadd_ps(wj[p], v, acc[p][d]);
    }
  }
  for (int p = 0; p < P; ++p)
    for (int d = 0; d < NV; ++d) _mm256_storeu_ps(out[p] + e0 + 8 * d, acc[p][d]);
}

// The last n < V vectors of the head as one slice (n picks the compile-time width).
template <int P, int N, class Src>
inline void accumulate_tail(const Src& src, int e0, int n, int m, const float* const* w, float* const* out, const float* rescale) {
  if constexpr (N > 0) {
    if (n == N) return accumulate_slice<P, N>(src, e0, m, w, out, rescale);
    accumulate_tail<P, N - 1>(src, e0, n, m, w, out, rescale);
  }
}

// The head in slices of V vectors (the last slice narrower); P and V change no bits.
template <int P, int V, class Src>
void accumulate_values(const Src& src, int hd, int m, const float* const* w, float* const* out, const float* rescale) {
  int e0 = 0;
  for (; e0 + 8 * V <= hd; e0 += 8 * V) accumulate_slice<P, V>(src, e0, m, w, out, rescale);
  if (e0 < hd) accumulate_tail<P, V - 1>(src, e0, (hd - e0) / 8, m, w, out, rescale);
}

template <class Src, class Geometry>
void chunk_kernel(const Geometry& c, const Src& src, AttnAccum& a, float* scratch) {
  const int hd = c.hd, n = c.n;
  if (n <= 0) return;
  const size_t npad = size_t(n + 15) / 16 * 16;
  float* S = scratch;                        // (nq, npad) scores, then weights
  float* rescale = S + size_t(c.nq) * npad;  // (nq) factor on each row's earlier output
  for (int i = 0; i < c.nq; ++i) {
    const int m = std::clamp(c.lim[i], 0, n);
    if (m <= 0) continue;
    float* s = S + size_t(i) * npad;
    score_row(src, c.q + size_t(i) * size_t(hd), hd, m, c.scale, s);
    const int mt = (m + 7) / 8;
    __m256 vmax = _mm256_set1_ps(-INFINITY);
    for (int t = 0; t < mt; ++t) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(s + 8 * t));
    const float new_max = std::max(a.m[i], hmax(vmax));
    rescale[i] = std::exp(a.m[i] - new_max);  // exp(-inf) = 0 on the first chunk
    const __m256 vmx = _mm256_set1_ps(new_max);
    __m256 lsum = _mm256_setzero_ps();
    for (int t = 0; t < mt; ++t) {
      const __m256 x = _mm256_loadu_ps(s + 8 * t);
      // keys past m hold -inf: their weight is exactly 0 (the polynomial's floor is not)
      const __m256 p = _mm256_and_ps(exp256(_mm256_sub_ps(x, vmx)), _mm256_cmp_ps(x, _mm256_set1_ps(-INFINITY), _CMP_NEQ_OQ));
      _mm256_storeu_ps(s + 8 * t, p);
      lsum = _mm256_add_ps(lsum, p);
    }
    a.l[i] = a.l[i] * rescale[i] + hsum(lsum);
    a.m[i] = new_max;
  }
  for (int i = 0; i < c.nq;) {
    const int m = std::clamp(c.lim[i], 0, n);
    if (m <= 0) {
      ++i;
      continue;
    }
    const size_t hs = size_t(hd);
    if (i + 1 < c.nq && std::clamp(c.lim[i + 1], 0, n) == m) {
      const float* w[2] = {S + size_t(i) * npad, S + size_t(i + 1) * npad};
      float* out[2] = {a.acc + size_t(i) * hs, a.acc + size_t(i + 1) * hs};
      accumulate_values<2, 4>(src, hd, m, w, out, rescale + i);
      i += 2;
    } else {
      const float* w[1] = {S + size_t(i) * npad};
      float* out[1] = {a.acc + size_t(i) * hs};
      accumulate_values<1, 8>(src, hd, m, w, out, rescale + i);
      ++i;
    }
  }
}

}  // namespace

void attn_chunk_avx2(const AttnChunk& c, AttnAccum& a, float* scratch) { chunk_kernel(c, F32Rows{c}, a, scratch); }

void attn_chunk_f16_avx2(const AttnChunkF16& c, AttnAccum& a, float* scratch) { chunk_kernel(c, F16Rows{c}, a, scratch); }

void attn_chunk_q8_avx2(const AttnChunkQ8& c, AttnAccum& a, float* scratch) { chunk_kernel(c, Q8Rows{c}, a, scratch); }

}  // namespace kuai::engine::model
