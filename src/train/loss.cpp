#include "train/loss.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace kuai::train {

engine::Result<Divergence> parse_divergence(const std::string& name) {
  if (name == "kl") return Divergence::kKl;
  if (name == "reverse-kl") return Divergence::kReverseKl;
  if (name == "skew-kl") return Divergence::kSkewKl;
  if (name == "jsd") return Divergence::kJsd;
  return engine::make_error("unknown loss '" + name + "' (kl, reverse-kl, skew-kl, jsd)");
}

const char* divergence_name(Divergence d) {
  switch (d) {
    case Divergence::kKl: return "kl";
    case Divergence::kReverseKl: return "reverse-kl";
    case Divergence::kSkewKl: return "skew-kl";
    case Divergence::kJsd: return "jsd";
  }
  return "?";
}

namespace {

// log-sum-exp of z / t
template <class S>
S log_sum_exp(const S* z, int n, S t) {
  S mx = z[0] / t;
  for (int i = 1; i < n; ++i) mx = std::max(mx, z[i] / t);
  S sum = 0;
  for (int i = 0; i < n; ++i) sum += std::exp(z[i] / t - mx);
  return mx + std::log(sum);
}

}  // namespace

template <class S>
double cross_entropy(const S* z, int32_t target, int n, S* grad, S scale) {
  const S lse = log_sum_exp(z, n, S(1));
  for (int i = 0; i < n; ++i) grad[i] += scale * std::exp(z[i] - lse);
  grad[target] -= scale;
  return double(lse - z[target]);
}

template <class S>
double divergence(Divergence d, const S* p, const S* z, int n, S t, S* grad, S scale) {
  const S lse = log_sum_exp(z, n, t);
  thread_local std::vector<S> buf;
  buf.resize(size_t(2 * n));
  S* logq = buf.data();
  S* g = buf.data() + n;  // dD/dq
  for (int i = 0; i < n; ++i) logq[i] = z[i] / t - lse;
  const S tiny = S(1e-30);
  double loss = 0;
  if (d == Divergence::kKl) {  // the softmax Jacobian gives q - p directly
    for (int i = 0; i < n; ++i) {
      if (p[i] > 0) loss += double(p[i] * (std::log(p[i]) - logq[i]));
      grad[i] += scale / t * (std::exp(logq[i]) - p[i]);
    }
    return loss;
  }
  for (int i = 0; i < n; ++i) {
    const S q = std::exp(logq[i]);
    const S pi = std::max(p[i], tiny);
    switch (d) {
      case Divergence::kReverseKl:
        loss += double(q * (logq[i] - std::log(pi)));
        g[i] = logq[i] - std::log(pi) + 1;
        break;
      case Divergence::kSkewKl: {
        const S m = S(kSkewAlpha) * p[i] + S(1 - kSkewAlpha) * q;
        if (p[i] > 0) loss += double(p[i] * (std::log(p[i]) - std::log(m)));
        g[i] = -S(1 - kSkewAlpha) * p[i] / std::max(m, tiny);
        break;
      }
      case Divergence::kJsd: {
        const S m = S(0.5) * (p[i] + q);
        const S lm = std::log(std::max(m, tiny));
        if (p[i] > 0) loss += 0.5 * double(p[i] * (std::log(p[i]) - lm));
        loss += 0.5 * double(q * (logq[i] - lm));
        g[i] = S(0.5) * (logq[i] - lm);
        break;
      }
      case Divergence::kKl: break;
    }
  }
  // dD/dz_j = (1/t) q_j (g_j - sum_i q_i g_i)
  S qg = 0;
  for (int i = 0; i < n; ++i) qg += std::exp(logq[i]) * g[i];
  for (int i = 0; i < n; ++i) grad[i] += scale / t * std::exp(logq[i]) * (g[i] - qg);
  return loss;
}

template double cross_entropy<float>(const float*, int32_t, int, float*, float);
template double cross_entropy<double>(const double*, int32_t, int, double*, double);
template double divergence<float>(Divergence, const float*, const float*, int, float, float*, float);
template double divergence<double>(Divergence, const double*, const double*, int, double, double*, double);

}  // namespace kuai::train
