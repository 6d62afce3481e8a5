// Element-wise and row operations of the forward pass, on float rows. Plain C++ written so the
// compiler vectorises it; none of these dominates decode or prefill time (the matmuls do).
#pragma once

#include <cstdint>

namespace kuai::engine::kernels {

// out[i] = x[i] / sqrt(mean(x^2) + eps) * w[i]   (out may alias x)
void rms_norm(float* out, const float* x, const float* w, int n, float eps);

// RoPE on one head vector of head_dim floats at position pos.
// normal (llama): rotates adjacent pairs (2i, 2i+1); neox (qwen2): pairs (i, i + head_dim/2).
// theta_i = pos_scaled * base^(-2i/head_dim) with pos_scaled = pos / linear_scale.
// `inv_freq` is precomputed: head_dim/2 values base^(-2i/head_dim) / linear_scale.
void rope_normal(float* v, int head_dim, int pos, const float* inv_freq);
void rope_neox(float* v, int head_dim, int pos, const float* inv_freq);

// In place softmax over n values.
void softmax(float* x, int n);

// out[i] = silu(gate[i]) * up[i]
void swiglu(float* out, const float* gate, const float* up, int n);

// y[i] += x[i]
void add_inplace(float* y, const float* x, int n);

float dot_f32(const float* a, const float* b, int n);
// y[i] += a * x[i]
void axpy(float* y, float a, const float* x, int n);

}  // namespace kuai::engine::kernels
