// The AMX group kernel of kquant_gemm (see kquant_gemm.h): 16 tokens at a time against a packed group of
// 16 rows; compiled with the amx flags, called only at that level. A token tile of the int8 activations
// is the A operand of TDPBSUD (signed A, unsigned B) and the packed vectors (vector j, lane r = row r's
// unsigned quants 4j..4j+3: rows of 16 x 4 bytes) are its B operand, so one tile multiply gives 16 x 16
// exact integer dots.
//   Q4_K (kquant_pack_group_q4k_amx): the sub-block scales are in the weights (q * l and q * h), so two
//   tiles sum a whole super-block (K = 256 in four steps) and isum = 8 hi + lo, with no per-sub-block
//   multiply; the mins come off through vpmaddwd of int16 pairs.
//   Q6_K (kquant_pack_group): its scales are signed and too wide to fold, so one tile multiply per
//   sub-block of 16, then the scales per token as in the AVX-512 kernel.
// Either way the integer sums are exact and the float steps per token follow kquant_group_ref's order in
// super-block order, so the bits equal the plain twin's.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>

#include "engine/model/kquant_gemm.h"

namespace kuai::engine::model::detail {

namespace {

constexpr int kTileTokens = kKquantAmxTokens;

// Tile registers: A (activations) 0 and 1, B (weights) 2 and 3, C (sums) 4 to 7, taken in turn so the
// tile unit runs a super-block's multiplies back to back. At k = 64 a B tile has the shape of a C tile,
// and Q4_K, which needs only two sums, takes 6 and 7 as its second pair of B tiles.
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Loads this thread's tile configuration for A tiles of `k` bytes per token (64: Q4_K's folded
// super-block in four steps; 16: Q6_K's sub-blocks) unless it is already loaded. The configuration is
// per thread; nothing else in kuai configures tiles.
void configure_tiles(int k) {
  thread_local int configured = 0;
  if (configured == k) return;
  TileConfig c;
  for (int a : {0, 1}) c.rows[a] = kTileTokens, c.colsb[a] = uint16_t(k);
  for (int b : {2, 3}) c.rows[b] = uint8_t(k / 4), c.colsb[b] = 64;
  for (int s : {4, 5, 6, 7}) c.rows[s] = kTileTokens, c.colsb[s] = 64;
  _tile_loadconfig(&c);
  configured = k;
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

// Q6_K: sub-blocks of 16, dots of each sub-block through the tile unit, then its signed scale per row.
void run_tile_q6k(const uint8_t* g, int n_super, const int8_t* aq, const float* ad, const int32_t* as, int t0, float* y,
                  size_t ys, int n_keep, __mmask16 keep) {
  constexpr int kSub = 16, kVecs = 4, kSubs = 16;
  const size_t cols = size_t(n_super) * 256;
  alignas(64) int32_t dots[2][kSubs][kTileTokens * 16];  // two super-blocks' (the tile unit fills one while the other is read)
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
    for (int j = 0; j < kSubs; ++j)
      sc[j] = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sb + 4096 + 16 * j)));
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + 4352)));
    for (int k = 0; k < kTileTokens; ++k) {
      const size_t t = size_t(t0 + k);
      const int32_t* a16 = as + (t * size_t(n_super) + size_t(s)) * 16;
      __m512i isum = _mm512_setzero_si512();
      for (int j = 0; j < kSubs; ++j) {
        const __m512i dot = _mm512_sub_epi32(_mm512_load_si512(d[j] + 16 * k), _mm512_set1_epi32(32 * a16[j]));
        isum = _mm512_add_epi32(isum, _mm512_mullo_epi32(dot, sc[j]));
      }
      const __m512 da = _mm512_set1_ps(ad[t * size_t(n_super) + size_t(s)]);
      _mm512_store_ps(acc[k], _mm512_fmadd_ps(_mm512_mul_ps(dw, da), _mm512_cvtepi32_ps(isum), _mm512_load_ps(acc[k])));
    }
  }
  for (int k = 0; k < n_keep; ++k) _mm512_mask_storeu_ps(y + size_t(t0 + k) * ys, keep, _mm512_load_ps(acc[k]));
}

