// The operations of the llama forward pass, each with its backward, on row-major arrays of a scalar S
// (float in training, double in the finite-difference tests). Backward functions ADD into their
// gradient outputs (so a weight used twice, like a tied embedding, sums both uses).
// Shapes: n tokens; a linear layer's W is (out, in), y = x W^T; x (n, in), y (n, out).
// Conventions match the engine's forward (engine/kernels/ops.cpp, engine/model/forward.cpp): RMSNorm
// y = x / sqrt(mean(x^2) + eps) * w; RoPE rotates adjacent pairs (2i, 2i+1) by pos * inv_freq[i];
// attention scores scaled by 1/sqrt(head_dim), q head h uses kv head h / (n_head / n_head_kv).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace kuai::train::ops {

// Dot product with 8 independent partial sums (vectorised by the compiler without -ffast-math).
template <class S>
inline S dot(const S* a, const S* b, int n) {
  S acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  S s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// y[i] += a * x[i]
template <class S>
inline void axpy(S* y, S a, const S* x, int n) {
  for (int i = 0; i < n; ++i) y[i] += a * x[i];
}

// y (n, out) = x (n, in) W^T, W (out, in)
template <class S>
void linear_fwd(S* y, const S* x, const S* W, int n, int in, int out) {
  for (int t = 0; t < n; ++t)
    for (int o = 0; o < out; ++o) y[size_t(t) * out + o] = dot(x + size_t(t) * in, W + size_t(o) * in, in);
}

// dx (n, in) += dy W (when dx); dW (out, in) += dy^T x
template <class S>
void linear_bwd(S* dx, S* dW, const S* dy, const S* x, const S* W, int n, int in, int out) {
  for (int t = 0; t < n; ++t) {
    const S* g = dy + size_t(t) * out;
    for (int o = 0; o < out; ++o) {
      if (g[o] == S(0)) continue;
      if (dx) axpy(dx + size_t(t) * in, g[o], W + size_t(o) * in, in);
      axpy(dW + size_t(o) * in, g[o], x + size_t(t) * in, in);
    }
  }
}

// One row: y = x * r * w with r = 1 / sqrt(mean(x^2) + eps); returns r (saved for backward).
template <class S>
S rmsnorm_fwd(S* y, const S* x, const S* w, int n, S eps) {
  S ss = 0;
  for (int i = 0; i < n; ++i) ss += x[i] * x[i];
  const S r = S(1) / std::sqrt(ss / S(n) + eps);
  for (int i = 0; i < n; ++i) y[i] = x[i] * r * w[i];
  return r;
}

// dx += r * w * dy - x * r^3 / n * sum(w * dy * x);  dw += dy * x * r
template <class S>
void rmsnorm_bwd(S* dx, S* dw, const S* dy, const S* x, const S* w, S r, int n) {
  S s = 0;
  for (int i = 0; i < n; ++i) s += w[i] * dy[i] * x[i];
  const S c = r * r * r * s / S(n);
  for (int i = 0; i < n; ++i) {
    dx[i] += r * w[i] * dy[i] - x[i] * c;
    dw[i] += dy[i] * x[i] * r;
  }
}

// RoPE of one head vector in place (the engine's rope_normal): theta_i = float(pos) * inv_freq[i].
// sign = -1 applies the inverse rotation (the backward of a rotation is its transpose).
template <class S>
void rope(S* v, int n_rot, int pos, const S* inv_freq, int sign = 1) {
  for (int i = 0; i < n_rot / 2; ++i) {
    const S theta = S(pos) * inv_freq[i];
    const S c = std::cos(theta), s = S(sign) * std::sin(theta);
    const S a = v[2 * i], b = v[2 * i + 1];
    v[2 * i] = a * c - b * s;
    v[2 * i + 1] = a * s + b * c;
  }
}

// act = silu(gate) * up
template <class S>
void swiglu_fwd(S* act, const S* gate, const S* up, int n) {
  for (int i = 0; i < n; ++i) act[i] = gate[i] / (S(1) + std::exp(-gate[i])) * up[i];
}

// dgate += dact * up * silu'(gate), dup += dact * silu(gate); silu'(g) = s (1 + g (1 - s)), s = sigmoid(g)
template <class S>
void swiglu_bwd(S* dgate, S* dup, const S* dact, const S* gate, const S* up, int n) {
  for (int i = 0; i < n; ++i) {
    const S s = S(1) / (S(1) + std::exp(-gate[i]));
    dgate[i] += dact[i] * up[i] * s * (S(1) + gate[i] * (S(1) - s));
    dup[i] += dact[i] * gate[i] * s;
  }
}

struct AttnShape {
  int n = 0;  // tokens (positions 0..n-1 of one sequence)
  int n_head = 0, n_head_kv = 0, head_dim = 0;
  int q_dim() const { return n_head * head_dim; }
  int kv_dim() const { return n_head_kv * head_dim; }
};

// Causal attention. q (n, Q), k/v (n, KV) (after RoPE); P (n_head, n, n) softmax weights saved
// (row t holds positions 0..t, the rest 0); out (n, Q).
template <class S>
void attention_fwd(S* out, S* P, const S* q, const S* k, const S* v, const AttnShape& a) {
  const int Q = a.q_dim(), KV = a.kv_dim(), HD = a.head_dim, group = a.n_head / a.n_head_kv;
  const S scale = S(1) / std::sqrt(S(HD));
  for (int h = 0; h < a.n_head; ++h) {
    const int g = h / group;
    for (int t = 0; t < a.n; ++t) {
      S* p = P + (size_t(h) * a.n + t) * a.n;
      const S* qt = q + size_t(t) * Q + size_t(h) * HD;
      S mx = -INFINITY;
      for (int s = 0; s <= t; ++s) {
        p[s] = dot(qt, k + size_t(s) * KV + size_t(g) * HD, HD) * scale;
        mx = std::max(mx, p[s]);
      }
      S sum = 0;
      for (int s = 0; s <= t; ++s) sum += (p[s] = std::exp(p[s] - mx));
      for (int s = 0; s <= t; ++s) p[s] /= sum;
      for (int s = t + 1; s < a.n; ++s) p[s] = 0;
      S* o = out + size_t(t) * Q + size_t(h) * HD;
      std::fill(o, o + HD, S(0));
      for (int s = 0; s <= t; ++s) axpy(o, p[s], v + size_t(s) * KV + size_t(g) * HD, HD);
    }
  }
}

// dq, dk, dv += the gradients from dout. scratch: n values.
template <class S>
void attention_bwd(S* dq, S* dk, S* dv, const S* dout, const S* P, const S* q, const S* k, const S* v,
                   const AttnShape& a, S* scratch) {
  const int Q = a.q_dim(), KV = a.kv_dim(), HD = a.head_dim, group = a.n_head / a.n_head_kv;
  const S scale = S(1) / std::sqrt(S(HD));
  S* dp = scratch;
  for (int h = 0; h < a.n_head; ++h) {
    const int g = h / group;
    for (int t = 0; t < a.n; ++t) {
      const S* p = P + (size_t(h) * a.n + t) * a.n;
      const S* go = dout + size_t(t) * Q + size_t(h) * HD;
      S row = 0;
      for (int s = 0; s <= t; ++s) {
        dp[s] = dot(go, v + size_t(s) * KV + size_t(g) * HD, HD);
        row += p[s] * dp[s];
        axpy(dv + size_t(s) * KV + size_t(g) * HD, p[s], go, HD);
      }
      const S* qt = q + size_t(t) * Q + size_t(h) * HD;
      S* dqt = dq + size_t(t) * Q + size_t(h) * HD;
      for (int s = 0; s <= t; ++s) {
        const S ds = p[s] * (dp[s] - row) * scale;  // d score (before the scale) * scale
        if (ds == S(0)) continue;
        axpy(dqt, ds, k + size_t(s) * KV + size_t(g) * HD, HD);
        axpy(dk + size_t(s) * KV + size_t(g) * HD, ds, qt, HD);
      }
    }
  }
}

}  // namespace kuai::train::ops
