// The training loop: the loss falls on a fixed batch; a stopped run resumed from its checkpoint
// continues with the same losses bit for bit; a NaN stops with a clear error; distillation brings a
// student toward its teacher; a trained model written to GGUF gives the engine the same logits.
#include "train/trainer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <unistd.h>

#include "engine/gguf/gguf_file.h"
#include "engine/model/llama_model.h"
#include "engine/threads/thread_pool.h"
#include "train/model.h"

namespace kuai::train {
namespace {

namespace fs = std::filesystem;

ModelConfig small(int n_layer = 2) {
  ModelConfig c;
  c.n_vocab = 32;
  c.n_embd = 16;
  c.n_layer = n_layer;
  c.n_head = 4;
  c.n_head_kv = 2;
  c.n_ff = 24;
  c.n_ctx = 32;
  return c;
}

Corpus pattern_corpus() {
  Corpus c;
  std::vector<int32_t> s;
  for (int i = 0; i < 200; ++i) s.push_back(int32_t((i * 7 + (i / 5)) % 32));
  c.seqs.push_back(s);
  return c;
}

std::string temp(const std::string& name) {
  return (fs::temp_directory_path() / ("kuai_train_" + std::to_string(::getpid()) + "_" + name)).string();
}

TEST(Trainer, LossFallsOnAFixedBatch) {
  engine::ThreadPool pool(2);
  Params p = init_params(small(), 1);
  const Corpus all = pattern_corpus();
  Corpus one;
  one.seqs.push_back(std::vector<int32_t>(all.seqs[0].begin(), all.seqs[0].begin() + 17));
  TrainOptions opt;
  opt.steps = 60;
  opt.batch = 2;
  opt.seq_len = 16;
  opt.adamw.lr = 1e-2f;
  opt.adamw.warmup = 5;
  auto r = train(p, one, opt, pool);
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_EQ(r->losses.size(), 60u);
  EXPECT_NEAR(r->losses.front(), std::log(32.0), 0.3);  // random init: about uniform
  EXPECT_LT(r->losses.back(), 0.2 * r->losses.front());
}

TEST(Trainer, GradientAccumulationEqualsOneBigBatch) {
  engine::ThreadPool pool(2);
  TrainOptions opt;
  opt.steps = 1;
  opt.batch = 4;
  opt.seq_len = 8;
  Params a = init_params(small(), 2), b = a;
  const Corpus all = pattern_corpus();
  Corpus one;
  one.seqs.push_back(std::vector<int32_t>(all.seqs[0].begin(), all.seqs[0].begin() + 9));
  ASSERT_TRUE(train(a, one, opt, pool).ok());
  opt.batch = 2;
  opt.accum = 2;  // same single window everywhere, so the mean gradient is the same
  ASSERT_TRUE(train(b, one, opt, pool).ok());
  for (size_t i = 0; i < a.data.size(); ++i) ASSERT_NEAR(a.data[i], b.data[i], 1e-6) << i;
}

TEST(Trainer, StopThenResumeContinuesTheSameLossCurve) {
  engine::ThreadPool pool(2);
  const Corpus data = pattern_corpus();
  TrainOptions opt;
  opt.steps = 8;
  opt.batch = 4;
  opt.seq_len = 16;
  opt.adamw.lr = 5e-3f;
  opt.adamw.warmup = 2;
  Params whole = init_params(small(), 3);
  auto full = train(whole, data, opt, pool);
  ASSERT_TRUE(full.ok()) << full.error();

  const std::string ck = temp("resume.ckpt");
  std::atomic<bool> stop{false};
  opt.checkpoint_path = ck;
  opt.stop = &stop;
  Params part = init_params(small(), 3);
  auto first = train(part, data, opt, pool, [&](const StepInfo& s) {
    if (s.step == 3) stop = true;
  });
  ASSERT_FALSE(first.ok());
  EXPECT_NE(first.error().find("stopped at step 3"), std::string::npos) << first.error();
  stop = false;
  opt.resume = true;
  Params resumed = init_params(small(), 99);  // overwritten by the checkpoint
  auto rest = train(resumed, data, opt, pool);
  ASSERT_TRUE(rest.ok()) << rest.error();
  ASSERT_EQ(rest->losses.size(), 5u);
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(rest->losses[i], full->losses[i + 3]) << i;
  EXPECT_EQ(resumed.data, whole.data);

  opt.steps = 9;  // other options: refused
  EXPECT_FALSE(train(resumed, data, opt, pool).ok());
  fs::remove(ck);
}

TEST(Trainer, NanLossStopsWithTheLastCheckpointNamed) {
  engine::ThreadPool pool(1);
  Params p = init_params(small(), 4);
  p.data[5] = std::nanf("");
  TrainOptions opt;
  opt.steps = 2;
  opt.seq_len = 8;
  auto r = train(p, pattern_corpus(), opt, pool);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("NaN"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("checkpoint"), std::string::npos) << r.error();
  Corpus empty;
  EXPECT_FALSE(train(p, empty, opt, pool).ok());
}

TEST(Trainer, WrittenModelGivesTheEngineTheSameLogits) {
  // untied, tied, and a pruned-head shape (2 heads of 4: n_head * head_dim = 8 < n_embd = 16)
  for (int shape : {0, 1, 2}) {
    const bool tied = shape == 1;
    ModelConfig c = small();
    c.tied = tied;
    if (shape == 2) c.n_head = 2, c.n_head_kv = 1, c.n_head_dim = 4;
    ASSERT_TRUE(c.check().ok()) << c.describe();
    const Params p = init_params(c, 5, 0.2f);
    const std::string path = temp("model.gguf");
    ASSERT_TRUE(write_model(path, p, nullptr, "test").ok());
    auto m = engine::model::LlamaModel::load(path);
    ASSERT_TRUE(m.ok()) << m.error();
    const std::vector<int32_t> tok = {1, 7, 3, 30, 0, 12, 5, 9};
    engine::ThreadPool pool(1);
    std::vector<float> engine_logits(tok.size() * 32);
    {
      engine::model::ForwardState st(pool);
      auto kv = (*m)->make_kv_cache(int32_t(tok.size()));
      engine::model::SequenceKv* seqs[] = {kv.get()};
      std::vector<engine::model::BatchToken> batch;
      for (size_t i = 0; i < tok.size(); ++i) batch.push_back({tok[i], int32_t(i), 0, true});
      ASSERT_TRUE((*m)->forward(batch, seqs, st, engine_logits.data()).ok());
    }
    Model<float> model(c);
    Activations<float> a;
    model.forward(p.data.data(), tok.data(), int(tok.size()), a);
    for (size_t i = 0; i < engine_logits.size(); ++i) ASSERT_NEAR(a.logits[i], engine_logits[i], 1e-4) << i;
    // and reads back
    auto f = engine::GgufFile::open(path);
    ASSERT_TRUE(f.ok());
    auto back = read_params(**f);
    ASSERT_TRUE(back.ok()) << back.error();
    EXPECT_EQ(back->data, p.data);
    EXPECT_EQ(back->config.tied, tied);
    EXPECT_EQ(back->config.q_dim(), c.q_dim());
    EXPECT_EQ(back->config.head_dim(), c.head_dim());
    fs::remove(path);
  }
}

TEST(Trainer, DistillationBringsTheStudentTowardTheTeacher) {
  engine::ThreadPool pool(2);
  const std::string tpath = temp("teacher.gguf");
  ASSERT_TRUE(write_model(tpath, init_params(small(3), 6, 0.3f), nullptr, "teacher").ok());
  auto teacher = engine::model::LlamaModel::load(tpath);
  ASSERT_TRUE(teacher.ok()) << teacher.error();
  const Corpus data = pattern_corpus();
  Params student = init_params(small(1), 7);
  auto before = evaluate(student, data, teacher->get(), pool);
  ASSERT_TRUE(before.ok()) << before.error();
  TrainOptions opt;
  opt.steps = 40;
  opt.batch = 4;
  opt.seq_len = 16;
  opt.adamw.lr = 1e-2f;
  for (Divergence d : {Divergence::kKl, Divergence::kJsd, Divergence::kReverseKl}) {
    DistillOptions dopt;
    dopt.loss = d;
    dopt.on_policy = d == Divergence::kReverseKl ? 0.5f : 0.0f;  // GKD: half the windows continued by the student
    dopt.alpha = 1.0f;
    dopt.temperature = 1.0f;
    dopt.top_k = d == Divergence::kJsd ? 8 : 0;
    Params s = student;
    auto r = distill(**teacher, s, data, opt, dopt, pool);
    ASSERT_TRUE(r.ok()) << r.error();
    auto after = evaluate(s, data, teacher->get(), pool);
    ASSERT_TRUE(after.ok());
    EXPECT_LT(after->kl, 0.5 * before->kl) << divergence_name(d);
  }
  // another vocabulary: refused
  ModelConfig other = small(1);
  other.n_vocab = 40;
  Params wrong = init_params(other, 8);
  auto r = distill(**teacher, wrong, data, opt, DistillOptions{}, pool);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("vocabulary"), std::string::npos);
  fs::remove(tpath);
}

// Hidden-state distillation: a student that is the teacher has no hidden loss; a changed one is pulled
// back towards the teacher's residual stream; another depth is refused with both shapes named.
TEST(Trainer, HiddenStateDistillationPullsTheResidualStreamTowardTheTeacher) {
  engine::ThreadPool pool(2);
  const std::string tpath = temp("hidden_teacher.gguf");
  const Params teacher_params = init_params(small(2), 6, 0.3f);
  ASSERT_TRUE(write_model(tpath, teacher_params, nullptr, "teacher").ok());
  auto teacher = engine::model::LlamaModel::load(tpath);
  ASSERT_TRUE(teacher.ok()) << teacher.error();
  const Corpus data = pattern_corpus();
  TrainOptions opt;
  opt.steps = 30;
  opt.batch = 4;
  opt.seq_len = 16;
  opt.adamw.lr = 1e-2f;
  DistillOptions dopt;
  dopt.alpha = 1.0f;
  dopt.temperature = 1.0f;
  dopt.hidden = 1.0f;
  dopt.hidden_teacher = &teacher_params;
  std::vector<double> hidden;
  auto on_step = [&](const StepInfo& s) { hidden.push_back(s.hidden); };
  TrainOptions one = opt;
  one.steps = 1;
  Params same = teacher_params;
  ASSERT_TRUE(distill(**teacher, same, data, one, dopt, pool, on_step).ok());
  ASSERT_EQ(hidden.size(), 1u);
  EXPECT_LT(hidden[0], 1e-9);
  // a student from other initial weights: its residual stream is pulled towards the teacher's
  Params s = init_params(small(2), 9, 0.3f);
  hidden.clear();
  auto r = distill(**teacher, s, data, opt, dopt, pool, on_step);
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_EQ(hidden.size(), 30u);
  EXPECT_GT(hidden.front(), 0.0);
  EXPECT_LT(hidden.back(), 0.5 * hidden.front());
  Params deeper = init_params(small(3), 10, 0.3f);
  auto bad = distill(**teacher, deeper, data, opt, dopt, pool);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("2 x 16"), std::string::npos) << bad.error();
  EXPECT_NE(bad.error().find("3 x 16"), std::string::npos) << bad.error();
  fs::remove(tpath);
}

}  // namespace
}  // namespace kuai::train
