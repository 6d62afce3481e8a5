#include "tools/prune_compensate.h"

#include <cmath>
#include <string>

#include "tools/prune_importance.h"
#include "tools/prune_plan.h"

namespace kuai::tools {

namespace {

// In place: the lower Cholesky factor L of the (n, n) symmetric positive definite a (a = L L^T).
bool cholesky(std::vector<double>& a, size_t n) {
  for (size_t j = 0; j < n; ++j) {
    double d = a[j * n + j];
    for (size_t k = 0; k < j; ++k) d -= a[j * n + k] * a[j * n + k];
    if (!(d > 0)) return false;
    d = std::sqrt(d);
    a[j * n + j] = d;
    for (size_t i = j + 1; i < n; ++i) {
      double s = a[i * n + j];
      for (size_t k = 0; k < j; ++k) s -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = s / d;
    }
  }
  return true;
}

// x = (L L^T)^-1 b for one right-hand side, in place.
void cholesky_solve(const std::vector<double>& l, size_t n, double* b) {
  for (size_t i = 0; i < n; ++i) {
    double s = b[i];
    for (size_t k = 0; k < i; ++k) s -= l[i * n + k] * b[k];
    b[i] = s / l[i * n + i];
  }
  for (size_t i = n; i-- > 0;) {
    double s = b[i];
    for (size_t k = i + 1; k < n; ++k) s -= l[k * n + i] * b[k];
    b[i] = s / l[i * n + i];
  }
}

// The mix of one projection: kept input columns `kept` (ascending) of `in_cols`.
engine::Result<ColumnMix> mix(const std::vector<double>& g, int64_t in_cols, const std::vector<int64_t>& kept,
                              double damp) {
  const size_t n = size_t(in_cols), k = kept.size();
  std::vector<double> gkk(k * k);
  double diag = 0;
  for (size_t a = 0; a < k; ++a) {
    for (size_t b = 0; b < k; ++b) gkk[a * k + b] = g[size_t(kept[a]) * n + size_t(kept[b])];
    diag += gkk[a * k + a];
  }
  const double lambda = std::max(damp * diag / double(std::max<size_t>(k, 1)), 1e-12);
  for (size_t a = 0; a < k; ++a) gkk[a * k + a] += lambda;
  if (!cholesky(gkk, k)) return engine::make_error("compensation: the kept inputs' Gram matrix is singular");
  // Row i of the mix: (G[K, K] + lambda I)^-1 G[K, i] (G symmetric).
  ColumnMix m{in_cols, int64_t(k), std::vector<float>(n * k)};
  std::vector<double> col(k);
  for (size_t i = 0; i < n; ++i) {
    for (size_t a = 0; a < k; ++a) col[a] = g[size_t(kept[a]) * n + i];
    cholesky_solve(gkk, k, col.data());
    for (size_t a = 0; a < k; ++a) m.m[i * k + a] = float(col[a]);
  }
  return m;
}

}  // namespace

uint64_t compensation_gram_bytes(const engine::model::Hparams& h) {
  const uint64_t q = uint64_t(h.q_dim()), f = uint64_t(h.n_ff);
  return uint64_t(h.n_layer) * (q * q + f * f) * sizeof(double);
}

engine::Result<Compensation> compensate(const engine::model::Hparams& h, const Importance& imp, const PrunePlan& plan,
                                        double damp) {
  if (imp.attn_gram.size() != size_t(h.n_layer) || imp.ffn_gram.size() != size_t(h.n_layer))
    return engine::make_error("compensation: the importance pass collected no Gram matrices");
  const int64_t group_cols = int64_t(h.n_head / h.n_head_kv) * h.head_dim;
  Compensation c;
  c.attn_output.resize(plan.layers.size());
  c.ffn_down.resize(plan.layers.size());
  for (size_t ni = 0; ni < plan.layers.size(); ++ni) {
    const size_t l = size_t(plan.layers[ni]);
    if (plan.groups[ni].size() < size_t(h.n_head_kv)) {
      auto m = mix(imp.attn_gram[l], h.q_dim(), block_indices(plan.groups[ni], group_cols), damp);
      if (!m) return engine::make_error("layer " + std::to_string(l) + " attn_output: " + m.error());
      c.attn_output[ni] = std::move(m).value();
    }
    if (plan.channels[ni].size() < size_t(h.n_ff)) {
      auto m = mix(imp.ffn_gram[l], h.n_ff, block_indices(plan.channels[ni], 1), damp);
      if (!m) return engine::make_error("layer " + std::to_string(l) + " ffn_down: " + m.error());
      c.ffn_down[ni] = std::move(m).value();
    }
  }
  return c;
}

}  // namespace kuai::tools
