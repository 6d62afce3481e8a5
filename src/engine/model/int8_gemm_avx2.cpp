// The AVX2 group kernel of int8_gemm (see int8_gemm.h) for CPUs without AVX-512 VNNI (AMD Zen 2/3,
// Intel before Ice Lake): tokens against one packed group of 16 Q4_0 or Q8_0 rows (int8_pack.h's layout),
// compiled with the avx2 flags, called only at that level or above. A 64-byte vector of the layout (16
// rows x 4 bytes) is two 256-bit halves, rows 0-7 and 8-15. The products are vpmaddubsw (unsigned x
// signed bytes, pairs summed to 16 bits) then vpmaddwd by ones (to 32 bits):
//   - Q4_0: the stored nibbles (0..15) times the activation bytes; a pair is at most 2 x 15 x 127, so the
//     8 products of a block add up in 16 bits before one widening, then the offset sum comes off;
//   - Q8_0: the stored bytes are the weights + 128, which vpmaddubsw would saturate; the kernel takes them
//     back to signed weights w and multiplies |w| by the activation with w's sign (at most 2 x 128 x 127
//     a pair), which is the signed sum itself: the same integer as the reference's sum - offset sum.
// Integer block sums are exact, and the float steps are the reference's (acc = fma(d_w * d_a, float(s),
// acc), blocks in order, one accumulator per token), so this kernel gives detail::int8_group_ref's bits.
#include <immintrin.h>

#include "engine/kernels/prefetch_x86.h"
#include "engine/kernels/reduce_avx2.h"
#include "engine/model/int8_gemm.h"
#include "engine/model/int8_pack.h"

namespace kuai::engine::model::detail {

namespace {

inline __m256i broadcast4(const int8_t* a) {
  int32_t v;
  __builtin_memcpy(&v, a, 4);
  return _mm256_set1_epi32(v);
}

// Half h (rows 0-7 or 8-15) of a block, unpacked once for all tokens of a pass and kept in registers:
// w[j] is half h of the block's vector j (8 rows x 4 bytes).
struct Q4Kind {
  static constexpr size_t kQuant = int8_pack_quant_bytes(GgmlType::Q4_0), kUnit = int8_pack_unit_bytes(GgmlType::Q4_0);
  static constexpr size_t kAhead = 4096;  // prefetch distance of the pass that streams the group
  struct Half {
    __m256i w[8];  // unsigned nibbles: j < 4 weights 4j..4j+3, 4 + j weights 16+4j..16+4j+3
  };
  static void load(const uint8_t* q, int h, Half& H) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int j = 0; j < 4; ++j) {
      const __m256i v = _mm256_load_si256(reinterpret_cast<const __m256i*>(q + 64 * j + 32 * h));
      H.w[j] = _mm256_and_si256(v, m4);
      H.w[4 + j] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
    }
  }
  // The half's 8 row sums for the token's block a (32 int8) less its offset sum c.
  static __m256i dot(const Half& H, const int8_t* a, int32_t c) {
    __m256i s16 = _mm256_maddubs_epi16(H.w[0], broadcast4(a));
    for (int j = 1; j < 8; ++j) s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(H.w[j], broadcast4(a + 4 * j)));
    return _mm256_sub_epi32(_mm256_madd_epi16(s16, _mm256_set1_epi16(1)), _mm256_set1_epi32(c));
  }
};

struct Q8Kind {
  static constexpr size_t kQuant = int8_pack_quant_bytes(GgmlType::Q8_0), kUnit = int8_pack_unit_bytes(GgmlType::Q8_0);
  static constexpr size_t kAhead = 8192;
  struct Half {
    __m256i mag[8];                  // |w| as unsigned bytes (registers)
    alignas(32) int8_t sign[8][32];  // w itself, whose sign goes onto the activation (read from L1)
  };
  static void load(const uint8_t* q, int h, Half& H) {
    const __m256i bias = _mm256_set1_epi8(char(0x80));
    for (int j = 0; j < 8; ++j) {
      const __m256i w = _mm256_xor_si256(_mm256_load_si256(reinterpret_cast<const __m256i*>(q + 64 * j + 32 * h)), bias);
      _mm256_store_si256(reinterpret_cast<__m256i*>(H.sign[j]), w);
      H.mag[j] = _mm256_abs_epi8(w);
    }
  }
  static __m256i dot(const Half& H, const int8_t* a, int32_t) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i s = _mm256_setzero_si256();
    for (int j = 0; j < 8; ++j) {
      const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i*>(H.sign[j]));
      const __m256i p = _mm256_maddubs_epi16(H.mag[j], _mm256_sign_epi8(broadcast4(a + 4 * j), w));
      s = _mm256_add_epi32(s, _mm256_madd_epi16(p, ones));
    }
    return s;
  }
};

