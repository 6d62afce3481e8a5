#include "engine/kv/kv_convert.h"

#include "cpu/isa.h"

#include "engine/kernels/blocks.h"
#include "engine/kernels/fp16.h"

#include <algorithm>
#include <cmath>

namespace kuai::engine::kv {

namespace detail {
bool kv_has_avx2_f16c() { return cpu::isa_at_least(cpu::Isa::kAvx2); }  // the level kv_convert_avx2.cpp is built for
}  // namespace detail

void kv_f32_to_f16(const float* x, uint16_t* out, int64_t n) {
  if (detail::kv_has_avx2_f16c()) return detail::kv_f32_to_f16_avx2(x, out, n);
  for (int64_t i = 0; i < n; ++i) out[i] = kernels::fp32_to_fp16(x[i]);
}

void kv_f16_to_f32(const uint16_t* in, float* x, int64_t n) {
  if (detail::kv_has_avx2_f16c()) return detail::kv_f16_to_f32_avx2(in, x, n);
  for (int64_t i = 0; i < n; ++i) x[i] = kernels::fp16_to_fp32(in[i]);
}

void kv_f32_to_q8_0(const float* x, void* out, int64_t n) {
  auto* blocks = static_cast<kernels::BlockQ8_0*>(out);
  for (int64_t b = 0; b < n / kernels::kQK8_0; ++b) {
    const float* xb = x + b * kernels::kQK8_0;
    float amax = 0;
    for (int i = 0; i < kernels::kQK8_0; ++i) amax = std::max(amax, std::fabs(xb[i]));
    const float d = amax / 127.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    blocks[b].d = kernels::fp32_to_fp16(d);
    for (int i = 0; i < kernels::kQK8_0; ++i) blocks[b].qs[i] = int8_t(std::lround(xb[i] * id));
  }
}

void kv_q8_0_to_f32(const void* in, float* x, int64_t n) {
  const auto* blocks = static_cast<const kernels::BlockQ8_0*>(in);
  for (int64_t b = 0; b < n / kernels::kQK8_0; ++b) {
    const float d = kernels::fp16_to_fp32(blocks[b].d);
    float* xb = x + b * kernels::kQK8_0;
    for (int i = 0; i < kernels::kQK8_0; ++i) xb[i] = d * float(blocks[b].qs[i]);
  }
}

}  // namespace kuai::engine::kv
