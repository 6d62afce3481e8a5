#include "train/model.h"

#include <algorithm>
#include <cmath>

#include "train/ops.h"

namespace kuai::train {

template <class S>
Model<S>::Model(const ModelConfig& cfg) : cfg_(cfg), layout_(cfg) {
  const int hd = cfg.head_dim();
  inv_freq_.resize(size_t(hd / 2));
  // as the engine computes it (llama_model.cpp), rounded to S
  for (int i = 0; i < hd / 2; ++i)
    inv_freq_[size_t(i)] = S(1.0 / std::pow(double(cfg.rope_base), double(2 * i) / double(hd)));
}

template <class S>
void Model<S>::forward(const S* p, const int32_t* tokens, int n, Activations<S>& a) const {
  const ModelConfig& c = cfg_;
  const int E = c.n_embd, Q = c.q_dim(), KV = c.kv_dim(), F = c.n_ff, V = c.n_vocab, HD = c.head_dim();
  const int NL = c.n_layer;
  const size_t nE = size_t(n) * E;
  a.n = n;
  auto fit = [](std::vector<S>& v, size_t size) {
    if (v.size() < size) v.resize(size);
  };
  fit(a.x, (NL + 1) * nE);
  for (auto* v : {&a.xn1, &a.xn2, &a.xmid}) fit(*v, NL * nE);
  fit(a.r1, size_t(NL) * n);
  fit(a.r2, size_t(NL) * n);
  fit(a.q, size_t(NL) * n * Q);
  fit(a.att, size_t(NL) * n * Q);
  fit(a.k, size_t(NL) * n * KV);
  fit(a.v, size_t(NL) * n * KV);
  fit(a.P, size_t(NL) * c.n_head * n * n);
  for (auto* v : {&a.gate, &a.up, &a.act}) fit(*v, size_t(NL) * n * F);
  fit(a.xnf, nE);
  fit(a.rf, size_t(n));
  fit(a.logits, size_t(n) * V);
  const S eps = S(c.rms_eps);
  const ops::AttnShape shape{n, c.n_head, c.n_head_kv, HD};

  for (int t = 0; t < n; ++t) {
    const S* row = p + layout_.tok_embd + size_t(tokens[t]) * E;
    std::copy(row, row + E, a.x.data() + size_t(t) * E);
  }
  for (int il = 0; il < NL; ++il) {
    const LayerOffsets& L = layout_.layers[size_t(il)];
    S* x = a.x.data() + il * nE;
    S* xn1 = a.xn1.data() + il * nE;
    S* q = a.q.data() + size_t(il) * n * Q;
    S* k = a.k.data() + size_t(il) * n * KV;
    S* v = a.v.data() + size_t(il) * n * KV;
    S* att = a.att.data() + size_t(il) * n * Q;
    S* xmid = a.xmid.data() + il * nE;
    S* xn2 = a.xn2.data() + il * nE;
    S* gate = a.gate.data() + size_t(il) * n * F;
    S* up = a.up.data() + size_t(il) * n * F;
    S* act = a.act.data() + size_t(il) * n * F;
    S* xout = a.x.data() + (il + 1) * nE;
    for (int t = 0; t < n; ++t)
      a.r1[size_t(il) * n + t] = ops::rmsnorm_fwd(xn1 + size_t(t) * E, x + size_t(t) * E, p + L.attn_norm, E, eps);
    ops::linear_fwd(q, xn1, p + L.wq, n, E, Q);
    ops::linear_fwd(k, xn1, p + L.wk, n, E, KV);
    ops::linear_fwd(v, xn1, p + L.wv, n, E, KV);
    for (int t = 0; t < n; ++t) {
      for (int h = 0; h < c.n_head; ++h) ops::rope(q + size_t(t) * Q + h * HD, HD, t, inv_freq_.data());
      for (int h = 0; h < c.n_head_kv; ++h) ops::rope(k + size_t(t) * KV + h * HD, HD, t, inv_freq_.data());
    }
    ops::attention_fwd(att, a.P.data() + size_t(il) * c.n_head * n * n, q, k, v, shape);
    ops::linear_fwd(xmid, att, p + L.wo, n, Q, E);
    for (size_t i = 0; i < nE; ++i) xmid[i] += x[i];
    for (int t = 0; t < n; ++t)
      a.r2[size_t(il) * n + t] = ops::rmsnorm_fwd(xn2 + size_t(t) * E, xmid + size_t(t) * E, p + L.ffn_norm, E, eps);
    ops::linear_fwd(gate, xn2, p + L.gate, n, E, F);
    ops::linear_fwd(up, xn2, p + L.up, n, E, F);
    ops::swiglu_fwd(act, gate, up, n * F);
    ops::linear_fwd(xout, act, p + L.down, n, F, E);
    for (size_t i = 0; i < nE; ++i) xout[i] += xmid[i];
  }
  const S* xf = a.x.data() + NL * nE;
  for (int t = 0; t < n; ++t)
    a.rf[size_t(t)] = ops::rmsnorm_fwd(a.xnf.data() + size_t(t) * E, xf + size_t(t) * E, p + layout_.output_norm, E, eps);
  ops::linear_fwd(a.logits.data(), a.xnf.data(), p + layout_.output, n, E, V);
}

template <class S>
void Model<S>::backward(const S* p, S* g, const int32_t* tokens, const S* dlogits, Activations<S>& a,
                        const S* dresid) const {
  const ModelConfig& c = cfg_;
  const int n = a.n;
  const int E = c.n_embd, Q = c.q_dim(), KV = c.kv_dim(), F = c.n_ff, V = c.n_vocab, HD = c.head_dim();
  const int NL = c.n_layer;
  const size_t nE = size_t(n) * E;
  auto zero = [](std::vector<S>& v, size_t size) {
    if (v.size() < size) v.resize(size);
    std::fill(v.begin(), v.begin() + std::ptrdiff_t(size), S(0));
  };
  zero(a.dx, nE);
  zero(a.dxn, nE);
  // output head and final norm
  ops::linear_bwd(a.dxn.data(), g + layout_.output, dlogits, a.xnf.data(), p + layout_.output, n, E, V);
  const S* xf = a.x.data() + NL * nE;
  for (int t = 0; t < n; ++t)
    ops::rmsnorm_bwd(a.dx.data() + size_t(t) * E, g + layout_.output_norm, a.dxn.data() + size_t(t) * E,
                     xf + size_t(t) * E, p + layout_.output_norm, a.rf[size_t(t)], E);
  const ops::AttnShape shape{n, c.n_head, c.n_head_kv, HD};
  for (int il = NL - 1; il >= 0; --il) {
    const LayerOffsets& L = layout_.layers[size_t(il)];
    const S* x = a.x.data() + il * nE;
    const S* xn1 = a.xn1.data() + il * nE;
    const S* q = a.q.data() + size_t(il) * n * Q;
    const S* k = a.k.data() + size_t(il) * n * KV;
    const S* v = a.v.data() + size_t(il) * n * KV;
    const S* att = a.att.data() + size_t(il) * n * Q;
    const S* xmid = a.xmid.data() + il * nE;
    const S* xn2 = a.xn2.data() + il * nE;
    const S* gate = a.gate.data() + size_t(il) * n * F;
    const S* up = a.up.data() + size_t(il) * n * F;
    const S* act = a.act.data() + size_t(il) * n * F;
    if (dresid)
      for (size_t i = 0; i < nE; ++i) a.dx[i] += dresid[size_t(il + 1) * nE + i];
    // FFN: dx is d(loss)/d(xout) = d/d(xmid) through the residual, plus the FFN path below
    zero(a.dact, size_t(n) * F);
    ops::linear_bwd(a.dact.data(), g + L.down, a.dx.data(), act, p + L.down, n, F, E);
    zero(a.dgate, size_t(n) * F);
    zero(a.dup, size_t(n) * F);
    ops::swiglu_bwd(a.dgate.data(), a.dup.data(), a.dact.data(), gate, up, n * F);
    zero(a.dxn, nE);
    ops::linear_bwd(a.dxn.data(), g + L.gate, a.dgate.data(), xn2, p + L.gate, n, E, F);
    ops::linear_bwd(a.dxn.data(), g + L.up, a.dup.data(), xn2, p + L.up, n, E, F);
    for (int t = 0; t < n; ++t)
      ops::rmsnorm_bwd(a.dx.data() + size_t(t) * E, g + L.ffn_norm, a.dxn.data() + size_t(t) * E, xmid + size_t(t) * E,
                       p + L.ffn_norm, a.r2[size_t(il) * n + t], E);
    // attention: dx is now d/d(xmid)
    zero(a.datt, size_t(n) * Q);
    ops::linear_bwd(a.datt.data(), g + L.wo, a.dx.data(), att, p + L.wo, n, Q, E);
    zero(a.dq, size_t(n) * Q);
    zero(a.dk, size_t(n) * KV);
    zero(a.dv, size_t(n) * KV);
    zero(a.dp, size_t(n));
    ops::attention_bwd(a.dq.data(), a.dk.data(), a.dv.data(), a.datt.data(), a.P.data() + size_t(il) * c.n_head * n * n,
                       q, k, v, shape, a.dp.data());
    for (int t = 0; t < n; ++t) {
      for (int h = 0; h < c.n_head; ++h) ops::rope(a.dq.data() + size_t(t) * Q + h * HD, HD, t, inv_freq_.data(), -1);
      for (int h = 0; h < c.n_head_kv; ++h) ops::rope(a.dk.data() + size_t(t) * KV + h * HD, HD, t, inv_freq_.data(), -1);
    }
    zero(a.dxn, nE);
    ops::linear_bwd(a.dxn.data(), g + L.wq, a.dq.data(), xn1, p + L.wq, n, E, Q);
    ops::linear_bwd(a.dxn.data(), g + L.wk, a.dk.data(), xn1, p + L.wk, n, E, KV);
    ops::linear_bwd(a.dxn.data(), g + L.wv, a.dv.data(), xn1, p + L.wv, n, E, KV);
    for (int t = 0; t < n; ++t)
      ops::rmsnorm_bwd(a.dx.data() + size_t(t) * E, g + L.attn_norm, a.dxn.data() + size_t(t) * E, x + size_t(t) * E,
                       p + L.attn_norm, a.r1[size_t(il) * n + t], E);
  }
  for (int t = 0; t < n; ++t)
    ops::axpy(g + layout_.tok_embd + size_t(tokens[t]) * E, S(1), a.dx.data() + size_t(t) * E, E);
}

template class Model<float>;
template class Model<double>;

}  // namespace kuai::train
