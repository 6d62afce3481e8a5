// Software prefetch of a run of cache lines, spaced out in time. Internal linkage, like simd_x86.h: each
// SIMD file compiles its own copy with its own ISA flags.
//
// Why spaced: decode streams every weight byte once per token, and the hardware prefetcher stops at
// each 4 KiB page, so the kernels request the bytes a few KiB ahead by hand. Issued back to back (all
// addresses ready at once, so the core sends them in one burst), those requests bought little on a
// 2-core KVM Xeon with AMX (lscpu model 167): TinyLlama Q4_0 decode 30-35 tok/s. The same requests with
// each address behind a 3-cycle multiply of the previous one leave a few cycles apart, and decode ran
// 46-48 tok/s (Q8_0 24 -> 28) in the same run. Why the burst loses there was not established; the
// spacing costs a short integer chain off the kernels' critical path.
#pragma once

#include <xmmintrin.h>

#include <cstddef>
#include <cstdint>

namespace kuai::engine::kernels {
namespace {

// Requests the 64-byte lines of [p, p + kBytes) into L1, one every ~3 cycles. Never faults.
template <size_t kBytes>
inline void prefetch_lines_spaced(const void* p) {
  auto a = reinterpret_cast<uintptr_t>(p);
  for (size_t off = 0; off < kBytes; off += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(a), _MM_HINT_T0);
    asm("imul $1, %0, %0" : "+r"(a));  // an opaque step: the next address is ready only 3 cycles later
    a += 64;
  }
}

}  // namespace
}  // namespace kuai::engine::kernels
