// The whole model's backward against float64 finite differences on a tiny shape (tied and untied),
// and the float model against the double one.
#include "train/model.h"

#include "grad_check.h"
#include "train/loss.h"

namespace kuai::train {
namespace {

using test::check_gradient;
using test::random_vec;

ModelConfig tiny(bool tied) {
  ModelConfig c;
  c.n_vocab = 11;
  c.n_embd = 8;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_head_kv = 2;
  c.n_ff = 12;
  c.n_ctx = 8;
  c.tied = tied;
  return c;
}

double model_loss(const Model<double>& m, const std::vector<double>& p, const std::vector<int32_t>& tok,
                  Activations<double>& a, std::vector<double>* dlogits) {
  const int n = int(tok.size()) - 1, V = m.config().n_vocab;
  m.forward(p.data(), tok.data(), n, a);
  std::vector<double> scratch(size_t(n) * V);
  double l = 0;
  for (int t = 0; t < n; ++t)
    l += cross_entropy(a.logits.data() + size_t(t) * V, tok[size_t(t) + 1], V,
                       (dlogits ? dlogits->data() : scratch.data()) + size_t(t) * V, 1.0 / n);
  return l / n;
}

TEST(TrainModel, WholeModelBackwardMatchesFiniteDifferences) {
  for (bool tied : {false, true}) {
    const ModelConfig c = tiny(tied);
    ASSERT_TRUE(c.check().ok());
    Model<double> m(c);
    const auto p = random_vec(m.layout().n_params, 21, 0.5);
    const std::vector<int32_t> tok = {1, 5, 3, 9, 0, 10, 5, 2};
    Activations<double> a;
    std::vector<double> dlogits(size_t(tok.size() - 1) * c.n_vocab), g(p.size());
    model_loss(m, p, tok, a, &dlogits);
    m.backward(p.data(), g.data(), tok.data(), dlogits.data(), a);
    Activations<double> a2;
    check_gradient(p, g, [&](const std::vector<double>& pp) { return model_loss(m, pp, tok, a2, nullptr); },
                   tied ? "model (tied)" : "model", 1e-6, 1e-5, 2000);
  }
}

// A pruned model's shape: fewer heads of the same width, n_head * head_dim < n_embd (GGUF key_length).
TEST(TrainModel, BackwardMatchesFiniteDifferencesWithNarrowHeads) {
  ModelConfig c = tiny(false);
  c.n_head = 3, c.n_head_kv = 1, c.n_head_dim = 2;  // q 6 wide, kv 2, n_embd 8
  ASSERT_TRUE(c.check().ok()) << c.check().error();
  ASSERT_EQ(c.q_dim(), 6);
  Model<double> m(c);
  const auto p = random_vec(m.layout().n_params, 23, 0.5);
  const std::vector<int32_t> tok = {2, 7, 3, 9, 1, 10, 4, 6};
  Activations<double> a, a2;
  std::vector<double> dlogits(size_t(tok.size() - 1) * c.n_vocab), g(p.size());
  model_loss(m, p, tok, a, &dlogits);
  m.backward(p.data(), g.data(), tok.data(), dlogits.data(), a);
  check_gradient(p, g, [&](const std::vector<double>& pp) { return model_loss(m, pp, tok, a2, nullptr); },
                 "model (narrow heads)", 1e-6, 1e-5, 2000);
}

// A loss on the residual stream itself (hidden-state distillation's kind): backward's dresid path
// against finite differences of sum_l <R_l, x_l> + the cross-entropy.
TEST(TrainModel, ResidualStreamGradientMatchesFiniteDifferences) {
  const ModelConfig c = tiny(false);
  Model<double> m(c);
  const auto p = random_vec(m.layout().n_params, 25, 0.5);
  const std::vector<int32_t> tok = {3, 1, 4, 1, 5, 9, 2, 6};
  const int n = int(tok.size()) - 1;
  const size_t nE = size_t(n) * c.n_embd;
  auto R = random_vec((c.n_layer + 1) * nE, 27, 1.0);
  std::fill(R.begin(), R.begin() + std::ptrdiff_t(nE), 0.0);  // row 0 (the embeddings) is not read
  auto loss = [&](const std::vector<double>& pp, Activations<double>& a, std::vector<double>* dlogits) {
    double l = model_loss(m, pp, tok, a, dlogits);
    for (size_t i = nE; i < R.size(); ++i) l += R[i] * a.x[i];
    return l;
  };
  Activations<double> a, a2;
  std::vector<double> dlogits(size_t(n) * c.n_vocab), g(p.size());
  loss(p, a, &dlogits);
  m.backward(p.data(), g.data(), tok.data(), dlogits.data(), a, R.data());
  check_gradient(p, g, [&](const std::vector<double>& pp) { return loss(pp, a2, nullptr); }, "model (residual loss)",
                 1e-6, 1e-5, 2000);
}

TEST(TrainModel, FloatForwardMatchesDouble) {
  const ModelConfig c = tiny(false);
  Model<double> md(c);
  Model<float> mf(c);
  const auto p = random_vec(md.layout().n_params, 22, 0.5);
  std::vector<float> pf(p.begin(), p.end());
  const std::vector<int32_t> tok = {1, 5, 3, 9, 0, 10, 5};
  Activations<double> ad;
  Activations<float> af;
  md.forward(p.data(), tok.data(), int(tok.size()), ad);
  mf.forward(pf.data(), tok.data(), int(tok.size()), af);
  for (size_t i = 0; i < tok.size() * size_t(c.n_vocab); ++i) EXPECT_NEAR(af.logits[i], ad.logits[i], 1e-4);
}

TEST(TrainModel, ConfigParsing) {
  ModelConfig base;
  base.n_vocab = 512;
  auto c = parse_model_config("n_layer=2,n_embd=64,n_head=8,n_head_kv=4,n_ff=172,ctx=128", base);
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->n_layer, 2);
  EXPECT_EQ(c->kv_dim(), 32);
  EXPECT_FALSE(parse_model_config("n_layer=2,n_embd=64,n_head=6", base).ok());  // 64 % 6
  auto narrow = parse_model_config("n_layer=2,n_embd=64,n_head=6,n_head_kv=3,head_dim=8,n_ff=172", base);
  ASSERT_TRUE(narrow.ok()) << narrow.error();
  EXPECT_EQ(narrow->q_dim(), 48);
  EXPECT_EQ(narrow->kv_dim(), 24);
  EXPECT_FALSE(parse_model_config("n_layer=2,n_embd=64,n_head=8,head_dim=7", base).ok());  // odd
  EXPECT_FALSE(parse_model_config("n_layers=2", base).ok());
  EXPECT_FALSE(parse_model_config("n_layer=x", base).ok());
}

}  // namespace
}  // namespace kuai::train
