// Dot product of float vectors, the distance kernel of the HNSW index (vectors are unit length, so
// cosine similarity = dot). One plain C++ reference and AVX2 / AVX-512 versions (dot_avx2.cpp,
// dot_avx512.cpp, compiled with their ISA flags); dot_f32 picks the best one the CPU has, once (cpuid).
// Pure; any thread. `n` is the number of floats; no alignment required.
#pragma once

#include <cstddef>

namespace kuai::cache {

float dot_f32(const float* a, const float* b, size_t n);
float dot_f32_ref(const float* a, const float* b, size_t n);
float dot_f32_avx2(const float* a, const float* b, size_t n);
float dot_f32_avx512(const float* a, const float* b, size_t n);
const char* dot_f32_isa();  // "avx512" | "avx2" | "scalar": what dot_f32 uses on this CPU

}  // namespace kuai::cache
