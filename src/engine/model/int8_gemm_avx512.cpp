// The AVX-512 VNNI tiles of int8_gemm (see int8_gemm.h), one template for Q4_0 and Q8_0 weights (they
// differ only in how a block becomes 32 unsigned bytes); compiled with the avx512 flags, called only when
// kernels::detected_isa() is avx512.
// g++ 12 reports its own _mm512_undefined_* placeholders (used by casts and inserts) as uninitialized
// once inlined; the pragma must precede <immintrin.h>.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "engine/model/int8_gemm.h"

#include <immintrin.h>

#include "engine/kernels/blocks.h"

namespace kuai::engine::model::detail {

namespace {

// How a weight block becomes unsigned bytes in element order: Q4_0 nibbles as stored (true value + 8),
// Q8_0 bytes xor 0x80 (true value + 128).
struct Q4Kind {
  using Block = kernels::BlockQ4_0;
  static __m256i bytes(const Block* blk) {
    const __m128i m4 = _mm_set1_epi8(0x0F);
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk->qs));
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m4), _mm_and_si128(q, m4));
  }
  // blocks blk[0] and blk[1], one per 256-bit half
  static __m512i bytes2(const Block* blk) {
    const __m256i q = _mm256_set_m128i(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[1].qs)),
                                       _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk[0].qs)));
    // 128-bit lanes [q0, q0, q1, q1]; the second copy of each shifted right by 4 (per 64-bit lane: after
    // the mask every byte keeps its own high nibble) -> [low nibbles 0, high 0, low 1, high 1].
    const __m512i z = _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 1, 0, 1, 2, 3, 2, 3), _mm512_castsi256_si512(q));
    return _mm512_and_si512(_mm512_srlv_epi64(z, _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4)), _mm512_set1_epi8(0x0F));
  }
};

struct Q8Kind {
  using Block = kernels::BlockQ8_0;
  static __m256i bytes(const Block* blk) {
    return _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qs)), _mm256_set1_epi8(char(0x80)));
  }
  static __m512i bytes2(const Block* blk) {
    const __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk[0].qs))),
                                         _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk[1].qs)), 1);
    return _mm512_xor_si512(q, _mm512_set1_epi8(char(0x80)));
  }
};

// The 8 rows are 8 sequential streams; hardware prefetchers follow one or two per core well, not 8.
// Blocks this far ahead (~4 cache lines per row) are requested by hand.
constexpr int kPrefetchBlocks = 14;

template <class Kind>
inline void prefetch_rows(const uint8_t* w, size_t row_bytes, int b, int nb) {
  if (b % 4 != 0 || b + kPrefetchBlocks >= nb) return;  // one request per 4 blocks of each row
  for (int r = 0; r < 8; ++r)
    for (size_t off = 0; off < 4 * sizeof(typename Kind::Block); off += 64)
      _mm_prefetch(reinterpret_cast<const char*>(w + size_t(r) * row_bytes +
                                                 size_t(b + kPrefetchBlocks) * sizeof(typename Kind::Block) + off),
                   _MM_HINT_T0);
}

