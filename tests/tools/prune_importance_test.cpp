// Importance measures and plans: deterministic, shaped like the model, consistent with the definitions
// (block influence = 1 - cosine of neighbouring boundaries; angular distance of one block), and the
// plan follows the scores; bad specs are one-line errors.
#include "tools/prune_importance.h"

#include <algorithm>
#include <cmath>

#include "engine/tokenizer/tokenizer.h"
#include "prune_test_util.h"
#include "tools/prune_plan.h"

namespace kuai::tools::prune_test {
namespace {

// With `taylor`, the Taylor scores too.
Importance measure(const std::string& model, const std::string& text, bool taylor = false) {
  auto lm = load_model(model);
  EXPECT_TRUE(lm.ok());
  engine::ThreadPool pool(2);
  auto ids = lm->tokenizer->encode(text, true, false);
  CalibOptions opt;
  opt.n_ctx = 64;
  auto imp = measure_importance(*lm->model, ids, opt, pool);
  EXPECT_TRUE(imp.ok()) << (imp.ok() ? "" : imp.error());
  if (!imp) return Importance{};
  if (taylor) {
    EXPECT_TRUE(add_taylor_importance(*lm->file, ids, opt, *imp).ok());
  }
  return std::move(imp).value();
}

TEST(PruneImportance, IsDeterministicAndShapedLikeTheModel) {
  const std::string text = model_text(stories(), 1);
  const Importance a = measure(stories(), text), b = measure(stories(), text);
  ASSERT_EQ(a.n_layer, 5);
  EXPECT_EQ(a.n_head_kv, 4);
  EXPECT_GT(a.n_tokens, 100);
  EXPECT_EQ(a.boundary_cos, b.boundary_cos);
  EXPECT_EQ(a.group_activation, b.group_activation);
  EXPECT_EQ(a.group_fluctuation, b.group_fluctuation);
  EXPECT_EQ(a.channel_activation, b.channel_activation);
  EXPECT_EQ(a.channel_fluctuation, b.channel_fluctuation);
  EXPECT_EQ(a.group_activation.size(), 5u * 4u);
  EXPECT_EQ(a.channel_activation.size(), 5u * 172u);
  for (int l = 0; l < 5; ++l) {
    EXPECT_GT(a.block_influence(l), 0.0);
    EXPECT_LT(a.block_influence(l), 1.0);
    EXPECT_NEAR(a.angular_distance(l, 1), std::acos(1.0 - a.block_influence(l)) / M_PI, 1e-12);
  }
  for (double v : a.channel_activation) EXPECT_GT(v, 0.0);
  // another calibration text gives other numbers (the measure reads the activations)
  const Importance c = measure(stories(), model_text(stories(), 2));
  EXPECT_NE(a.channel_activation, c.channel_activation);
}

// Taylor scores (|w * dL/dw| from the training core's backward) are deterministic, positive, and a KV
// group whose attn_output columns are zero scores exactly 0 (no weight of it reaches the loss), so it is
// the one a plan drops; an FFN channel whose ffn_down column is zero likewise.
TEST(PruneImportance, TaylorIsDeterministicAndZeroForAGroupThatReachesNothing) {
  TempDir dir;
  const int group = 2, hd = 8, channel = 17;  // stories260K: 8 heads of 8, 4 KV groups, 172 channels
  copy_edited(stories(), dir.file("zeroed.gguf"), [&](const std::string& name, int64_t rows, int64_t cols, float* d) {
    if (name.find("attn_output.weight") != std::string::npos)
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = group * 2 * hd; c < (group + 1) * 2 * hd; ++c) d[r * cols + c] = 0.0f;
    if (name.find("ffn_down.weight") != std::string::npos)
      for (int64_t r = 0; r < rows; ++r) d[r * cols + channel] = 0.0f;
  });
  const std::string text = model_text(stories(), 1);
  const Importance a = measure(dir.file("zeroed.gguf"), text, true), b = measure(dir.file("zeroed.gguf"), text, true);
  ASSERT_EQ(a.group_taylor.size(), 5u * 4u);
  ASSERT_EQ(a.channel_taylor.size(), 5u * 172u);
  EXPECT_EQ(a.group_taylor, b.group_taylor);
  EXPECT_EQ(a.channel_taylor, b.channel_taylor);
  for (int l = 0; l < 5; ++l) {
    for (int g = 0; g < 4; ++g) {
      const double v = a.group_taylor[size_t(l * 4 + g)];
      if (g == group) EXPECT_EQ(v, 0.0) << "layer " << l;
      else EXPECT_GT(v, 0.0) << "layer " << l << " group " << g;
    }
    EXPECT_EQ(a.channel_taylor[size_t(l * 172 + channel)], 0.0) << "layer " << l;
  }
  PruneSpec spec;
  spec.heads_keep = 0.75;
  spec.width_metric = WidthMetric::kTaylor;
  engine::model::Hparams h;
  h.n_layer = 5, h.n_head = 8, h.n_head_kv = 4, h.n_ff = 172, h.n_embd = 64;
  auto plan = plan_prune(h, &a, spec);
  ASSERT_TRUE(plan.ok()) << (plan.ok() ? "" : plan.error());
  for (const auto& kept : plan->groups) EXPECT_EQ(std::count(kept.begin(), kept.end(), group), 0) << "the dead group goes";
}

TEST(PrunePlan, FollowsTheScores) {
  engine::model::Hparams h;
  h.n_layer = 4, h.n_head = 4, h.n_head_kv = 2, h.n_ff = 4, h.arch_name = "llama";
  Importance imp;
  imp.n_layer = 4, imp.n_head = 4, imp.n_head_kv = 2, imp.n_ff = 4;
  // boundary cosines: layer 2 changes least (cos(2,3) highest), layers 1-2 together least of pairs
  imp.boundary_cos.assign(25, 0.5);
  for (int i = 0; i < 5; ++i) imp.boundary_cos[size_t(i * 5 + i)] = 1.0;
  auto set = [&](int i, int j, double v) { imp.boundary_cos[size_t(i * 5 + j)] = imp.boundary_cos[size_t(j * 5 + i)] = v; };
  set(0, 1, 0.6), set(1, 2, 0.8), set(2, 3, 0.9), set(3, 4, 0.7), set(1, 3, 0.85), set(2, 4, 0.6), set(0, 2, 0.3);
  imp.group_activation = {1, 2, 2, 1, 5, 5, 0, 3};
  imp.group_fluctuation = {2, 1, 1, 2, 1, 2, 3, 0};
  imp.channel_activation = {4, 3, 2, 1, 1, 2, 3, 4, 1, 1, 1, 1, 0, 9, 0, 9};
  imp.channel_fluctuation = imp.channel_activation;
  PruneSpec spec;
  spec.drop_layers = 1;
  spec.heads_keep = 0.5;
  spec.ffn_keep = 0.5;
  auto p = plan_prune(h, &imp, spec);
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p->layers, (std::vector<int>{0, 1, 3}));
  EXPECT_EQ(p->groups, (std::vector<std::vector<int>>{{1}, {0}, {1}}));
  EXPECT_EQ(p->channels, (std::vector<std::vector<int>>{{0, 1}, {2, 3}, {1, 3}}));
  spec.drop_layers = 2;
  spec.layer_metric = LayerMetric::kAngular;
  spec.width_metric = WidthMetric::kFluctuation;
  p = plan_prune(h, &imp, spec);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->layers, (std::vector<int>{0, 3}));  // blocks 1-2: cos(1, 3) = 0.85 is the closest pair two apart
  EXPECT_EQ(p->groups, (std::vector<std::vector<int>>{{0}, {0}}));
}

