#include "engine/kernels/type_traits.h"

#include <cstdlib>
#include <cstring>

#include "engine/kernels/quant_ref.h"

namespace kuai::engine::kernels {
namespace {

template <VecDotFn Dot>
void x4_from_single(int n, const void* w, const void* a, size_t stride, float* out) {
  for (int k = 0; k < 4; ++k) out[k] = Dot(n, w, static_cast<const char*>(a) + k * stride);
}

struct Tables {
  KernelTable plain{};
  KernelTable avx2{};
  KernelTable avx512{};
  Tables() {
    fill_plain(plain);
    std::memcpy(&avx2, &plain, sizeof(KernelTable));
    fill_avx2(avx2);
    std::memcpy(&avx512, &avx2, sizeof(KernelTable));
    fill_avx512(avx512);
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

const KernelTraits* kernel_traits(GgmlType type, Isa isa) {
  const uint32_t id = static_cast<uint32_t>(type);
  if (id >= uint32_t(kMaxTypeId)) return nullptr;
  const Tables& t = tables();
  const KernelTable& table = isa >= Isa::kAvx512 ? t.avx512 : isa == Isa::kAvx2 ? t.avx2 : t.plain;
  const KernelTraits* k = &table[id];
  return k->to_float ? k : nullptr;
}

const KernelTraits* kernel_traits(GgmlType type) { return kernel_traits(type, detected_isa()); }

void fill_plain(KernelTable& table) {
  auto set = [&](GgmlType type, ToFloatFn to, FromFloatFn from, GgmlType act, VecDotFn dot, VecDotX4Fn x4) {
    table[static_cast<uint32_t>(type)] = KernelTraits{type, to, from, act, dot, x4};
  };
  using G = GgmlType;
  set(G::F32, ref::to_float_f32, ref::from_float_f32, G::F32, ref::dot_f32_f32, x4_from_single<ref::dot_f32_f32>);
  set(G::F16, ref::to_float_f16, ref::from_float_f16, G::F32, ref::dot_f16_f32, x4_from_single<ref::dot_f16_f32>);
  set(G::BF16, ref::to_float_bf16, ref::from_float_bf16, G::F32, ref::dot_bf16_f32,
      x4_from_single<ref::dot_bf16_f32>);
  set(G::Q8_0, ref::to_float_q8_0, ref::from_float_q8_0, G::Q8_0, ref::dot_q8_0_q8_0,
      x4_from_single<ref::dot_q8_0_q8_0>);
  set(G::Q4_0, ref::to_float_q4_0, ref::from_float_q4_0, G::Q8_0, ref::dot_q4_0_q8_0,
      x4_from_single<ref::dot_q4_0_q8_0>);
  set(G::Q4_K, ref::to_float_q4_k, ref::from_float_q4_k, G::Q8_K, ref::dot_q4_k_q8_k,
      ref::dot_q4_k_q8_k_x4);
  set(G::Q6_K, ref::to_float_q6_k, ref::from_float_q6_k, G::Q8_K, ref::dot_q6_k_q8_k,
      ref::dot_q6_k_q8_k_x4);
  set(G::Q8_K, ref::to_float_q8_k, ref::from_float_q8_k, G::Q8_K, nullptr, nullptr);
}

}  // namespace kuai::engine::kernels
