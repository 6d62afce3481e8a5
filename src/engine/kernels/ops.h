// Element-wise and row operations of the forward pass, on float rows. Plain C++ written so the
// compiler vectorises it; none of these dominates decode or prefill time (the matmuls do).
#pragma once

#include <cstdint>

namespace kuai::engine::kernels {

// out[i] = x[i] / sqrt(mean(x^2) + eps) * w[i]   (out may alias x)
void rms_norm(float* out, const float* x, const float* w, int n, float eps);

// RoPE on one head vector of head_dim floats, with the rotation of its position precomputed by
// rope_angles (once per token: every head of every layer uses the same table).
// normal (llama): rotates adjacent pairs (2i, 2i+1); neox (qwen2): pairs (i, i + head_dim/2).
// theta_i = pos_scaled * base^(-2i/head_dim) with pos_scaled = pos / linear_scale.
// `inv_freq` is precomputed: head_dim/2 values base^(-2i/head_dim) / linear_scale.
// cos_sin: head_dim values, (cos theta_i, sin theta_i) for i < head_dim / 2.
void rope_angles(int head_dim, int pos, const float* inv_freq, float* cos_sin);
void rope_normal(float* v, int head_dim, const float* cos_sin);
void rope_neox(float* v, int head_dim, const float* cos_sin);

// In place softmax over n values.
void softmax(float* x, int n);

// out[i] = silu(gate[i]) * up[i] (out may alias gate): the reference (std::exp), the AVX-512 kernel
// (a polynomial exp, agrees to a relative 1e-6; call only at that level), and the level's choice.
void swiglu_ref(float* out, const float* gate, const float* up, int n);
void swiglu_avx512(float* out, const float* gate, const float* up, int n);
void swiglu(float* out, const float* gate, const float* up, int n);

// x[i] = gelu(x[i] + bias[i]) in place, GELU's tanh form (BERT's, ggml's): 0.5 x (1 + tanh(√(2/π)(x +
// 0.044715 x³))) = x · sigmoid(2√(2/π)(x + 0.044715 x³)). Reference (std::exp), AVX-512 (agrees to a
// relative 1e-6; call only at that level), and the level's choice.
void gelu_ref(float* x, const float* bias, int n);
void gelu_avx512(float* x, const float* bias, int n);
void gelu(float* x, const float* bias, int n);

// y[i] += x[i]
void add_inplace(float* y, const float* x, int n);

float dot_f32(const float* a, const float* b, int n);
// y[i] += a * x[i]
void axpy(float* y, float a, const float* x, int n);

}  // namespace kuai::engine::kernels
