// Plain C++ reference kernels for every supported weight type: quantize a float row into blocks,
// dequantize blocks back to floats, and dot a weight row with an activation row of the type's
// activation format. They define the numerics; the SIMD variants are tested against them.
// All functions take n = number of elements, a multiple of the type's block size; pure, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kuai::engine::kernels::ref {

// float <-> storage (n elements)
void to_float_f32(const void* src, float* dst, int64_t n);
void from_float_f32(const float* src, void* dst, int64_t n);
void to_float_f16(const void* src, float* dst, int64_t n);
void from_float_f16(const float* src, void* dst, int64_t n);
void to_float_bf16(const void* src, float* dst, int64_t n);
void from_float_bf16(const float* src, void* dst, int64_t n);
void to_float_q8_0(const void* src, float* dst, int64_t n);
void from_float_q8_0(const float* src, void* dst, int64_t n);
void to_float_q4_0(const void* src, float* dst, int64_t n);
void from_float_q4_0(const float* src, void* dst, int64_t n);
void to_float_q4_k(const void* src, float* dst, int64_t n);
void from_float_q4_k(const float* src, void* dst, int64_t n);
void to_float_q6_k(const void* src, float* dst, int64_t n);
void from_float_q6_k(const float* src, void* dst, int64_t n);
void to_float_q8_k(const void* src, float* dst, int64_t n);
void from_float_q8_k(const float* src, void* dst, int64_t n);

// dot(weight row, activation row); the activation format is named after the '_'.
float dot_f32_f32(int n, const void* w, const void* a);
float dot_f16_f32(int n, const void* w, const void* a);
float dot_bf16_f32(int n, const void* w, const void* a);
float dot_q8_0_q8_0(int n, const void* w, const void* a);
float dot_q4_0_q8_0(int n, const void* w, const void* a);
float dot_q4_k_q8_k(int n, const void* w, const void* a);
float dot_q6_k_q8_k(int n, const void* w, const void* a);

// One weight row against 4 activation rows a + k * a_stride bytes (k = 0..3) -> out[0..3]. Each weight
// super-block is unpacked once for the 4 rows (the prefill path); same integer sums in the same order
// as the single-row dots, so the results are bit-identical to them.
void dot_q4_k_q8_k_x4(int n, const void* w, const void* a, size_t a_stride, float* out);
void dot_q6_k_q8_k_x4(int n, const void* w, const void* a, size_t a_stride, float* out);

}  // namespace kuai::engine::kernels::ref
