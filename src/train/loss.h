// Losses on one position's logits row z (n_vocab values), each returning the loss and ADDING
// scale * d(loss)/dz to grad:
//   cross-entropy  -log softmax(z)[target];
//   distillation   D(p || q) between a teacher distribution p and q = softmax(z / T), for
//                  kl (forward, sum p log p/q), reverse-kl (sum q log q/p), skew-kl (KL(p || a p + (1-a) q),
//                  a = 0.1, DistiLLM) and jsd (Jensen-Shannon with the mixture (p + q) / 2).
// The distillation objective of a position is alpha * T^2 * D + (1 - alpha) * CE (Hinton et al.).
#pragma once

#include <cstdint>
#include <string>

#include "engine/gguf/result.h"

namespace kuai::train {

enum class Divergence { kKl, kReverseKl, kSkewKl, kJsd };
engine::Result<Divergence> parse_divergence(const std::string& name);  // kl | reverse-kl | skew-kl | jsd
const char* divergence_name(Divergence d);

inline constexpr double kSkewAlpha = 0.1;

// -log softmax(z)[target]; grad += scale * (softmax(z) - onehot(target)).
template <class S>
double cross_entropy(const S* z, int32_t target, int n_vocab, S* grad, S scale);

// D(p || softmax(z / temperature)); grad += scale * dD/dz. p: n_vocab probabilities (sum 1).
template <class S>
double divergence(Divergence d, const S* p, const S* z, int n_vocab, S temperature, S* grad, S scale);

}  // namespace kuai::train
