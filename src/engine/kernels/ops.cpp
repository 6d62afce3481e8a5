#include "engine/kernels/ops.h"

#include <cmath>

#include "engine/kernels/type_traits.h"

namespace kuai::engine::kernels {

void rms_norm(float* out, const float* x, const float* w, int n, float eps) {
  float ss = 0;
  for (int i = 0; i < n; ++i) ss += x[i] * x[i];
  const float scale = 1.0f / std::sqrt(ss / float(n) + eps);
  for (int i = 0; i < n; ++i) out[i] = x[i] * scale * w[i];
}

void rope_angles(int head_dim, int pos, const float* inv_freq, float* cos_sin) {
  for (int i = 0; i < head_dim / 2; ++i) {
    const float theta = float(pos) * inv_freq[i];
    cos_sin[2 * i] = std::cos(theta);
    cos_sin[2 * i + 1] = std::sin(theta);
  }
}

void rope_normal(float* v, int head_dim, const float* cos_sin) {
  for (int i = 0; i < head_dim / 2; ++i) {
    const float c = cos_sin[2 * i], s = cos_sin[2 * i + 1];
    const float a = v[2 * i], b = v[2 * i + 1];
    v[2 * i] = a * c - b * s;
    v[2 * i + 1] = a * s + b * c;
  }
}

void rope_neox(float* v, int head_dim, const float* cos_sin) {
  const int half = head_dim / 2;
  for (int i = 0; i < half; ++i) {
    const float c = cos_sin[2 * i], s = cos_sin[2 * i + 1];
    const float a = v[i], b = v[i + half];
    v[i] = a * c - b * s;
    v[i + half] = a * s + b * c;
  }
}

void softmax(float* x, int n) {
  float max = x[0];
  for (int i = 1; i < n; ++i) max = std::fmax(max, x[i]);
  float sum = 0;
  for (int i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = 1.0f / sum;
  for (int i = 0; i < n; ++i) x[i] *= inv;
}

void swiglu_ref(float* out, const float* gate, const float* up, int n) {
  for (int i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void swiglu(float* out, const float* gate, const float* up, int n) {
  if (detected_isa() >= Isa::kAvx512) swiglu_avx512(out, gate, up, n);
  else swiglu_ref(out, gate, up, n);
}

void gelu_ref(float* x, const float* bias, int n) {
  constexpr float kTwoSqrt2OverPi = 1.5957691216f;
  for (int i = 0; i < n; ++i) {
    const float v = x[i] + bias[i];
    x[i] = v / (1.0f + std::exp(-kTwoSqrt2OverPi * (v + 0.044715f * v * v * v)));
  }
}

void gelu(float* x, const float* bias, int n) {
  if (detected_isa() >= Isa::kAvx512) gelu_avx512(x, bias, n);
  else gelu_ref(x, bias, n);
}

void add_inplace(float* y, const float* x, int n) {
  for (int i = 0; i < n; ++i) y[i] += x[i];
}

float dot_f32(const float* a, const float* b, int n) {
  float s = 0;
  for (int i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

void axpy(float* y, float a, const float* x, int n) {
  for (int i = 0; i < n; ++i) y[i] += a * x[i];
}

}  // namespace kuai::engine::kernels