// One packed block of 8 rows: P[j] lane r = weights [4j, 4j + 4) of row r (unsigned bytes).
template <class Kind>
inline void pack_block(const uint8_t* w, size_t row_bytes, int b, int nb, __m256i* P, float* S) {
  __m256i R[8];
  prefetch_rows<Kind>(w, row_bytes, b, nb);
  for (int r = 0; r < 8; ++r) {
    const auto* blk = reinterpret_cast<const typename Kind::Block*>(w + size_t(r) * row_bytes) + b;
    R[r] = Kind::bytes(blk);
    S[r] = _cvtsh_ss(blk->d);
  }
  // 8x8 transpose of 32-bit lanes: R[r] dword j -> P[j] lane r
  __m256i t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_epi32(R[2 * i], R[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_epi32(R[2 * i], R[2 * i + 1]);
  }
  for (int i = 0; i < 2; ++i) {
    u[4 * i + 0] = _mm256_unpacklo_epi64(t[4 * i + 0], t[4 * i + 2]);
    u[4 * i + 1] = _mm256_unpackhi_epi64(t[4 * i + 0], t[4 * i + 2]);
    u[4 * i + 2] = _mm256_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    u[4 * i + 3] = _mm256_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  for (int j = 0; j < 4; ++j) {
    P[j] = _mm256_permute2x128_si256(u[j], u[4 + j], 0x20);
    P[4 + j] = _mm256_permute2x128_si256(u[j], u[4 + j], 0x31);
  }
}

// Integer dot of the 16 packed rows of block P (two 8-row packs side by side: lanes 0-7 and 8-15) with
// one token's block a (32 int8): lane r = row r.
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

// Tokens [t0, t0 + T) against the packed tile; the same per-token instruction sequence for any T.
// Stores the lanes of `keep` (the tile's real rows).
template <int T>
inline void run_tokens16(const __m512i* P, const float* S, int nb, const int8_t* aq, const float* ad,
                         const int32_t* ac, int t0, float* y, size_t ys, __mmask16 keep) {
  const size_t cols = size_t(nb) * 32;
  __m512 fs[T];
  for (int k = 0; k < T; ++k) fs[k] = _mm512_setzero_ps();
  for (int b = 0; b < nb; ++b) {
    const __m512 dw = _mm512_loadu_ps(S + size_t(b) * 16);
    const __m512i* Pb = P + size_t(b) * 8;
    for (int k = 0; k < T; ++k) {
      const size_t t = size_t(t0 + k);
      const __m512i s = _mm512_sub_epi32(block_dot16(Pb, aq + t * cols + size_t(b) * 32),
                                         _mm512_set1_epi32(ac[t * size_t(nb) + size_t(b)]));
      const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(ad[t * size_t(nb) + size_t(b)]));
      fs[k] = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(s), fs[k]);
    }
  }
  for (int k = 0; k < T; ++k) _mm512_mask_storeu_ps(y + size_t(t0 + k) * ys, keep, fs[k]);
}

// Lane r = the sum of v[r]'s 8 lanes.
inline __m256i reduce8(const __m256i v[8]) {
  const __m256i h01 = _mm256_hadd_epi32(v[0], v[1]), h23 = _mm256_hadd_epi32(v[2], v[3]);
  const __m256i h45 = _mm256_hadd_epi32(v[4], v[5]), h67 = _mm256_hadd_epi32(v[6], v[7]);
  const __m256i a = _mm256_hadd_epi32(h01, h23);  // [r0..r3 low halves | r0..r3 high halves]
  const __m256i b = _mm256_hadd_epi32(h45, h67);
  return _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20), _mm256_permute2x128_si256(a, b, 0x31));
}

// v[r] = row r's dpbusd vectors of blocks b (low 256 bits) and b + 1 (high) -> lanes [0, 8) = the 8
// rows' sums of block b, lanes [8, 16) those of block b + 1.
inline __m512i reduce8x2(const __m512i* v) {
  // per 128-bit lane: [a0 + a2, b0 + b2, a1 + a3, b1 + b3]
  auto fold = [](__m512i a, __m512i b) {
    return _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
  };
  // per 128-bit lane: the lane's sums of rows 4k .. 4k + 3
  auto fold4 = [&](const __m512i* q) {
    const __m512i x = fold(q[0], q[1]), y = fold(q[2], q[3]);
    return _mm512_add_epi32(_mm512_unpacklo_epi64(x, y), _mm512_unpackhi_epi64(x, y));
  };
  const __m512i lo = fold4(v), hi = fold4(v + 4);
  // 128-bit lanes 0, 1 hold block b, lanes 2, 3 block b + 1: add each block's two lanes
  const __m512i s = _mm512_add_epi32(_mm512_shuffle_i32x4(lo, hi, _MM_SHUFFLE(2, 0, 2, 0)),
                                     _mm512_shuffle_i32x4(lo, hi, _MM_SHUFFLE(3, 1, 3, 1)));
  // [b rows 0-3, b + 1 rows 0-3, b rows 4-7, b + 1 rows 4-7] -> [b rows 0-7, b + 1 rows 0-7]
  return _mm512_shuffle_i32x4(s, s, _MM_SHUFFLE(3, 1, 2, 0));
}

