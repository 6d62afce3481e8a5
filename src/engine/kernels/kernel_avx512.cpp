// AVX-512 (F, BW, VL, VNNI) kernels (compiled with those flags; used only when cpuid reports them).
// Integer dots use VNNI's vpdpbusd (one instruction for maddubs + madd, no 16-bit saturation step).
// g++ 12 reports its own _mm512_undefined_* placeholders (`__m512i __Y = __Y;`, used by casts,
// inserts and broadcasts) as uninitialized once inlined; the pragma must precede <immintrin.h>.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "engine/kernels/simd_x86.h"
#include "engine/kernels/type_traits.h"

namespace kuai::engine::kernels {

void fill_avx512(KernelTable& t) {
  constexpr bool kVnni = true;
  auto at = [&](GgmlType type) -> KernelTraits& { return t[static_cast<uint32_t>(type)]; };
  at(GgmlType::Q8_0).vec_dot = dot_q8_0_q8_0_512;
  at(GgmlType::Q8_0).vec_dot_x4 = dot_q8_0_q8_0_x4_512;
  at(GgmlType::Q4_0).vec_dot = dot_qx_q8_0<kVnni, true>;
  at(GgmlType::Q4_0).vec_dot_x4 = dot_qx_q8_0_x4<kVnni, true>;
  at(GgmlType::Q4_K).vec_dot = dot_q4_k_q8_k<kVnni>;
  at(GgmlType::Q4_K).vec_dot_x4 = dot_q4_k_q8_k_x4_512;
  at(GgmlType::Q6_K).vec_dot = dot_q6_k_q8_k<kVnni>;
  at(GgmlType::Q6_K).vec_dot_x4 = dot_q6_k_q8_k_x4_512;
}

}  // namespace kuai::engine::kernels
