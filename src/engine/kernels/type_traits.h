// The per-type kernel table (like ggml's type_traits_cpu): for every weight type the engine computes
// with, how to convert rows from/to float, which format activations are quantized to before a dot
// product, and the dot kernels. One table per instruction set; `kernel_traits()` returns the one of
// cpu::isa_level() (cpuid, capped by KUAI_ISA), so a binary built here also runs on AVX2-only machines.
// Tables are immutable after first use: safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cpu/isa.h"
#include "engine/gguf/ggml_type.h"

namespace kuai::engine::kernels {

using ToFloatFn = void (*)(const void* src, float* dst, int64_t n);
using FromFloatFn = void (*)(const float* src, void* dst, int64_t n);
// dot of one weight row (n elements, weight type) with one activation row (n elements, act type).
using VecDotFn = float (*)(int n, const void* w, const void* a);
// one weight row against 4 activation rows a + k * a_stride_bytes (k = 0..3) -> out[0..3]. Reads the
// weight row once: the prefill (matrix-matrix) path.
using VecDotX4Fn = void (*)(int n, const void* w, const void* a, size_t a_stride_bytes, float* out);

struct KernelTraits {
  GgmlType type = GgmlType::F32;
  ToFloatFn to_float = nullptr;      // nullptr: the type cannot be read
  FromFloatFn from_float = nullptr;  // nullptr: cannot be written (quantized to)
  GgmlType act_type = GgmlType::F32;  // activation format that vec_dot takes
  VecDotFn vec_dot = nullptr;         // nullptr: no dot kernel (not a matmul weight type)
  VecDotX4Fn vec_dot_x4 = nullptr;    // optional
};

using cpu::Isa;
using cpu::isa_name;

// The level the kernels run at: cpu::isa_level() (every feature of the level's build flags reported by
// cpuid, capped by KUAI_ISA=plain|avx2|avx512).
inline Isa detected_isa() { return cpu::isa_level(); }

// Kernels of `type` for the best ISA (or nullptr when the engine has no kernels for the type).
const KernelTraits* kernel_traits(GgmlType type);
// Kernels of `type` for a given ISA (used by tests to compare variants). Entries an ISA does not
// specialise fall back to the plain ones. Precondition: the CPU supports `isa`.
const KernelTraits* kernel_traits(GgmlType type, Isa isa);

// True when matmul can use weights of this type.
inline bool kernel_can_matmul(GgmlType type) {
  const KernelTraits* t = kernel_traits(type);
  return t && t->vec_dot;
}

// Tables per ISA, filled by the ISA's file. Index = GgmlType id (< kMaxTypeId).
constexpr int kMaxTypeId = 40;
using KernelTable = KernelTraits[kMaxTypeId];
void fill_plain(KernelTable& table);
void fill_avx2(KernelTable& table);    // kernel_avx2.cpp; overrides entries of the plain table
void fill_avx512(KernelTable& table);  // kernel_avx512.cpp; overrides entries of the avx2 table

}  // namespace kuai::engine::kernels