// The one-token path reads the tile's rows as one linear stream, and a thread's next tile follows it
// (ThreadPool hands out contiguous shares); the weight bytes this far ahead are requested by hand,
// since the reduction pass between tiles reads no weights and the hardware prefetcher falls behind
// (TinyLlama Q4_0 decode ~29 -> ~33 tok/s here). A prefetch never faults, even past the weight's end.
constexpr size_t kDirectPrefetchBytes = 4096;
constexpr size_t kRowsPrefetchBytes = 8192;  // Q8_0 rows (68 bytes per pair of blocks)

// One token straight from the Q4_0 rows (no packing: cheaper when the tile is used by few tokens).
// Pass 1 walks each row front to back (one sequential stream, as kernels::matmul reads weights, so the
// hardware prefetcher keeps DRAM busy), two blocks per 512-bit dot, and keeps every (row, block pair)
// dpbusd vector in `V`; pass 2 reduces them per block to lane r = row r. The integer block sums equal
// run_tokens16's (exact), and the float steps are the same per lane and in the same block order, so the
// bits are too. V: nb * 256 bytes; Sh: nb * 8 binary16 weight scales.
template <class Kind>
inline void direct_token(const uint8_t* w, size_t row_bytes, int nb, const int8_t* a, const float* ad,
                         const int32_t* ac, float* y, __m256i* V, uint16_t* Sh) {
  auto* Vz = reinterpret_cast<__m512i*>(V);  // pair p, row r at Vz[p * 8 + r]
  const int pairs = nb / 2;
  __m256i* tail = V + size_t(pairs) * 16;  // an odd last block: row r at tail[r]
  for (int r = 0; r < 8; ++r) {
    const auto* row = reinterpret_cast<const typename Kind::Block*>(w + size_t(r) * row_bytes);
    for (int p = 0; p < pairs; ++p) {
      const int b = 2 * p;
      if constexpr (sizeof(typename Kind::Block) * 2 <= 64) {
        _mm_prefetch(reinterpret_cast<const char*>(row + b) + kDirectPrefetchBytes, _MM_HINT_T0);
      } else if (p % 2 == 0) {  // one request per cache line of the next 4 blocks
        for (size_t off = 0; off < 4 * sizeof(typename Kind::Block); off += 64)
          _mm_prefetch(reinterpret_cast<const char*>(row + b) + kRowsPrefetchBytes + off, _MM_HINT_T0);
      }
      const __m512i A = _mm512_loadu_si512(a + size_t(b) * 32);
      _mm512_storeu_si512(Vz + size_t(p) * 8 + size_t(r), _mm512_dpbusd_epi32(_mm512_setzero_si512(), Kind::bytes2(row + b), A));
      Sh[size_t(b) * 8 + size_t(r)] = row[b].d;  // converted 16 at a time in pass 2
      Sh[size_t(b + 1) * 8 + size_t(r)] = row[b + 1].d;
    }
    if (nb % 2 != 0) {
      const int b = nb - 1;
      const __m256i A = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + size_t(b) * 32));
      tail[r] = _mm256_dpbusd_epi32(_mm256_setzero_si256(), Kind::bytes(row + b), A);
      Sh[size_t(b) * 8 + size_t(r)] = row[b].d;
    }
  }
  __m256 fs = _mm256_setzero_ps();
  for (int p = 0; p < pairs; ++p) {
    const int b = 2 * p;
    __m512i v[8];
    for (int r = 0; r < 8; ++r) v[r] = _mm512_loadu_si512(Vz + size_t(p) * 8 + size_t(r));
    const __m512i acv = _mm512_inserti64x4(_mm512_set1_epi32(ac[b]), _mm256_set1_epi32(ac[b + 1]), 1);
    const __m512 adv = _mm512_insertf32x8(_mm512_set1_ps(ad[b]), _mm256_set1_ps(ad[b + 1]), 1);
    const __m512 c = _mm512_cvtepi32_ps(_mm512_sub_epi32(reduce8x2(v), acv));
    const __m512 scale = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(Sh + size_t(b) * 8))), adv);
    fs = _mm256_fmadd_ps(_mm512_castps512_ps256(scale), _mm512_castps512_ps256(c), fs);
    fs = _mm256_fmadd_ps(_mm512_extractf32x8_ps(scale, 1), _mm512_extractf32x8_ps(c, 1), fs);
  }
  if (nb % 2 != 0) {
    const int b = nb - 1;
    const __m256i s = _mm256_sub_epi32(reduce8(tail), _mm256_set1_epi32(ac[b]));
    const __m256 scale = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(Sh + size_t(b) * 8))), _mm256_set1_ps(ad[b]));
    fs = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(s), fs);
  }
  _mm256_storeu_ps(y, fs);
}

