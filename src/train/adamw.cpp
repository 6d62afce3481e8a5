#include "train/adamw.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace kuai::train {

double lr_at(const AdamWConfig& c, int step, int total) {
  if (c.warmup > 0 && step < c.warmup) return double(c.lr) * double(step + 1) / double(c.warmup);
  const int decay_steps = std::max(1, total - c.warmup);
  const double progress = std::clamp(double(step - c.warmup) / double(decay_steps), 0.0, 1.0);
  const double min_lr = double(c.lr) * double(c.min_lr_ratio);
  return min_lr + 0.5 * (double(c.lr) - min_lr) * (1.0 + std::cos(std::numbers::pi * progress));
}

double clip_grad_norm(float* g, size_t n, double max_norm) {
  double ss = 0;
  for (size_t i = 0; i < n; ++i) ss += double(g[i]) * double(g[i]);
  const double norm = std::sqrt(ss);
  if (max_norm > 0 && norm > max_norm) {
    const float s = float(max_norm / norm);
    for (size_t i = 0; i < n; ++i) g[i] *= s;
  }
  return norm;
}

AdamW::AdamW(const AdamWConfig& c, std::vector<uint8_t> decay)
    : m(decay.size(), 0.0f), v(decay.size(), 0.0f), c_(c), decay_(std::move(decay)) {}

void AdamW::step(float* p, const float* g, double lr) {
  ++t;
  const double bc1 = 1.0 - std::pow(double(c_.beta1), double(t));
  const double bc2 = 1.0 - std::pow(double(c_.beta2), double(t));
  const float step_size = float(lr / bc1);
  const float inv_bc2_sqrt = float(1.0 / std::sqrt(bc2));
  const float b1 = c_.beta1, b2 = c_.beta2, eps = c_.eps;
  const float wd = float(lr) * c_.weight_decay;
  for (size_t i = 0; i < m.size(); ++i) {
    m[i] = b1 * m[i] + (1 - b1) * g[i];
    v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
    if (decay_[i]) p[i] -= wd * p[i];
    p[i] -= step_size * m[i] / (std::sqrt(v[i]) * inv_bc2_sqrt + eps);
  }
}

}  // namespace kuai::train
