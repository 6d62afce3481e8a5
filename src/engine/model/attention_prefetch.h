// Asking for one paged K row and its V row ahead of use, for the SIMD attention kernels
// (attention_avx2.cpp, attention_avx512.cpp): rows of a paged cache are scattered, and the hardware
// prefetcher does not follow them. Each 64-byte line of the `bytes` from k and v, and the line of the
// last byte (a Q8_0 head of 64 is 68 bytes, so it may end in a line of its own).
// In an anonymous namespace: each kernel file compiles its own copy with its own ISA flags.
#pragma once

#include <immintrin.h>

namespace kuai::engine::model {
namespace {

inline void prefetch_kv_rows(const void* k, const void* v, int bytes) {
  const char* kc = static_cast<const char*>(k);
  const char* vc = static_cast<const char*>(v);
  for (int at = 0; at < bytes; at += 64) {
    _mm_prefetch(kc + at, _MM_HINT_T0);
    _mm_prefetch(vc + at, _MM_HINT_T0);
  }
  _mm_prefetch(kc + bytes - 1, _MM_HINT_T0);
  _mm_prefetch(vc + bytes - 1, _MM_HINT_T0);
}

}  // namespace
}  // namespace kuai::engine::model
