// AdamW (Loshchilov & Hutter: decoupled weight decay, bias-corrected moments), the learning-rate
// schedule (linear warm-up, then cosine decay to min_lr_ratio * lr) and global-norm gradient clipping.
// Threads: one optimizer belongs to one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kuai::train {

struct AdamWConfig {
  float lr = 1e-3f;
  float beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f;
  float weight_decay = 0.1f;   // applied to matrices only (not to norm weights)
  float clip = 1.0f;           // global gradient norm cap; <= 0: off
  int warmup = 10;             // steps of linear warm-up
  float min_lr_ratio = 0.1f;   // the cosine ends at lr * min_lr_ratio
};

// Learning rate of step (0-based) out of total.
double lr_at(const AdamWConfig& c, int step, int total);

// Scales grads so their global L2 norm is at most max_norm (when max_norm > 0); returns the norm before.
double clip_grad_norm(float* grads, size_t n, double max_norm);

class AdamW {
 public:
  // decay[i]: whether parameter i gets weight decay.
  AdamW(const AdamWConfig& c, std::vector<uint8_t> decay);
  // One update with learning rate lr (t_ counts updates for the bias correction).
  void step(float* params, const float* grads, double lr);

  const AdamWConfig& config() const { return c_; }
  int64_t t = 0;           // updates done
  std::vector<float> m, v;  // first and second moments, one per parameter

 private:
  AdamWConfig c_;
  std::vector<uint8_t> decay_;
};

}  // namespace kuai::train
