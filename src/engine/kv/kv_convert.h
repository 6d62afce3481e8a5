// Row conversions for the KV store: F32 <-> F16 and F32 <-> Q8_0, n floats per call. Chooses an F16C /
// AVX2 path at run time (cpuid) with a plain C++ fallback; both give identical results.
#pragma once

#include <cstdint>

namespace kuai::engine::kv {

void kv_f32_to_f16(const float* x, uint16_t* out, int64_t n);
void kv_f16_to_f32(const uint16_t* in, float* x, int64_t n);
// n % 32 == 0; out holds n / 32 ggml Q8_0 blocks (34 bytes each).
void kv_f32_to_q8_0(const float* x, void* out, int64_t n);
void kv_q8_0_to_f32(const void* in, float* x, int64_t n);

namespace detail {
void kv_f32_to_f16_avx2(const float* x, uint16_t* out, int64_t n);
void kv_f16_to_f32_avx2(const uint16_t* in, float* x, int64_t n);
bool kv_has_avx2_f16c();
}  // namespace detail

}  // namespace kuai::engine::kv