// Q4_K with folded scales: per super-block lo and hi sums over all 256 weights in two tiles.
void run_tile_q4k(const uint8_t* g, int n_super, const int8_t* aq, const float* ad, const int32_t* as, int t0, float* y,
                  size_t ys, int n_keep, __mmask16 keep) {
  const size_t cols = size_t(n_super) * 256;
  alignas(64) int32_t lo[2][kTileTokens * 16], hi[2][kTileTokens * 16];  // double-buffered by super-block
  alignas(64) float acc[kTileTokens][16] = {};
  const int8_t* a0 = aq + size_t(t0) * cols;
  for (int s = 0; s < n_super; ++s) {
    const uint8_t* sb = g + size_t(s) * kKquantQ4kAmxSuperBytes;
    const int8_t* a = a0 + size_t(s) * 256;
    _tile_zero(4);
    _tile_zero(5);
    for (int c = 0; c < 4; ++c) {  // 64 weights a step: A 16 tokens x 64 bytes, B 16 vectors
      if (c % 2 == 0) {
        _tile_loadd(0, a + 64 * c, cols);
        _tile_loadd(2, sb + 1024 * c, 64);
        _tile_loadd(3, sb + 4096 + 1024 * c, 64);
        _tile_dpbsud(4, 0, 2);
        _tile_dpbsud(5, 0, 3);
      } else {
        _tile_loadd(1, a + 64 * c, cols);
        _tile_loadd(6, sb + 1024 * c, 64);
        _tile_loadd(7, sb + 4096 + 1024 * c, 64);
        _tile_dpbsud(4, 1, 6);
        _tile_dpbsud(5, 1, 7);
      }
    }
    _tile_stored(4, lo[s % 2], 64);
    _tile_stored(5, hi[s % 2], 64);
    __m512i mp[4];
    for (int p = 0; p < 4; ++p) mp[p] = _mm512_load_si512(sb + 8192 + 64 * p);
    const __m512 dw = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(sb + 8192 + 256)));
    const __m512 dm = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(sb + 8192 + 256 + 32)));
    for (int k = 0; k < kTileTokens; ++k) {
      const size_t t = size_t(t0 + k);
      const int32_t* a16 = as + (t * size_t(n_super) + size_t(s)) * 16;
      const __m512i isum = _mm512_add_epi32(_mm512_slli_epi32(_mm512_load_si512(hi[s % 2] + 16 * k), 3),
                                            _mm512_load_si512(lo[s % 2] + 16 * k));
      __m512i msum = _mm512_setzero_si512();
      for (int p = 0; p < 4; ++p) {  // sub-blocks 2p, 2p + 1: int16 sums of their 32 activations each
        const int32_t s0 = a16[4 * p] + a16[4 * p + 1], s1 = a16[4 * p + 2] + a16[4 * p + 3];
        msum = _mm512_add_epi32(msum, _mm512_madd_epi16(mp[p], _mm512_set1_epi32(int32_t(uint32_t(uint16_t(s0)) | (uint32_t(s1) << 16)))));
      }
      const __m512 da = _mm512_set1_ps(ad[t * size_t(n_super) + size_t(s)]);
      __m512 f = _mm512_fmadd_ps(_mm512_mul_ps(dw, da), _mm512_cvtepi32_ps(isum), _mm512_load_ps(acc[k]));
      f = _mm512_fnmadd_ps(_mm512_mul_ps(dm, da), _mm512_cvtepi32_ps(msum), f);
      _mm512_store_ps(acc[k], f);
    }
  }
  for (int k = 0; k < n_keep; ++k) _mm512_mask_storeu_ps(y + size_t(t0 + k) * ys, keep, _mm512_load_ps(acc[k]));
}
#undef KUAI_TILE_DOTS

}  // namespace

void kquant_group_amx(GgmlType type, const uint8_t* g, int rows, int n_super, const int8_t* aq, const float* ad,
                      const int32_t* as, int n, float* y, size_t ys) {
  const bool q4 = type == GgmlType::Q4_K;
  const __mmask16 keep = __mmask16((1u << rows) - 1);
  configure_tiles(q4 ? 64 : 16);
  for (int t = 0; t < n; t += kTileTokens) {
    const int n_keep = std::min(kTileTokens, n - t);
    if (q4) run_tile_q4k(g, n_super, aq, ad, as, t, y, ys, n_keep, keep);
    else run_tile_q6k(g, n_super, aq, ad, as, t, y, ys, n_keep, keep);
  }
}

}  // namespace kuai::engine::model::detail