// Tokens [t0, t0 + T) against the group, one half of its rows after the other, so that a half's weights
// and the tokens' accumulators fit in the 16 registers (both halves at once spilled both: 15-20% slower
// at 4 and 8 tokens); the same per-token instruction sequence for any T. The first pass over a group
// (`stream`) requests the bytes kAhead in front by hand: the hardware prefetcher stops at every 4 KiB
// page, and in decode this pass is all there is.
template <class Kind, int T>
void run_tokens(const uint8_t* g, int rows, int nb, const int8_t* aq, const float* ad, const int32_t* ac, int t0,
                float* y, size_t ys, bool stream) {
  const size_t cols = size_t(nb) * 32;
  for (int h = 0; h < (rows > 8 ? 2 : 1); ++h) {
    __m256 fs[T];
    for (int k = 0; k < T; ++k) fs[k] = _mm256_setzero_ps();
    typename Kind::Half H;
    for (int b = 0; b < nb; ++b) {
      const uint8_t* u = g + size_t(b / 2) * Kind::kUnit;
      if (stream && h == 0 && b % 2 == 0) kernels::prefetch_lines_spaced<Kind::kUnit>(u + Kind::kAhead);
      Kind::load(u + size_t(b % 2) * Kind::kQuant, h, H);
      const uint8_t* sc = u + 2 * Kind::kQuant + size_t(b % 2) * 32 + 16 * size_t(h);
      const __m256 dw = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(sc)));
      for (int k = 0; k < T; ++k) {
        const size_t t = size_t(t0 + k);
        const __m256i s = Kind::dot(H, aq + t * cols + size_t(b) * 32, ac[t * size_t(nb) + size_t(b)]);
        fs[k] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(ad[t * size_t(nb) + size_t(b)])), _mm256_cvtepi32_ps(s), fs[k]);
      }
    }
    for (int k = 0; k < T; ++k) _mm256_storeu_ps(y + size_t(t0 + k) * ys + 8 * size_t(h), fs[k]);
  }
}

template <class Kind>
void group(const uint8_t* g, int rows, int nb, const int8_t* aq, const float* ad, const int32_t* ac, int n, float* y,
           size_t ys) {
  int t = 0;
  bool stream = true;
  for (; t + 8 <= n; t += 8, stream = false) run_tokens<Kind, 8>(g, rows, nb, aq, ad, ac, t, y, ys, stream);
  for (; t + 4 <= n; t += 4, stream = false) run_tokens<Kind, 4>(g, rows, nb, aq, ad, ac, t, y, ys, stream);
  for (; t < n; ++t, stream = false) run_tokens<Kind, 1>(g, rows, nb, aq, ad, ac, t, y, ys, stream);
}

}  // namespace

void int8_quantize_row_avx2(const float* x, int64_t cols, int32_t offset, int8_t* q, float* d, int32_t* c) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
  for (int64_t b = 0; b < cols / 32; ++b) {
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int i = 0; i < 4; ++i) {
      v[i] = _mm256_loadu_ps(x + b * 32 + 8 * i);
      amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[i]));
    }
    const float m = kernels::hmax(amax);
    const __m256 vinv = _mm256_set1_ps(m > 0 ? 127.0f / m : 0.0f);
    __m256i qi[4];
    // round to nearest even (MXCSR's default), as std::nearbyint in the reference
    for (int i = 0; i < 4; ++i) qi[i] = _mm256_min_epi32(_mm256_max_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(v[i], vinv)), lo), hi);
    // 4 x 8 int32 -> 32 int8 in order: packs interleave the 128-bit lanes, the permute puts them back
    const __m256i p16a = _mm256_packs_epi32(qi[0], qi[1]), p16b = _mm256_packs_epi32(qi[2], qi[3]);
    const __m256i p8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p16a, p16b), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + b * 32), p8);
    d[b] = m / 127.0f;
    c[b] = offset * kernels::hsum_i32(_mm256_add_epi32(_mm256_add_epi32(qi[0], qi[1]), _mm256_add_epi32(qi[2], qi[3])));
  }
}

void int8_group_avx2(GgmlType type, const uint8_t* g, int rows, int nb, const int8_t* aq, const float* ad,
                     const int32_t* ac, int n, float* y, size_t ys) {
  if (type == GgmlType::Q4_0) group<Q4Kind>(g, rows, nb, aq, ad, ac, n, y, ys);
  else group<Q8Kind>(g, rows, nb, aq, ad, ac, n, y, ys);
}

}  // namespace kuai::engine::model::detail
