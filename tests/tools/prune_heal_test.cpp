// `--heal-steps`: distilling the pruned stories260K from the original lowers held-out perplexity, and the
// healed file (narrower heads: n_head * head_dim < n_embd) loads and generates in kuai.
#include "prune_test_util.h"
#include "tools/prune.h"

namespace kuai::tools::prune_test {
namespace {

// 3 of 4 KV groups (6 heads of 8 in a 64-wide model) and 75% of FFN channels, healed for 30 steps on
// the calibration text; perplexity on held-out text, no speed runs.
PruneOptions healed_cut(const TempDir& dir) {
  std::string calib;
  for (uint64_t seed : {1, 2, 3, 4}) calib += model_text(stories(), seed, 160) + "\n\n";
  PruneOptions opt;
  opt.in_path = stories();
  opt.out_path = dir.file("healed.gguf");
  opt.spec.heads_keep = 0.75;
  opt.spec.ffn_keep = 0.75;
  opt.calib_text = calib;
  opt.eval_text = model_text(stories(), 101, 160) + "\n\n" + model_text(stories(), 102, 160);
  opt.bench_reps = 0;
  opt.heal.steps = 30;
  opt.heal.text = calib;
  opt.heal.batch = 4;
  opt.heal.seq_len = 32;
  opt.heal.lr = 3e-3f;
  return opt;
}

TEST(PruneHeal, HealingLowersHeldOutPerplexityAndTheFileLoads) {
  TempDir dir;
  PruneOptions opt = healed_cut(dir);
  opt.spec.drop_layers = 1;
  auto r = run_prune(opt);
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_TRUE(r->healed.has_value());
  ASSERT_TRUE(r->after.perplexity && r->healed->perplexity && r->before.perplexity);
  EXPECT_EQ(r->heal.steps, 30);
  EXPECT_LT(r->heal.last_loss, r->heal.first_loss);
  EXPECT_LT(*r->healed->perplexity, 0.9 * *r->after.perplexity)
      << "original " << *r->before.perplexity << ", pruned " << *r->after.perplexity;
  EXPECT_EQ(r->healed->params, r->after.params);  // same shape, only the values changed
  EXPECT_FALSE(fs::exists(opt.out_path + ".pruned.tmp"));

  auto lm = load_model(opt.out_path);
  ASSERT_TRUE(lm.ok()) << lm.error();
  const auto& h = lm->model->hparams();
  EXPECT_EQ(h.n_layer, 4);
  EXPECT_EQ(h.n_head, 6);
  EXPECT_EQ(h.n_head_kv, 3);
  EXPECT_LT(h.n_head * h.head_dim, h.n_embd);
  engine::ThreadPool pool(2);
  GenerateOptions g;
  g.n_predict = 16;
  g.stop_at_eog = false;
  auto out = generate(*lm, "Once upon a time", g, pool);
  ASSERT_TRUE(out.ok()) << out.error();
  EXPECT_FALSE(out->text.empty());
}

// `--heal-hidden`: with heads and FFN channels cut (layers pair one to one) healing also matches the
// original's residual stream and still lowers perplexity; with a layer dropped it is a clear error.
TEST(PruneHeal, HiddenStateHealingLowersPerplexityAndNeedsTheSameLayers) {
  TempDir dir;
  PruneOptions opt = healed_cut(dir);
  opt.heal.hidden = 10;
  auto r = run_prune(opt);
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_TRUE(r->healed && r->healed->perplexity && r->after.perplexity);
  EXPECT_LT(*r->healed->perplexity, 0.9 * *r->after.perplexity);
  opt.spec.drop_layers = 1;
  auto dropped = run_prune(opt);
  ASSERT_FALSE(dropped.ok());
  EXPECT_NE(dropped.error().find("the teacher's layers and width"), std::string::npos) << dropped.error();
}

}  // namespace
}  // namespace kuai::tools::prune_test
