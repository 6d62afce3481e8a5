// The AVX2 tile of float_gemm (see float_gemm.h) for CPUs without AVX-512: compiled with the avx2 flags,
// called only at that level. 16 ymm registers: each micro-kernel step keeps 3 weight rows x 4 tokens of
// 8-float partial sums (12 registers), so one weight vector load feeds 4 FMAs and one activation load 3.
// Arithmetic per output: one 8-lane accumulator over the input in order (the last partial vector read
// zero-padded), then the lanes summed by one fixed tree: the same steps for any rows or tokens around it,
// so a token's outputs have the same bits in any batch that takes this kernel.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "engine/kernels/reduce_avx2.h"
#include "engine/model/float_gemm.h"

namespace kuai::engine::model::detail {

namespace {

using kernels::hsum;

struct F32Kind {
  using Elem = float;
  static __m256 load(const Elem* p) { return _mm256_loadu_ps(p); }
};

struct F16Kind {
  using Elem = uint16_t;
  static __m256 load(const Elem* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
};

struct BF16Kind {
  using Elem = uint16_t;
  static __m256 load(const Elem* p) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
};

// The last `left` (< 8) elements of a row, zero-padded to a whole vector.
template <class Kind>
inline __m256 load_tail(const typename Kind::Elem* p, int left) {
  typename Kind::Elem buf[8] = {};
  std::memcpy(buf, p, size_t(left) * sizeof(buf[0]));
  return Kind::load(buf);
}

// R weight rows x T tokens: y[t][r] = sum over the input of w[r] * x[t].
template <class Kind, int R, int T>
inline void micro(const uint8_t* w, size_t row_bytes, int cols, const float* x, size_t x_stride, float* y, size_t ys) {
  using Elem = typename Kind::Elem;
  const Elem* wr[R];
  const float* xt[T];
  for (int r = 0; r < R; ++r) wr[r] = reinterpret_cast<const Elem*>(w + size_t(r) * row_bytes);
  for (int t = 0; t < T; ++t) xt[t] = x + size_t(t) * x_stride;
  __m256 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  int k = 0;
  for (; k + 8 <= cols; k += 8) {
    __m256 wv[R];
    for (int r = 0; r < R; ++r) wv[r] = Kind::load(wr[r] + k);
    for (int t = 0; t < T; ++t) {
      const __m256 xv = _mm256_loadu_ps(xt[t] + k);
      for (int r = 0; r < R; ++r) acc[r][t] = _mm256_fmadd_ps(wv[r], xv, acc[r][t]);
    }
  }
  if (k < cols) {
    __m256 wv[R];
    for (int r = 0; r < R; ++r) wv[r] = load_tail<Kind>(wr[r] + k, cols - k);
    for (int t = 0; t < T; ++t) {
      const __m256 xv = load_tail<F32Kind>(xt[t] + k, cols - k);
      for (int r = 0; r < R; ++r) acc[r][t] = _mm256_fmadd_ps(wv[r], xv, acc[r][t]);
    }
  }
  for (int t = 0; t < T; ++t)
    for (int r = 0; r < R; ++r) y[size_t(t) * ys + size_t(r)] = hsum(acc[r][t]);
}

constexpr int kRows = 3, kTokens = 4;

template <class Kind, int R>
inline void token_groups(const uint8_t* w, size_t row_bytes, int cols, const float* x, size_t x_stride, int t0,
                         int n, float* y, size_t ys) {
  int t = t0;
  for (; t + kTokens <= n; t += kTokens)
    micro<Kind, R, kTokens>(w, row_bytes, cols, x + size_t(t) * x_stride, x_stride, y + size_t(t) * ys, ys);
  const float* xp = x + size_t(t) * x_stride;
  float* yp = y + size_t(t) * ys;
  switch (n - t) {
    case 3: micro<Kind, R, 3>(w, row_bytes, cols, xp, x_stride, yp, ys); break;
    case 2: micro<Kind, R, 2>(w, row_bytes, cols, xp, x_stride, yp, ys); break;
    case 1: micro<Kind, R, 1>(w, row_bytes, cols, xp, x_stride, yp, ys); break;
    default: break;
  }
}

// Token groups outermost: a group's activations stay in L1 while the tile's rows pass under them; the
// tile's rows stay in L2 for the next group.
template <class Kind>
void tile(const uint8_t* w, size_t row_bytes, int rows, int cols, const float* x, size_t x_stride, int n, float* y,
          size_t ys) {
  for (int t0 = 0; t0 < n; t0 += kTokens) {
    const int t1 = t0 + kTokens < n ? t0 + kTokens : n;
    int r = 0;
    for (; r + kRows <= rows; r += kRows)
      token_groups<Kind, kRows>(w + size_t(r) * row_bytes, row_bytes, cols, x, x_stride, t0, t1, y + r, ys);
    for (; r < rows; ++r) token_groups<Kind, 1>(w + size_t(r) * row_bytes, row_bytes, cols, x, x_stride, t0, t1, y + r, ys);
  }
}

}  // namespace

void float_tile_avx2(GgmlType type, const void* w, size_t row_bytes, int rows, int cols, const float* x,
                     size_t x_stride, int n, float* y, size_t ys) {
  const auto* wb = static_cast<const uint8_t*>(w);
  switch (type) {
    case GgmlType::F16: tile<F16Kind>(wb, row_bytes, rows, cols, x, x_stride, n, y, ys); break;
    case GgmlType::BF16: tile<BF16Kind>(wb, row_bytes, rows, cols, x, x_stride, n, y, ys); break;
    default: tile<F32Kind>(wb, row_bytes, rows, cols, x, x_stride, n, y, ys); break;
  }
}

}  // namespace kuai::engine::model::detail