TEST(PrunePlan, BadSpecsAreOneLineErrors) {
  engine::model::Hparams h;
  h.n_layer = 5, h.n_head = 8, h.n_head_kv = 4, h.n_ff = 172, h.arch_name = "llama";
  auto err = [&](PruneSpec s) {
    auto st = check_prune_spec(h, s);
    EXPECT_FALSE(st.ok());
    return st.ok() ? std::string() : st.error();
  };
  PruneSpec s;
  EXPECT_TRUE(check_prune_spec(h, s).ok());
  s.heads_keep = 0;
  EXPECT_NE(err(s).find("--heads-keep"), std::string::npos);
  s.heads_keep = 1.5;
  EXPECT_NE(err(s).find("(0, 1]"), std::string::npos);
  s = {};
  s.ffn_keep = -0.1;
  EXPECT_NE(err(s).find("--ffn-keep"), std::string::npos);
  s = {};
  s.drop_layers = 5;
  EXPECT_NE(err(s).find("5 layers"), std::string::npos);
  s = {};
  s.drop_layer_ids = {1, 7};
  EXPECT_NE(err(s).find("layer 7 does not exist"), std::string::npos);
  s = {};
  s.heads_keep = 0.1;  // 0.4 of a group
  EXPECT_NE(err(s).find("keeps no KV group"), std::string::npos);
  // qwen2: layers and FFN channels, never heads (llama.cpp's qwen2 loader); other architectures are
  // refused where a file is read (PruneCli.AnotherArchitectureIsRefused).
  h.arch = engine::model::Arch::kQwen2, h.arch_name = "qwen2";
  EXPECT_TRUE(check_prune_spec(h, PruneSpec{}).ok());
  s = {};
  s.heads_keep = 0.75;
  const std::string heads = err(s);
  EXPECT_NE(heads.find("keeps all its heads"), std::string::npos);
  EXPECT_EQ(heads.find('\n'), std::string::npos);
  h.arch = engine::model::Arch::kLlama, h.arch_name = "llama";
  PruneSpec needs;
  needs.ffn_keep = 0.5;
  EXPECT_FALSE(plan_prune(h, nullptr, needs).ok());
}

}  // namespace
}  // namespace kuai::tools::prune_test
