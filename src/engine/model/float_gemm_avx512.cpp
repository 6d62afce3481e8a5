// The AVX-512 tile of float_gemm (see float_gemm.h); compiled with the avx512 flags, called only when
// kernels::detected_isa() is avx512.
// g++ 12 reports its own _mm512_undefined_* placeholders as uninitialized once inlined; the pragma must
// precede <immintrin.h>.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstdint>
#include <utility>

#include "engine/model/float_gemm.h"

namespace kuai::engine::model::detail {

namespace {

struct F32Kind {
  using Elem = float;
  static __m512 load(const Elem* p) { return _mm512_loadu_ps(p); }
  static __m512 load_tail(const Elem* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
};

struct F16Kind {
  using Elem = uint16_t;
  static __m512 load(const Elem* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static __m512 load_tail(const Elem* p, __mmask16 m) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }
};

struct BF16Kind {
  using Elem = uint16_t;
  static __m512 widen(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
  static __m512 load(const Elem* p) { return widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static __m512 load_tail(const Elem* p, __mmask16 m) { return widen(_mm256_maskz_loadu_epi16(m, p)); }
};

// R weight rows x T tokens: y[t][r] = sum over the input of w[r] * x[t], one 16-lane accumulator each,
// vectors in input order, then the lanes summed by _mm512_reduce_add_ps: the same steps per output for
// any R and T.
template <class Kind, int R, int T>
inline void micro(const uint8_t* w, size_t row_bytes, int cols, const float* x, size_t x_stride, float* y,
                  size_t ys) {
  using Elem = typename Kind::Elem;
  const Elem* wr[R];
  const float* xt[T];
  for (int r = 0; r < R; ++r) wr[r] = reinterpret_cast<const Elem*>(w + size_t(r) * row_bytes);
  for (int t = 0; t < T; ++t) xt[t] = x + size_t(t) * x_stride;
  __m512 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  int k = 0;
  for (; k + 16 <= cols; k += 16) {
    __m512 wv[R];
    for (int r = 0; r < R; ++r) wv[r] = Kind::load(wr[r] + k);
    for (int t = 0; t < T; ++t) {
      const __m512 xv = _mm512_loadu_ps(xt[t] + k);
      for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
    }
  }
  if (k < cols) {
    const __mmask16 m = __mmask16((1u << (cols - k)) - 1);
    __m512 wv[R];
    for (int r = 0; r < R; ++r) wv[r] = Kind::load_tail(wr[r] + k, m);
    for (int t = 0; t < T; ++t) {
      const __m512 xv = _mm512_maskz_loadu_ps(m, xt[t] + k);
      for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
    }
  }
  for (int t = 0; t < T; ++t)
    for (int r = 0; r < R; ++r) y[size_t(t) * ys + size_t(r)] = _mm512_reduce_add_ps(acc[r][t]);
}

constexpr int kTokens = 6;  // tokens per micro-kernel call: 4 x 6 accumulators + 4 weight vectors + 1

template <class Kind, int R>
inline void token_groups(const uint8_t* w, size_t row_bytes, int cols, const float* x, size_t x_stride, int t0,
                         int n, float* y, size_t ys) {
  auto at = [&](int t) { return std::pair{x + size_t(t) * x_stride, y + size_t(t) * ys}; };
  int t = t0;
  for (; t + kTokens <= n; t += kTokens) {
    auto [xp, yp] = at(t);
    micro<Kind, R, kTokens>(w, row_bytes, cols, xp, x_stride, yp, ys);
  }
  auto [xp, yp] = at(t);
  switch (n - t) {
    case 5: micro<Kind, R, 5>(w, row_bytes, cols, xp, x_stride, yp, ys); break;
    case 4: micro<Kind, R, 4>(w, row_bytes, cols, xp, x_stride, yp, ys); break;
    case 3: micro<Kind, R, 3>(w, row_bytes, cols, xp, x_stride, yp, ys); break;
    case 2: micro<Kind, R, 2>(w, row_bytes, cols, xp, x_stride, yp, ys); break;
    case 1: micro<Kind, R, 1>(w, row_bytes, cols, xp, x_stride, yp, ys); break;
    default: break;
  }
}

// Token groups outermost: a group's activations (6 x cols floats) stay in L1 while the tile's rows
// pass under them; the tile's rows stay in L2 for the next group.
template <class Kind>
void tile(const uint8_t* w, size_t row_bytes, int rows, int cols, const float* x, size_t x_stride, int n, float* y,
          size_t ys) {
  for (int t0 = 0; t0 < n; t0 += kTokens) {
    const int t1 = t0 + kTokens < n ? t0 + kTokens : n;
    int r = 0;
    for (; r + 4 <= rows; r += 4)
      token_groups<Kind, 4>(w + size_t(r) * row_bytes, row_bytes, cols, x, x_stride, t0, t1, y + r, ys);
    for (; r < rows; ++r) token_groups<Kind, 1>(w + size_t(r) * row_bytes, row_bytes, cols, x, x_stride, t0, t1, y + r, ys);
  }
}

}  // namespace

void float_tile_avx512(GgmlType type, const void* w, size_t row_bytes, int rows, int cols, const float* x,
                       size_t x_stride, int n, float* y, size_t ys) {
  const auto* wb = static_cast<const uint8_t*>(w);
  switch (type) {
    case GgmlType::F16: tile<F16Kind>(wb, row_bytes, rows, cols, x, x_stride, n, y, ys); break;
    case GgmlType::BF16: tile<BF16Kind>(wb, row_bytes, rows, cols, x, x_stride, n, y, ys); break;
    default: tile<F32Kind>(wb, row_bytes, rows, cols, x, x_stride, n, y, ys); break;
  }
}

}  // namespace kuai::engine::model::detail
