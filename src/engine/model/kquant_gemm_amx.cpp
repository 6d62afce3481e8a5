// The AMX group kernel of kquant_gemm (see kquant_gemm.h): 16 tokens at a time against a packed group of
// 16 rows, one tile multiply per sub-block; compiled with the amx flags, called only at that level.
// The packed layout is already what a tile multiply reads as its B operand (a super-block's vector j,
// lane r = row r's unsigned quants 4j..4j+3, i.e. rows of 16 x 4 bytes), and a token tile of the int8
// activations is its A operand, so TDPBSUD (signed A, unsigned B) gives a sub-block's 16 x 16 exact
// integer dots at once. The scales, mins and float steps then run as in the AVX-512 kernel, per token in
// super-block order, so the result has the same bits as kquant_group_ref; tokens past the last whole 16
// go through kquant_group_avx512 (the same bits again).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstring>

#include "engine/model/kquant_gemm.h"

namespace kuai::engine::model::detail {

namespace {

constexpr int kTileTokens = 16;

// Tile registers: A (activations) 0 and 1, B (weights) 2 and 3, C (sums) 4 to 7, taken in turn so the
// tile unit runs a super-block's multiplies back to back.
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Loads this thread's tile configuration for sub-blocks of `sub` weights (32: Q4_K, 16: Q6_K) unless
// it is already loaded. The configuration is per thread; nothing else in kuai configures tiles.
void configure_tiles(int sub) {
  thread_local int configured = 0;
  if (configured == sub) return;
  TileConfig c;
  for (int a : {0, 1}) c.rows[a] = kTileTokens, c.colsb[a] = uint16_t(sub);
  for (int b : {2, 3}) c.rows[b] = uint8_t(sub / 4), c.colsb[b] = 64;
  for (int s : {4, 5, 6, 7}) c.rows[s] = kTileTokens, c.colsb[s] = 64;
  _tile_loadconfig(&c);
  configured = sub;
}

// Sub-block dots (16 x 16, token-major) of activations `a` (stride `as`) and packed weights `b` into
// `dots`, through tiles A, B and C. A macro: g++'s tile intrinsics take the tile numbers as literals.
#define KUAI_TILE_DOTS(A, B, C, a, as, b, dots) \
  do {                                           \
    _tile_zero(C);                               \
    _tile_loadd(A, a, as);                       \
    _tile_loadd(B, b, 64);                       \
    _tile_dpbsud(C, A, B);                       \
    _tile_stored(C, dots, 64);                   \
  } while (0)

template <bool kQ4>
void run_tile(const uint8_t* g, int n_super, const int8_t* aq, const float* ad, const int32_t* as, int t0, float* y,
              size_t ys, __mmask16 keep) {
  constexpr int kSub = kQ4 ? 32 : 16, kVecs = kSub / 4, kSubs = 256 / kSub;
  const size_t cols = size_t(n_super) * 256;
  // Two super-blocks' dots (double-buffered: the tile unit fills one while the vector code reads the other).
  alignas(64) int32_t dots[2][kSubs][kTileTokens * 16];
  alignas(64) float acc[kTileTokens][16] = {};
  const int8_t* a0 = aq + size_t(t0) * cols;
  for (int s = 0; s < n_super; ++s) {
    const uint8_t* sb = g + size_t(s) * kKquantSuperBytes;
    auto& d = dots[s % 2];
    for (int j = 0; j < kSubs; j += 4) {
      const int8_t* a = a0 + size_t(s) * 256 + size_t(j) * kSub;
      const uint8_t* b = sb + 64 * size_t(j * kVecs);
      KUAI_TILE_DOTS(0, 2, 4, a, cols, b, d[j]);
      KUAI_TILE_DOTS(1, 3, 5, a + kSub, cols, b + 64 * kVecs, d[j + 1]);
      KUAI_TILE_DOTS(0, 2, 6, a + 2 * kSub, cols, b + 128 * kVecs, d[j + 2]);
      KUAI_TILE_DOTS(1, 3, 7, a + 3 * kSub, cols, b + 192 * kVecs, d[j + 3]);
    }
    __m512i sc[kSubs];
    for (int j = 0; j < kSubs; ++j) {
      const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(sb + 4096 + 16 * j));
      sc[j] = kQ4 ? _mm512_cvtepu8_epi32(sc8) : _mm512_cvtepi8_epi32(sc8);
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + 4352)));
    const __m512 dm = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + 4384)));
    for (int k = 0; k < kTileTokens; ++k) {
      const size_t t = size_t(t0 + k);
      const int32_t* a16 = as + (t * size_t(n_super) + size_t(s)) * 16;
      __m512i isum = _mm512_setzero_si512();
      for (int j = 0; j < kSubs; ++j) {
        __m512i dot = _mm512_load_si512(d[j] + 16 * k);
        if constexpr (!kQ4) dot = _mm512_sub_epi32(dot, _mm512_set1_epi32(32 * a16[j]));
        isum = _mm512_add_epi32(isum, _mm512_mullo_epi32(dot, sc[j]));
      }
      const __m512 da = _mm512_set1_ps(ad[t * size_t(n_super) + size_t(s)]);
      __m512 f = _mm512_fmadd_ps(_mm512_mul_ps(dw, da), _mm512_cvtepi32_ps(isum), _mm512_load_ps(acc[k]));
      if constexpr (kQ4) {
        __m512i msum = _mm512_setzero_si512();
        for (int j = 0; j < 8; ++j) {
          const __m512i m = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sb + 4096 + 128 + 16 * j)));
          msum = _mm512_add_epi32(msum, _mm512_mullo_epi32(m, _mm512_set1_epi32(a16[2 * j] + a16[2 * j + 1])));
        }
        f = _mm512_fnmadd_ps(_mm512_mul_ps(dm, da), _mm512_cvtepi32_ps(msum), f);
      }
      _mm512_store_ps(acc[k], f);
    }
  }
  for (int k = 0; k < kTileTokens; ++k) _mm512_mask_storeu_ps(y + size_t(t0 + k) * ys, keep, _mm512_load_ps(acc[k]));
}
#undef KUAI_TILE_DOTS

}  // namespace

void kquant_group_amx(GgmlType type, const uint8_t* g, int rows, int n_super, const int8_t* aq, const float* ad,
                      const int32_t* as, int n, float* y, size_t ys) {
  const bool q4 = type == GgmlType::Q4_K;
  const __mmask16 keep = __mmask16((1u << rows) - 1);
  const int whole = n / kTileTokens * kTileTokens;
  if (whole > 0) configure_tiles(q4 ? 32 : 16);
  for (int t = 0; t < whole; t += kTileTokens) {
    if (q4) run_tile<true>(g, n_super, aq, ad, as, t, y, ys, keep);
    else run_tile<false>(g, n_super, aq, ad, as, t, y, ys, keep);
  }
  if (whole < n) {
    const size_t cols = size_t(n_super) * 256;
    kquant_group_avx512(type, g, rows, n_super, aq + size_t(whole) * cols, ad + size_t(whole) * size_t(n_super),
                        as + size_t(whole) * size_t(n_super) * 16, n - whole, y + size_t(whole) * ys, ys);
  }
}

}  // namespace kuai::engine::model::detail
