// Forward (activations saved) and backward of a llama-architecture transformer over ONE sequence of
// n tokens at positions 0..n-1, on a flat parameter array laid out by Layout (model_config.h).
// Same computation as the engine's forward (engine/model/forward.cpp), so a trained model written to
// GGUF generates what it was trained to. S is float for training, double for the gradient tests.
// Threads: a Model is immutable; each thread uses its own Activations.
#pragma once

#include <cstdint>
#include <vector>

#include "train/model_config.h"

namespace kuai::train {

// Everything one sequence's forward saves, and the backward's scratch; reused between calls.
template <class S>
struct Activations {
  int n = 0;
  std::vector<S> x;                  // (n_layer + 1, n, E): the residual stream entering each layer, then the final one
  std::vector<S> xn1, xn2, xmid;     // (n_layer, n, E): attention input (normed), after attention, FFN input (normed)
  std::vector<S> r1, r2;             // (n_layer, n): RMSNorm 1/rms
  std::vector<S> q, k, v, att;       // (n_layer, n, Q|KV|KV|Q): after RoPE; att = attention output before wo
  std::vector<S> P;                  // (n_layer, n_head, n, n): softmax weights
  std::vector<S> gate, up, act;      // (n_layer, n, F)
  std::vector<S> xnf, rf;            // (n, E), (n): final norm
  std::vector<S> logits;             // (n, V)
  std::vector<S> dx, dxn, dq, dk, dv, datt, dgate, dup, dact, dp;  // backward scratch
};

template <class S>
class Model {
 public:
  explicit Model(const ModelConfig& cfg);
  const ModelConfig& config() const { return cfg_; }
  const Layout& layout() const { return layout_; }

  // Runs tokens[0..n) (n <= cfg.n_ctx); a.logits gets (n, n_vocab).
  void forward(const S* params, const int32_t* tokens, int n, Activations<S>& a) const;
  // Adds d(loss)/d(params) to grads, given dlogits (n, n_vocab) = d(loss)/d(logits) of the last forward.
  // dresid (optional, (n_layer + 1, n, E) like Activations::x): a further loss's gradient with respect to
  // the residual stream leaving each layer (rows 1..n_layer; row 0, the embeddings, is not read).
  void backward(const S* params, S* grads, const int32_t* tokens, const S* dlogits, Activations<S>& a,
                const S* dresid = nullptr) const;

 private:
  ModelConfig cfg_;
  Layout layout_;
  std::vector<S> inv_freq_;  // (head_dim / 2)
};

extern template class Model<float>;
extern template class Model<double>;

}  // namespace kuai::train
