#include "engine/sample/sampler.h"

#include <gtest/gtest.h>

#include <map>
#include <vector>

namespace kuai::engine::sample {
namespace {

std::vector<float> logits_of(std::initializer_list<float> v) { return std::vector<float>(v); }

TEST(Sampler, GreedyPicksArgmaxLowestIdOnTies) {
  SamplerParams p;
  p.temperature = 0;
  Sampler s(p);
  auto l = logits_of({1, 5, 5, 2});
  EXPECT_EQ(s.sample(l), 1);
}

TEST(Sampler, SameSeedSameOutputDifferentSeedDiffers) {
  SamplerParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0;
  auto run = [&](uint64_t seed) {
    p.seed = seed;
    Sampler s(p);
    std::vector<int32_t> out;
    for (int i = 0; i < 64; ++i) {
      std::vector<float> l(16);
      for (int j = 0; j < 16; ++j) l[size_t(j)] = float(j % 5);
      out.push_back(s.sample(l));
    }
    return out;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
}

TEST(Sampler, TopKOneIsGreedy) {
  SamplerParams p;
  p.temperature = 5.0f;
  p.top_k = 1;
  Sampler s(p);
  for (int i = 0; i < 20; ++i) {
    auto l = logits_of({0.1f, 0.3f, 0.2f});
    EXPECT_EQ(s.sample(l), 1);
  }
}

TEST(Sampler, TopPKeepsOnlyTheNucleus) {
  SamplerParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.min_p = 0;
  p.top_p = 0.5f;  // token 0 has p ~ 0.84: the nucleus is {0}
  Sampler s(p);
  for (int i = 0; i < 50; ++i) {
    auto l = logits_of({3.0f, 1.0f, 0.5f, 0.0f});
    EXPECT_EQ(s.sample(l), 0);
  }
}

TEST(Sampler, MinPDropsUnlikelyTokens) {
  SamplerParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.5f;  // p(1)/p(0) = e^-0.1 survives; p(2)/p(0) = e^-5 does not
  Sampler s(p);
  std::map<int32_t, int> seen;
  for (int i = 0; i < 400; ++i) {
    auto l = logits_of({5.0f, 4.9f, 0.0f});
    ++seen[s.sample(l)];
  }
  EXPECT_EQ(seen.count(2), 0u);
  EXPECT_GT(seen[0], 100);
  EXPECT_GT(seen[1], 100);
}

TEST(Sampler, TemperatureDistributionIsRight) {
  SamplerParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0;
  p.seed = 7;
  Sampler s(p);
  int ones = 0;
  const int n = 4000;
  for (int i = 0; i < n; ++i) {
    auto l = logits_of({0.0f, std::log(3.0f)});  // p(1) = 0.75
    ones += s.sample(l) == 1;
  }
  EXPECT_NEAR(double(ones) / n, 0.75, 0.03);
}

TEST(Sampler, PenaltiesLowerRecentTokens) {
  SamplerParams p;
  p.temperature = 0;
  p.repeat_penalty = 2.0f;
  Sampler s(p);
  s.accept(0);
  auto l = logits_of({3.0f, 2.0f});  // 3 / 2 = 1.5 < 2
  EXPECT_EQ(s.sample(l), 1);
  EXPECT_FLOAT_EQ(l[0], 1.5f);

  SamplerParams q;
  q.temperature = 0;
  q.frequency_penalty = 0.5f;
  q.presence_penalty = 0.25f;
  Sampler f(q);
  f.accept(1);
  f.accept(1);
  auto m = logits_of({0.0f, 1.0f, -5.0f});
  f.sample(m);
  EXPECT_FLOAT_EQ(m[1], 1.0f - 2 * 0.5f - 0.25f);
  EXPECT_FLOAT_EQ(m[0], 0.0f);
}

TEST(Sampler, PenaltyWindowForgetsOldTokens) {
  SamplerParams p;
  p.temperature = 0;
  p.repeat_penalty = 10.0f;
  p.penalty_last_n = 2;
  Sampler s(p);
  s.accept(0);
  s.accept(1);
  s.accept(2);  // 0 falls out of the window
  auto l = logits_of({3.0f, 2.9f, 2.8f});
  EXPECT_EQ(s.sample(l), 0);
}

}  // namespace
}  // namespace kuai::engine::sample