template <class Kind>
void tile(const uint8_t* w_in, size_t row_bytes, int rows, int nb, const int8_t* aq, const float* ad,
          const int32_t* ac, int n, float* y, size_t ys, uint8_t* pack) {
  if (n == 1) {  // one token: packing would cost more than it saves
    auto* V = reinterpret_cast<__m256i*>(pack);
    auto* Sh = reinterpret_cast<uint16_t*>(pack + size_t(nb) * 512);
    for (int r0 = 0; r0 < rows; r0 += 8) direct_token<Kind>(w_in + size_t(r0) * row_bytes, row_bytes, nb, aq, ad, ac, y + r0, V, Sh);
    return;
  }
  // The rows are contiguous: copy them in one sequential pass (one stream for the hardware
  // prefetcher) instead of walking 16 row streams block by block while packing. An 8-row tile is
  // padded with zero rows (scale 0, nibbles 0) whose lanes are never stored.
  uint8_t* copy = pack + size_t(nb) * 576;
  __builtin_memcpy(copy, w_in, size_t(rows) * row_bytes);
  if (rows < 16) __builtin_memset(copy + size_t(rows) * row_bytes, 0, size_t(16 - rows) * row_bytes);
  const uint8_t* w = copy;
  auto* P = reinterpret_cast<__m512i*>(pack);
  auto* S = reinterpret_cast<float*>(pack + size_t(nb) * 512);
  for (int b = 0; b < nb; ++b) {
    alignas(32) __m256i lo[8], hi[8];
    pack_block<Kind>(w, row_bytes, b, nb, lo, S + size_t(b) * 16);
    pack_block<Kind>(w + 8 * row_bytes, row_bytes, b, nb, hi, S + size_t(b) * 16 + 8);
    for (int j = 0; j < 8; ++j) P[size_t(b) * 8 + size_t(j)] = _mm512_inserti64x4(_mm512_castsi256_si512(lo[j]), hi[j], 1);
  }
  const __mmask16 keep = __mmask16((1u << rows) - 1);
  int t = 0;
  for (; t + 8 <= n; t += 8) run_tokens16<8>(P, S, nb, aq, ad, ac, t, y, ys, keep);
  for (; t + 4 <= n; t += 4) run_tokens16<4>(P, S, nb, aq, ad, ac, t, y, ys, keep);
  for (; t < n; ++t) run_tokens16<1>(P, S, nb, aq, ad, ac, t, y, ys, keep);
}

}  // namespace

void q4_0_tile_avx512(const uint8_t* w, size_t row_bytes, int rows, int nb, const int8_t* aq, const float* ad,
                      const int32_t* ac, int n, float* y, size_t ys, uint8_t* pack) {
  tile<Q4Kind>(w, row_bytes, rows, nb, aq, ad, ac, n, y, ys, pack);
}

void q8_0_tile_avx512(const uint8_t* w, size_t row_bytes, int rows, int nb, const int8_t* aq, const float* ad,
                      const int32_t* ac, int n, float* y, size_t ys, uint8_t* pack) {
  tile<Q8Kind>(w, row_bytes, rows, nb, aq, ad, ac, n, y, ys, pack);
}

}  // namespace kuai::engine::model::detail
