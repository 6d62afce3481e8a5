// F16C paths for kv_convert.h (compiled with -mavx2 -mf16c; called only at cpu::isa_level() avx2 or above).
#include "engine/kv/kv_convert.h"

#include "engine/kernels/fp16.h"

#include <immintrin.h>

namespace kuai::engine::kv::detail {

void kv_f32_to_f16_avx2(const float* x, uint16_t* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), h);
  }
  for (; i < n; ++i) out[i] = kernels::fp32_to_fp16(x[i]);
}

void kv_f16_to_f32_avx2(const uint16_t* in, float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
    _mm256_storeu_ps(x + i, _mm256_cvtph_ps(h));
  }
  for (; i < n; ++i) x[i] = kernels::fp16_to_fp32(in[i]);
}

}  // namespace kuai::engine::kv::detail
