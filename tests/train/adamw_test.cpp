#include "train/adamw.h"

#include <gtest/gtest.h>

#include <cmath>

namespace kuai::train {
namespace {

TEST(TrainAdamW, WarmupThenCosine) {
  AdamWConfig c;
  c.lr = 1.0f;
  c.warmup = 4;
  c.min_lr_ratio = 0.1f;
  EXPECT_DOUBLE_EQ(lr_at(c, 0, 104), 0.25);
  EXPECT_DOUBLE_EQ(lr_at(c, 3, 104), 1.0);
  EXPECT_NEAR(lr_at(c, 4, 104), 1.0, 1e-12);
  EXPECT_NEAR(lr_at(c, 54, 104), 0.55, 1e-6);  // halfway: (max + min) / 2
  EXPECT_NEAR(lr_at(c, 104, 104), 0.1, 1e-6);
}

TEST(TrainAdamW, ClipScalesToTheGlobalNorm) {
  float g[] = {3, 4};
  EXPECT_DOUBLE_EQ(clip_grad_norm(g, 2, 1.0), 5.0);
  EXPECT_NEAR(g[0], 0.6f, 1e-6);
  EXPECT_NEAR(g[1], 0.8f, 1e-6);
  float h[] = {0.3f, 0.4f};
  clip_grad_norm(h, 2, 1.0);
  EXPECT_FLOAT_EQ(h[0], 0.3f);  // under the cap: untouched
}

TEST(TrainAdamW, FirstStepIsLrTimesSignAndDecayIsDecoupled) {
  AdamWConfig c;
  c.weight_decay = 0.5f;
  AdamW opt(c, {1, 0});
  float p[] = {2.0f, 2.0f};
  const float g[] = {0.01f, -3.0f};
  opt.step(p, g, 0.1);
  // bias-corrected first step: m / sqrt(v) = sign(g); decay only on the first: p -= lr * wd * p
  EXPECT_NEAR(p[0], 2.0f - 0.1f * 0.5f * 2.0f - 0.1f, 1e-5);
  EXPECT_NEAR(p[1], 2.0f + 0.1f, 1e-5);
  EXPECT_EQ(opt.t, 1);
}

}  // namespace
}  // namespace kuai::train
