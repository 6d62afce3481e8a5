// The AVX-512 VNNI group kernel of int8_gemm (see int8_gemm.h): tokens against one packed group of 16
// Q4_0 or Q8_0 rows (int8_pack.h's layout), read front to back; compiled with the avx512 flags, called
// only when kernels::detected_isa() is avx512. detail::int8_group_ref (int8_gemm.cpp) is the plain C++
// twin: the same integer sums and the same float steps, so the two agree bit for bit.
// g++ 12 reports its own _mm512_undefined_* placeholders (used by casts and inserts) as uninitialized
// once inlined; the pragma must precede <immintrin.h>.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include "engine/kernels/prefetch_x86.h"
#include "engine/model/int8_gemm.h"
#include "engine/model/int8_pack.h"

namespace kuai::engine::model::detail {

namespace {

// How a block's packed quants become the 8 vectors P[j] (lane r = row r's unsigned bytes 4j..4j+3).
struct Q4Kind {
  static constexpr size_t kQuant = int8_pack_quant_bytes(GgmlType::Q4_0), kUnit = int8_pack_unit_bytes(GgmlType::Q4_0);
  static constexpr size_t kAhead = 4096;  // prefetch distance of the one pass that streams the group
  static void load(const uint8_t* q, __m512i* P) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    for (int j = 0; j < 4; ++j) {
      const __m512i v = _mm512_load_si512(q + 64 * j);
      P[j] = _mm512_and_si512(v, m4);                          // weights 4j..4j+3
      P[4 + j] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);  // weights 16+4j..16+4j+3
    }
  }
};

struct Q8Kind {
  static constexpr size_t kQuant = int8_pack_quant_bytes(GgmlType::Q8_0), kUnit = int8_pack_unit_bytes(GgmlType::Q8_0);
  static constexpr size_t kAhead = 8192;
  static void load(const uint8_t* q, __m512i* P) {
    for (int j = 0; j < 8; ++j) P[j] = _mm512_load_si512(q + 64 * j);
  }
};

// Integer dot of the 16 rows of block P with one token's block a (32 int8): lane r = row r.
inline __m512i block_dot16(const __m512i* P, const int8_t* a) {
  auto bc = [a](int j) {
    int32_t v;
    __builtin_memcpy(&v, a + 4 * j, 4);
    return _mm512_set1_epi32(v);
  };
  __m512i acc0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), P[0], bc(0));
  __m512i acc1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), P[1], bc(1));
  acc0 = _mm512_dpbusd_epi32(acc0, P[2], bc(2));
  acc1 = _mm512_dpbusd_epi32(acc1, P[3], bc(3));
  acc0 = _mm512_dpbusd_epi32(acc0, P[4], bc(4));
  acc1 = _mm512_dpbusd_epi32(acc1, P[5], bc(5));
  acc0 = _mm512_dpbusd_epi32(acc0, P[6], bc(6));
  acc1 = _mm512_dpbusd_epi32(acc1, P[7], bc(7));
  return _mm512_add_epi32(acc0, acc1);
}

// Tokens [t0, t0 + T) against the group; the same per-token instruction sequence for any T. The first
// pass over a group (`stream`) requests the bytes kAhead in front by hand: the hardware prefetcher
// stops at every 4 KiB page, and in decode this pass is all there is.
template <class Kind, int T>
inline void run_tokens(const uint8_t* g, int nb, const int8_t* aq, const float* ad, const int32_t* ac, int t0,
                       float* y, size_t ys, __mmask16 keep, bool stream) {
  const size_t cols = size_t(nb) * 32;
  __m512 fs[T];
  for (int k = 0; k < T; ++k) fs[k] = _mm512_setzero_ps();
  for (int b = 0; b < nb; ++b) {
    const uint8_t* u = g + size_t(b / 2) * Kind::kUnit;
    if (stream && b % 2 == 0) kernels::prefetch_lines_spaced<Kind::kUnit>(u + Kind::kAhead);
    __m512i P[8];
    Kind::load(u + size_t(b % 2) * Kind::kQuant, P);
    const __m512 dw = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(u + 2 * Kind::kQuant + size_t(b % 2) * 32)));
    for (int k = 0; k < T; ++k) {
      const size_t t = size_t(t0 + k);
      const __m512i s = _mm512_sub_epi32(block_dot16(P, aq + t * cols + size_t(b) * 32),
                                         _mm512_set1_epi32(ac[t * size_t(nb) + size_t(b)]));
      const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(ad[t * size_t(nb) + size_t(b)]));
      fs[k] = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(s), fs[k]);
    }
  }
  for (int k = 0; k < T; ++k) _mm512_mask_storeu_ps(y + size_t(t0 + k) * ys, keep, fs[k]);
}

