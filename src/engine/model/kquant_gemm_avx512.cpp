// The AVX-512 VNNI group kernel of kquant_gemm (see kquant_gemm.h); compiled with the avx512 flags,
// called only at that level. detail::kquant_group_ref (kquant_gemm.cpp) takes the same steps in plain C++.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include "engine/model/kquant_gemm.h"

namespace kuai::engine::model::detail {

namespace {

inline __m512i bcast4(const int8_t* a) {
  int32_t v;
  __builtin_memcpy(&v, a, 4);
  return _mm512_set1_epi32(v);
}

// Tokens [t0, t0 + T) against the packed group; kQ4: Q4_K (sub-blocks of 32, mins), else Q6_K
// (sub-blocks of 16, signed scales, q + 32 stored).
template <bool kQ4, int T>
inline void run_tokens(const uint8_t* g, int n_super, const int8_t* aq, const float* ad, const int32_t* as, int t0,
                       float* y, size_t ys, __mmask16 keep) {
  constexpr int kSub = kQ4 ? 32 : 16, kVecs = kSub / 4, kSubs = 256 / kSub;
  const size_t cols = size_t(n_super) * 256;
  __m512 fs[T];
  for (int k = 0; k < T; ++k) fs[k] = _mm512_setzero_ps();
  for (int s = 0; s < n_super; ++s) {
    const uint8_t* sb = g + size_t(s) * kKquantSuperBytes;
    __m512i isum[T];
    for (int k = 0; k < T; ++k) isum[k] = _mm512_setzero_si512();
    for (int j = 0; j < kSubs; ++j) {
      __m512i P[kVecs];
      for (int v = 0; v < kVecs; ++v) P[v] = _mm512_load_si512(sb + 64 * (j * kVecs + v));
      const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(sb + 4096 + 16 * j));
      const __m512i sc = kQ4 ? _mm512_cvtepu8_epi32(sc8) : _mm512_cvtepi8_epi32(sc8);
      for (int k = 0; k < T; ++k) {
        const size_t t = size_t(t0 + k);
        const int8_t* a = aq + t * cols + size_t(s) * 256 + size_t(j) * kSub;
        __m512i d0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), P[0], bcast4(a));
        __m512i d1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), P[1], bcast4(a + 4));
        for (int v = 2; v < kVecs; v += 2) {
          d0 = _mm512_dpbusd_epi32(d0, P[v], bcast4(a + 4 * v));
          d1 = _mm512_dpbusd_epi32(d1, P[v + 1], bcast4(a + 4 * v + 4));
        }
        __m512i dot = _mm512_add_epi32(d0, d1);
        if constexpr (!kQ4) dot = _mm512_sub_epi32(dot, _mm512_set1_epi32(32 * as[(t * size_t(n_super) + size_t(s)) * 16 + size_t(j)]));
        isum[k] = _mm512_add_epi32(isum[k], _mm512_mullo_epi32(dot, sc));
      }
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + 4352)));
    if constexpr (kQ4) {
      const __m512 dm = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + 4384)));
      __m512i mv[8];
      for (int j = 0; j < 8; ++j)
        mv[j] = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sb + 4096 + 128 + 16 * j)));
      for (int k = 0; k < T; ++k) {
        const size_t t = size_t(t0 + k);
        const int32_t* a16 = as + (t * size_t(n_super) + size_t(s)) * 16;
        __m512i msum = _mm512_setzero_si512();
        for (int j = 0; j < 8; ++j)
          msum = _mm512_add_epi32(msum, _mm512_mullo_epi32(mv[j], _mm512_set1_epi32(a16[2 * j] + a16[2 * j + 1])));
        const __m512 da = _mm512_set1_ps(ad[t * size_t(n_super) + size_t(s)]);
        fs[k] = _mm512_fmadd_ps(_mm512_mul_ps(dw, da), _mm512_cvtepi32_ps(isum[k]), fs[k]);
        fs[k] = _mm512_fnmadd_ps(_mm512_mul_ps(dm, da), _mm512_cvtepi32_ps(msum), fs[k]);
      }
    } else {
      for (int k = 0; k < T; ++k) {
        const __m512 da = _mm512_set1_ps(ad[size_t(t0 + k) * size_t(n_super) + size_t(s)]);
        fs[k] = _mm512_fmadd_ps(_mm512_mul_ps(dw, da), _mm512_cvtepi32_ps(isum[k]), fs[k]);
      }
    }
  }
  for (int k = 0; k < T; ++k) _mm512_mask_storeu_ps(y + size_t(t0 + k) * ys, keep, fs[k]);
}

template <bool kQ4>
void group(const uint8_t* g, int rows, int n_super, const int8_t* aq, const float* ad, const int32_t* as, int n, float* y,
           size_t ys) {
  const __mmask16 keep = __mmask16((1u << rows) - 1);
  int t = 0;
  for (; t + 8 <= n; t += 8) run_tokens<kQ4, 8>(g, n_super, aq, ad, as, t, y, ys, keep);
  for (; t + 4 <= n; t += 4) run_tokens<kQ4, 4>(g, n_super, aq, ad, as, t, y, ys, keep);
  for (; t < n; ++t) run_tokens<kQ4, 1>(g, n_super, aq, ad, as, t, y, ys, keep);
}

}  // namespace

void kquant_quantize_row_avx512(const float* x, int64_t cols, int8_t* q, float* d, int32_t* s16) {
  const __m512 sign = _mm512_set1_ps(-0.0f);
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
  for (int64_t s = 0; s < cols / 256; ++s) {
    const float* xs = x + s * 256;
    __m512 m = _mm512_setzero_ps();
    for (int i = 0; i < 256; i += 16) m = _mm512_max_ps(m, _mm512_andnot_ps(sign, _mm512_loadu_ps(xs + i)));
    const float amax = _mm512_reduce_max_ps(m);
    const __m512 inv = _mm512_set1_ps(amax > 0 ? 127.0f / amax : 0.0f);
    d[s] = amax / 127.0f;
    for (int k = 0; k < 16; ++k) {
      // round to nearest even (MXCSR's default), as std::nearbyint in the reference
      const __m512i v = _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xs + 16 * k), inv)), lo), hi);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + s * 256 + 16 * k), _mm512_cvtepi32_epi8(v));
      s16[s * 16 + k] = _mm512_reduce_add_epi32(v);
    }
  }
}

void kquant_group_avx512(GgmlType type, const uint8_t* g, int rows, int n_super, const int8_t* aq, const float* ad,
                         const int32_t* as, int n, float* y, size_t ys) {
  if (type == GgmlType::Q4_K) group<true>(g, rows, n_super, aq, ad, as, n, y, ys);
  else group<false>(g, rows, n_super, aq, ad, as, n, y, ys);
}

}  // namespace kuai::engine::model::detail
