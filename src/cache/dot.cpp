#include "cache/dot.h"

#include "cpu/isa.h"

namespace kuai::cache {
namespace {

using DotFn = float (*)(const float*, const float*, size_t);

struct Pick {
  DotFn fn;
  const char* isa;
};

// The level each file is built for (cpu/isa.h), capped by KUAI_ISA like the engine's kernels.
Pick pick() {
  if (cpu::isa_at_least(cpu::Isa::kAvx512)) return {dot_f32_avx512, "avx512"};
  if (cpu::isa_at_least(cpu::Isa::kAvx2)) return {dot_f32_avx2, "avx2"};
  return {dot_f32_ref, "scalar"};
}

const Pick& chosen() {
  static const Pick p = pick();
  return p;
}

}  // namespace

float dot_f32_ref(const float* a, const float* b, size_t n) {
  float s = 0;
  for (size_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

float dot_f32(const float* a, const float* b, size_t n) { return chosen().fn(a, b, n); }
const char* dot_f32_isa() { return chosen().isa; }

}  // namespace kuai::cache