// Two groups (32 rows) at once: each activation broadcast feeds a vpdpbusd of both, halving the loads
// per multiply-add (the single-group pass is bound by its broadcasts). Per row and token the same
// integer block sums and the same float steps as run_tokens, so the same bits.
template <class Kind, int T>
inline void run_tokens_pair(const uint8_t* g0, const uint8_t* g1, int nb, const int8_t* aq, const float* ad,
                            const int32_t* ac, int t0, float* y0, float* y1, size_t ys, __mmask16 keep1, bool stream) {
  const size_t cols = size_t(nb) * 32;
  __m512 fs0[T], fs1[T];
  for (int k = 0; k < T; ++k) fs0[k] = _mm512_setzero_ps(), fs1[k] = _mm512_setzero_ps();
  for (int b = 0; b < nb; ++b) {
    const uint8_t* u0 = g0 + size_t(b / 2) * Kind::kUnit;
    const uint8_t* u1 = g1 + size_t(b / 2) * Kind::kUnit;
    if (stream && b % 2 == 0) {
      kernels::prefetch_lines_spaced<Kind::kUnit>(u0 + Kind::kAhead);
      kernels::prefetch_lines_spaced<Kind::kUnit>(u1 + Kind::kAhead);
    }
    __m512i P0[8], P1[8];
    Kind::load(u0 + size_t(b % 2) * Kind::kQuant, P0);
    Kind::load(u1 + size_t(b % 2) * Kind::kQuant, P1);
    const size_t sc = 2 * Kind::kQuant + size_t(b % 2) * 32;
    const __m512 dw0 = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(u0 + sc)));
    const __m512 dw1 = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(u1 + sc)));
    for (int k = 0; k < T; ++k) {
      const size_t t = size_t(t0 + k);
      const int8_t* a = aq + t * cols + size_t(b) * 32;
      __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
      for (int j = 0; j < 8; ++j) {
        int32_t v;
        __builtin_memcpy(&v, a + 4 * j, 4);
        const __m512i bj = _mm512_set1_epi32(v);
        s0 = _mm512_dpbusd_epi32(s0, P0[j], bj);
        s1 = _mm512_dpbusd_epi32(s1, P1[j], bj);
      }
      const __m512i c = _mm512_set1_epi32(ac[t * size_t(nb) + size_t(b)]);
      const __m512 da = _mm512_set1_ps(ad[t * size_t(nb) + size_t(b)]);
      fs0[k] = _mm512_fmadd_ps(_mm512_mul_ps(dw0, da), _mm512_cvtepi32_ps(_mm512_sub_epi32(s0, c)), fs0[k]);
      fs1[k] = _mm512_fmadd_ps(_mm512_mul_ps(dw1, da), _mm512_cvtepi32_ps(_mm512_sub_epi32(s1, c)), fs1[k]);
    }
  }
  for (int k = 0; k < T; ++k) {
    _mm512_storeu_ps(y0 + size_t(t0 + k) * ys, fs0[k]);
    _mm512_mask_storeu_ps(y1 + size_t(t0 + k) * ys, keep1, fs1[k]);
  }
}

template <class Kind>
void group_pair(const uint8_t* g0, const uint8_t* g1, int rows1, int nb, const int8_t* aq, const float* ad,
                const int32_t* ac, int n, float* y0, float* y1, size_t ys) {
  const __mmask16 keep1 = __mmask16((1u << rows1) - 1);
  int t = 0;
  bool stream = true;
  for (; t + 4 <= n; t += 4, stream = false) run_tokens_pair<Kind, 4>(g0, g1, nb, aq, ad, ac, t, y0, y1, ys, keep1, stream);
  for (; t < n; ++t, stream = false) run_tokens_pair<Kind, 1>(g0, g1, nb, aq, ad, ac, t, y0, y1, ys, keep1, stream);
}

template <class Kind>
void group(const uint8_t* g, int rows, int nb, const int8_t* aq, const float* ad, const int32_t* ac, int n, float* y,
           size_t ys) {
  const __mmask16 keep = __mmask16((1u << rows) - 1);
  int t = 0;
  bool stream = true;
  for (; t + 8 <= n; t += 8, stream = false) run_tokens<Kind, 8>(g, nb, aq, ad, ac, t, y, ys, keep, stream);
  for (; t + 4 <= n; t += 4, stream = false) run_tokens<Kind, 4>(g, nb, aq, ad, ac, t, y, ys, keep, stream);
  for (; t < n; ++t, stream = false) run_tokens<Kind, 1>(g, nb, aq, ad, ac, t, y, ys, keep, stream);
}

}  // namespace

void int8_quantize_row_avx512(const float* x, int64_t cols, int32_t offset, int8_t* q, float* d, int32_t* c) {
  const __m512 sign = _mm512_set1_ps(-0.0f);
  for (int64_t b = 0; b < cols / 32; ++b) {
    const __m512 x0 = _mm512_loadu_ps(x + b * 32), x1 = _mm512_loadu_ps(x + b * 32 + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_andnot_ps(sign, x0), _mm512_andnot_ps(sign, x1)));
    const float inv = amax > 0 ? 127.0f / amax : 0.0f;
    const __m512 vinv = _mm512_set1_ps(inv);
    // round to nearest even (MXCSR's default), as std::nearbyint in the reference
    const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
    const __m512i q0 = _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(x0, vinv)), lo), hi);
    const __m512i q1 = _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(x1, vinv)), lo), hi);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + b * 32), _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + b * 32 + 16), _mm512_cvtepi32_epi8(q1));
    d[b] = amax / 127.0f;
    c[b] = offset * _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
  }
}

void int8_group_pair_avx512(GgmlType type, const uint8_t* g0, const uint8_t* g1, int rows1, int nb, const int8_t* aq,
                            const float* ad, const int32_t* ac, int n, float* y0, float* y1, size_t ys) {
  if (type == GgmlType::Q4_0) group_pair<Q4Kind>(g0, g1, rows1, nb, aq, ad, ac, n, y0, y1, ys);
  else group_pair<Q8Kind>(g0, g1, rows1, nb, aq, ad, ac, n, y0, y1, ys);
}

void int8_group_avx512(GgmlType type, const uint8_t* g, int rows, int nb, const int8_t* aq, const float* ad,
                       const int32_t* ac, int n, float* y, size_t ys) {
  if (type == GgmlType::Q4_0) group<Q4Kind>(g, rows, nb, aq, ad, ac, n, y, ys);
  else group<Q8Kind>(g, rows, nb, aq, ad, ac, n, y, ys);
}

}  // namespace kuai::engine::model::detail
