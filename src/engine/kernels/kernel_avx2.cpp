// AVX2 + FMA + F16C kernels (this file is compiled with those flags; its table is used only when
// cpuid reports them). Integer dots use maddubs + madd.
#include "engine/kernels/simd_x86.h"
#include "engine/kernels/type_traits.h"

namespace kuai::engine::kernels {

void fill_avx2(KernelTable& t) {
  constexpr bool kVnni = false;
  auto at = [&](GgmlType type) -> KernelTraits& { return t[static_cast<uint32_t>(type)]; };
  at(GgmlType::F32).vec_dot = dot_float<FloatKind::kF32>;
  at(GgmlType::F32).vec_dot_x4 = dot_float_x4<FloatKind::kF32>;
  at(GgmlType::F16).vec_dot = dot_float<FloatKind::kF16>;
  at(GgmlType::F16).vec_dot_x4 = dot_float_x4<FloatKind::kF16>;
  at(GgmlType::BF16).vec_dot = dot_float<FloatKind::kBF16>;
  at(GgmlType::BF16).vec_dot_x4 = dot_float_x4<FloatKind::kBF16>;
  at(GgmlType::Q8_0).vec_dot = dot_qx_q8_0<kVnni, false>;
  at(GgmlType::Q8_0).vec_dot_x4 = dot_qx_q8_0_x4<kVnni, false>;
  at(GgmlType::Q8_0).from_float = from_float_q8_0_simd;
  at(GgmlType::Q4_0).vec_dot = dot_qx_q8_0<kVnni, true>;
  at(GgmlType::Q4_0).vec_dot_x4 = dot_qx_q8_0_x4<kVnni, true>;
  at(GgmlType::Q4_K).vec_dot = dot_q4_k_q8_k<kVnni>;
  at(GgmlType::Q4_K).vec_dot_x4 = dot_q4_k_q8_k_x4<kVnni>;
  at(GgmlType::Q6_K).vec_dot = dot_q6_k_q8_k<kVnni>;
  at(GgmlType::Q6_K).vec_dot_x4 = dot_q6_k_q8_k_x4<kVnni>;
  at(GgmlType::Q8_K).from_float = from_float_q8_k_simd;
}

}  // namespace kuai::engine::kernels
