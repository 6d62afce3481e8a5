// The AVX-512 VNNI tile of q4_0_gemm (see q4_0_gemm.h); compiled with the avx512 flags, called only
// when the CPU has them.
#include "engine/model/q4_0_gemm.h"

#include <immintrin.h>

#include "engine/kernels/blocks.h"

namespace kuai::engine::model::detail {

namespace {

// The 8 rows are 8 sequential streams; hardware prefetchers follow one or two per core well, not 8.
// Blocks this far ahead (~4 cache lines per row) are requested by hand.
constexpr int kPrefetchBlocks = 14;

inline void prefetch_rows(const uint8_t* w, size_t row_bytes, int b, int nb) {
  if (b % 4 != 0 || b + kPrefetchBlocks >= nb) return;  // one request per ~72 bytes of each row
  for (int r = 0; r < 8; ++r)
    _mm_prefetch(reinterpret_cast<const char*>(w + size_t(r) * row_bytes + size_t(b + kPrefetchBlocks) * 18), _MM_HINT_T0);
}

// One packed block of 8 rows: P[j] lane r = weights [4j, 4j + 4) of row r (unsigned nibbles, 0..15).
inline void pack_block(const uint8_t* w, size_t row_bytes, int b, int nb, __m256i* P, float* S) {
  const __m128i m4 = _mm_set1_epi8(0x0F);
  __m256i R[8];
  prefetch_rows(w, row_bytes, b, nb);
  for (int r = 0; r < 8; ++r) {
    const auto* blk = reinterpret_cast<const kernels::BlockQ4_0*>(w + size_t(r) * row_bytes) + b;
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk->qs));
    const __m128i lo = _mm_and_si128(q, m4);                     // elements 0..15
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(q, 4), m4);  // elements 16..31
    R[r] = _mm256_set_m128i(hi, lo);
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

// Integer dot of the 8 packed rows of block P with one token's block a (32 int8): lane r = row r.
inline __m256i block_dot(const __m256i* P, const int8_t* a) {
  // 4 activation bytes broadcast straight from memory (folds into vpdpbusd's embedded broadcast)
  auto bc = [a](int j) { return _mm256_broadcastd_epi32(_mm_loadu_si32(a + 4 * j)); };
  __m256i acc0 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), P[0], bc(0));
  __m256i acc1 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), P[1], bc(1));
  acc0 = _mm256_dpbusd_epi32(acc0, P[2], bc(2));
  acc1 = _mm256_dpbusd_epi32(acc1, P[3], bc(3));
  acc0 = _mm256_dpbusd_epi32(acc0, P[4], bc(4));
  acc1 = _mm256_dpbusd_epi32(acc1, P[5], bc(5));
  acc0 = _mm256_dpbusd_epi32(acc0, P[6], bc(6));
  acc1 = _mm256_dpbusd_epi32(acc1, P[7], bc(7));
  return _mm256_add_epi32(acc0, acc1);
}

// Tokens [t0, t0 + T) against the packed tile; the same per-token instruction sequence for any T.
template <int T>
inline void run_tokens(const __m256i* P, const float* S, int nb, const int8_t* aq, const float* ad, const int32_t* ac,
                       int t0, float* y, size_t ys) {
  const size_t cols = size_t(nb) * 32;
  __m256 fs[T];
  for (int k = 0; k < T; ++k) fs[k] = _mm256_setzero_ps();
  for (int b = 0; b < nb; ++b) {
    const __m256 dw = _mm256_load_ps(S + size_t(b) * 8);
    const __m256i* Pb = P + size_t(b) * 8;
    for (int k = 0; k < T; ++k) {
      const size_t t = size_t(t0 + k);
      const __m256i s = _mm256_sub_epi32(block_dot(Pb, aq + t * cols + size_t(b) * 32),
                                         _mm256_set1_epi32(ac[t * size_t(nb) + size_t(b)]));
      const __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(ad[t * size_t(nb) + size_t(b)]));
      fs[k] = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(s), fs[k]);
    }
  }
  for (int k = 0; k < T; ++k) _mm256_storeu_ps(y + size_t(t0 + k) * ys, fs[k]);
}

