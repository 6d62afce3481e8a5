// Horizontal sums and maxima of 8-lane vectors for the AVX2 kernels (include only from files built with
// the avx2 flags or above). Internal linkage on purpose, as in simd_x86.h: each including file compiles
// them with its own flags, and copies built for different levels must never be merged by the linker.
// The float sum adds in one fixed order, ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)), so a kernel
// that reduces with it gets the same bits wherever it is called.
#pragma once

#include <immintrin.h>

namespace kuai::engine::kernels {
namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_max_ss(s, _mm_movehdup_ps(s)));
}

inline int hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_hadd_epi32(s, s);
  s = _mm_hadd_epi32(s, s);
  return _mm_cvtsi128_si32(s);
}

}  // namespace
}  // namespace kuai::engine::kernels
