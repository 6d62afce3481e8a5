// `--compensate`: the least-squares mix of the kept columns. On a Gram matrix where a removed input is the
// sum of two kept ones the mix reproduces the removed column exactly; nothing cut gives no mix; on the
// real stories260K, compensated FFN and KV cuts have lower held-out perplexity than plain cuts.
#include "prune_test_util.h"
#include "tools/prune.h"
#include "tools/prune_compensate.h"

namespace kuai::tools::prune_test {
namespace {

// One layer, 2 heads of width 1 (no GQA), 3 FFN channels; x2 = x0 + x1 on every token.
struct Toy {
  Hparams h;
  Importance imp;
  Toy() {
    h.n_layer = 1, h.n_head = 2, h.n_head_kv = 2, h.head_dim = 1, h.n_ff = 3, h.n_embd = 2;
    imp.n_layer = 1, imp.n_head = 2, imp.n_head_kv = 2, imp.n_ff = 3;
    std::vector<double> g(9, 0.0);
    const double xs[][2] = {{1, 2}, {-1, 0.5}, {3, -2}, {0.25, 1}};
    for (const auto& x : xs) {
      const double v[3] = {x[0], x[1], x[0] + x[1]};
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) g[size_t(i * 3 + j)] += v[i] * v[j];
    }
    imp.ffn_gram = {g};
    imp.attn_gram = {{5, 1, 1, 4}};
  }
};

TEST(PruneCompensate, ARemovedChannelThatIsTheSumOfKeptOnesIsFoldedIntoThem) {
  Toy t;
  PrunePlan plan{{0}, {{0, 1}}, {{0, 1}}};
  auto c = compensate(t.h, t.imp, plan, 1e-9);
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_TRUE(c->attn_output[0].empty());  // every head kept
  const ColumnMix& m = c->ffn_down[0];
  ASSERT_EQ(m.in_cols, 3);
  ASSERT_EQ(m.out_cols, 2);
  const float want[3][2] = {{1, 0}, {0, 1}, {1, 1}};  // new row = [w0 + w2, w1 + w2]
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 2; ++j) EXPECT_NEAR(m.m[size_t(i * 2 + j)], want[i][j], 1e-5) << i << "," << j;
}

TEST(PruneCompensate, NothingCutGivesNoMixAndMissingGramMatricesAreAnError) {
  Toy t;
  auto c = compensate(t.h, t.imp, PrunePlan{{0}, {{0, 1}}, {{0, 1, 2}}});
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_TRUE(c->attn_output[0].empty());
  EXPECT_TRUE(c->ffn_down[0].empty());
  t.imp.ffn_gram.clear();
  auto e = compensate(t.h, t.imp, PrunePlan{{0}, {{0, 1}}, {{0, 1}}});
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().find("Gram"), std::string::npos) << e.error();
}

TEST(PruneCompensate, CompensatedCutsKeepHeldOutPerplexityLowerOnStories260K) {
  TempDir dir;
  std::string calib;
  for (uint64_t seed : {1, 2, 3, 4}) calib += model_text(stories(), seed, 160) + "\n\n";
  const std::string eval = model_text(stories(), 101, 160) + "\n\n" + model_text(stories(), 102, 160);
  auto ppl = [&](double ffn_keep, double heads_keep, bool compensate) {
    PruneOptions opt;
    opt.in_path = stories();
    opt.out_path = dir.file("pruned.gguf");
    opt.spec.ffn_keep = ffn_keep;
    opt.spec.heads_keep = heads_keep;
    opt.calib_text = calib;
    opt.eval_text = eval;
    opt.bench_reps = 0;
    opt.compensate = compensate;
    auto r = run_prune(opt);
    EXPECT_TRUE(r.ok()) << r.error();
    return r.ok() && r->after.perplexity ? *r->after.perplexity : 0.0;
  };
  const double ffn_plain = ppl(0.75, 1.0, false), ffn_comp = ppl(0.75, 1.0, true);
  EXPECT_GT(ffn_comp, 0);
  EXPECT_LT(ffn_comp, 0.95 * ffn_plain);
  const double kv_plain = ppl(1.0, 0.75, false), kv_comp = ppl(1.0, 0.75, true);
  EXPECT_GT(kv_comp, 0);
  EXPECT_LT(kv_comp, kv_plain);
}

}  // namespace
}  // namespace kuai::tools::prune_test