// Unsigned nibbles of one Q4_0 block in element order.
inline __m256i unpack(const kernels::BlockQ4_0* blk) {
  const __m128i m4 = _mm_set1_epi8(0x0F);
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk->qs));
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m4), _mm_and_si128(q, m4));
}

// Lane r = the sum of v[r]'s 8 lanes.
inline __m256i reduce8(const __m256i v[8]) {
  const __m256i h01 = _mm256_hadd_epi32(v[0], v[1]), h23 = _mm256_hadd_epi32(v[2], v[3]);
  const __m256i h45 = _mm256_hadd_epi32(v[4], v[5]), h67 = _mm256_hadd_epi32(v[6], v[7]);
  const __m256i a = _mm256_hadd_epi32(h01, h23);  // [r0..r3 low halves | r0..r3 high halves]
  const __m256i b = _mm256_hadd_epi32(h45, h67);
  return _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20), _mm256_permute2x128_si256(a, b, 0x31));
}

// One token straight from the Q4_0 rows (no packing: cheaper when the tile is used by few tokens).
// Pass 1 walks each row front to back (one sequential stream, as kernels::matmul reads weights, so the
// hardware prefetcher keeps DRAM busy) and keeps every (row, block) dpbusd vector in `V`; pass 2 reduces
// them per block to lane r = row r. The integer block sums equal run_tokens' (exact), and the float
// steps are the same, so the bits are too.
inline void direct_token(const uint8_t* w, size_t row_bytes, int nb, const int8_t* a, const float* ad,
                         const int32_t* ac, float* y, __m256i* V, float* S) {
  for (int r = 0; r < 8; ++r) {
    const auto* row = reinterpret_cast<const kernels::BlockQ4_0*>(w + size_t(r) * row_bytes);
    for (int b = 0; b < nb; ++b) {
      const __m256i A = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + size_t(b) * 32));
      V[size_t(b) * 8 + size_t(r)] = _mm256_dpbusd_epi32(_mm256_setzero_si256(), unpack(row + b), A);
      S[size_t(b) * 8 + size_t(r)] = _cvtsh_ss(row[b].d);
    }
  }
  __m256 fs = _mm256_setzero_ps();
  for (int b = 0; b < nb; ++b) {
    const __m256i s = _mm256_sub_epi32(reduce8(V + size_t(b) * 8), _mm256_set1_epi32(ac[b]));
    const __m256 scale = _mm256_mul_ps(_mm256_load_ps(S + size_t(b) * 8), _mm256_set1_ps(ad[b]));
    fs = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(s), fs);
  }
  _mm256_storeu_ps(y, fs);
}

}  // namespace

void q4_0_tile8_avx512(const uint8_t* w_in, size_t row_bytes, int nb, const int8_t* aq, const float* ad,
                       const int32_t* ac, int n, float* y, size_t ys, uint8_t* pack) {
  auto* P = reinterpret_cast<__m256i*>(pack);
  auto* S = reinterpret_cast<float*>(pack + size_t(nb) * 256);
  if (n == 1) {  // one token: packing would cost more than it saves
    const size_t cols = size_t(nb) * 32;
    for (int t = 0; t < n; ++t)
      direct_token(w_in, row_bytes, nb, aq + size_t(t) * cols, ad + size_t(t) * size_t(nb),
                   ac + size_t(t) * size_t(nb), y + size_t(t) * ys, P, S);
    return;
  }
  // The 8 rows are contiguous: copy them in one sequential pass (one stream for the hardware
  // prefetcher) instead of walking 8 row streams block by block while packing.
  uint8_t* copy = pack + size_t(nb) * 288;
  __builtin_memcpy(copy, w_in, 8 * row_bytes);
  const uint8_t* w = copy;
  for (int b = 0; b < nb; ++b) pack_block(w, row_bytes, b, nb, P + size_t(b) * 8, S + size_t(b) * 8);
  int t = 0;
  for (; t + 8 <= n; t += 8) run_tokens<8>(P, S, nb, aq, ad, ac, t, y, ys);
  for (; t + 4 <= n; t += 4) run_tokens<4>(P, S, nb, aq, ad, ac, t, y, ys);
  for (; t < n; ++t) run_tokens<1>(P, S, nb, aq, ad, ac, t, y, ys);
}

}  // namespace kuai::engine::model::detail
