// The pruned file against the model it came from: pruning nothing gives the same logits; pruning a KV
// group whose attn_output columns are zero, or FFN channels whose ffn_down columns are zero, leaves the
// logits unchanged (up to summation order); shape keys and per-layer arrays follow the new shape; a
// quantized input keeps its types where the rows allow; the file loads in kuai and in llama.cpp. The same
// for a qwen2 file (layers and FFN channels: llama.cpp's qwen2 loader needs every head).
#include "tools/prune_rewrite.h"

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <sys/wait.h>

#include "engine/tokenizer/tokenizer.h"
#include "prune_test_util.h"
#include "tools/prune.h"
#include "tools/quantize.h"
#include "tools/synth.h"

namespace kuai::tools::prune_test {
namespace {

std::vector<int32_t> eval_tokens(const std::string& model) {
  auto lm = load_model(model);
  EXPECT_TRUE(lm.ok());
  if (!lm) return {};
  auto ids = lm->tokenizer->encode(model_text(model, 7, 48), true, false);
  return ids;
}

PruneResult prune(const std::string& in, const std::string& out, const PruneSpec& spec, const std::string& calib) {
  PruneOptions opt;
  opt.in_path = in;
  opt.out_path = out;
  opt.spec = spec;
  opt.calib_text = calib;
  opt.compare = false;
  auto r = run_prune(opt);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error());
  return r.ok() ? std::move(r).value() : PruneResult{};
}

TEST(PruneRewrite, PruningNothingGivesTheSameLogits) {
  TempDir dir;
  const std::string calib = model_text(stories(), 1);
  const PruneResult r = prune(stories(), dir.file("same.gguf"), PruneSpec{}, calib);
  ASSERT_TRUE(r.written);
  EXPECT_EQ(r.after.params, r.before.params);
  const auto ids = eval_tokens(stories());
  ASSERT_GT(ids.size(), 8u);
  EXPECT_EQ(all_logits(stories(), ids), all_logits(dir.file("same.gguf"), ids));
}

TEST(PruneRewrite, ZeroOutputProjectionGroupIsPrunedWithoutChangingLogits) {
  TempDir dir;
  // KV group 1 of 4 = query heads 2 and 3 = attn_output columns [16, 32) (head width 8).
  copy_edited(stories(), dir.file("zeroed.gguf"), [](const std::string& name, int64_t rows, int64_t cols, float* d) {
    if (name.find("attn_output.weight") == std::string::npos) return;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 16; c < 32; ++c) d[r * cols + c] = 0.0f;
  });
  PruneSpec spec;
  spec.heads_keep = 0.75;
  const PruneResult r = prune(dir.file("zeroed.gguf"), dir.file("pruned.gguf"), spec, model_text(stories(), 1));
  ASSERT_EQ(r.plan.layers.size(), 5u);
  for (const auto& g : r.plan.groups) EXPECT_EQ(g, (std::vector<int>{0, 2, 3}));
  auto f = engine::GgufFile::open(dir.file("pruned.gguf"));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ((*f)->get_u32("llama.attention.head_count"), 6u);
  EXPECT_EQ((*f)->get_u32("llama.attention.head_count_kv"), 3u);
  EXPECT_EQ((*f)->get_u32("llama.attention.key_length"), 8u);
  EXPECT_EQ((*f)->tensor("blk.0.attn_q.weight")->ne[1], 48);
  EXPECT_EQ((*f)->tensor("blk.0.attn_k.weight")->ne[1], 24);
  EXPECT_EQ((*f)->tensor("blk.0.attn_output.weight")->ne[0], 48);
  const auto ids = eval_tokens(stories());
  EXPECT_LT(max_rel_diff(all_logits(dir.file("zeroed.gguf"), ids), all_logits(dir.file("pruned.gguf"), ids)), 1e-5);
}

TEST(PruneRewrite, ZeroDownProjectionChannelsArePrunedWithoutChangingLogits) {
  TempDir dir;
  // 43 of 172 channels (every fourth from 1) carry nothing: their ffn_down columns are zero.
  copy_edited(stories(), dir.file("zeroed.gguf"), [](const std::string& name, int64_t rows, int64_t cols, float* d) {
    if (name.find("ffn_down.weight") == std::string::npos) return;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 1; c < cols; c += 4) d[r * cols + c] = 0.0f;
  });
  PruneSpec spec;
  spec.ffn_keep = 0.75;  // 129 of 172
  const PruneResult r = prune(dir.file("zeroed.gguf"), dir.file("pruned.gguf"), spec, model_text(stories(), 1));
  for (const auto& ch : r.plan.channels) {
    ASSERT_EQ(ch.size(), 129u);
    for (int c : ch) EXPECT_NE(c % 4, 1) << c;
  }
  auto f = engine::GgufFile::open(dir.file("pruned.gguf"));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ((*f)->get_u32("llama.feed_forward_length"), 129u);
  const auto ids = eval_tokens(stories());
  EXPECT_LT(max_rel_diff(all_logits(dir.file("zeroed.gguf"), ids), all_logits(dir.file("pruned.gguf"), ids)), 1e-5);
}

TEST(PruneRewrite, DroppedLayersCutPerLayerArraysAndRenumber) {
  TempDir dir;
  copy_edited(stories(), dir.file("arrays.gguf"), [](const std::string&, int64_t, int64_t, float*) {},
              [](engine::GgufWriter& w) {
                w.set_array("llama.test_per_layer", std::vector<int32_t>{10, 11, 12, 13, 14});
                w.set_array("llama.test_other", std::vector<int32_t>{1, 2});
              });
  PruneSpec spec;
  spec.drop_layer_ids = {1, 3};
  const PruneResult r = prune(dir.file("arrays.gguf"), dir.file("pruned.gguf"), spec, model_text(stories(), 1));
  EXPECT_EQ(r.plan.layers, (std::vector<int>{0, 2, 4}));
  auto f = engine::GgufFile::open(dir.file("pruned.gguf"));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ((*f)->get_u32("llama.block_count"), 3u);
  EXPECT_EQ((*f)->get_array<int32_t>("llama.test_per_layer"), (std::vector<int32_t>{10, 12, 14}));
  EXPECT_EQ((*f)->get_array<int32_t>("llama.test_other"), (std::vector<int32_t>{1, 2}));
  EXPECT_FALSE((*f)->has("llama.attention.key_length"));
  EXPECT_EQ((*f)->tensor("blk.3.attn_q.weight"), nullptr);
  // layer 2 of the input is layer 1 of the output, byte for byte
  auto in = engine::GgufFile::open(stories());
  ASSERT_TRUE(in.ok());
  const auto* a = (*in)->tensor("blk.2.ffn_up.weight");
  const auto* b = (*f)->tensor("blk.1.ffn_up.weight");
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->n_bytes, b->n_bytes);
  EXPECT_EQ(std::memcmp(a->data, b->data, a->n_bytes), 0);
}

TEST(PruneRewrite, QuantizedInputKeepsItsTypeWhereRowsAllow) {
  TempDir dir;
  QuantizeOptions q;
  q.recipe = "q8_0";
  ASSERT_TRUE(quantize_model(stories(), dir.file("q8.gguf"), q).ok());
  PruneSpec spec;
  spec.heads_keep = 0.5;  // attn_output rows of 32: still whole Q8_0 blocks
  spec.drop_layers = 1;
  const PruneResult r = prune(dir.file("q8.gguf"), dir.file("pruned.gguf"), spec, model_text(stories(), 1));
  EXPECT_TRUE(r.rewrite.fallbacks.empty());
  auto f = engine::GgufFile::open(dir.file("pruned.gguf"));
  ASSERT_TRUE(f.ok());
  for (const char* name : {"blk.0.attn_q.weight", "blk.0.attn_output.weight", "blk.3.ffn_up.weight"})
    EXPECT_EQ((*f)->tensor(name)->type, engine::GgmlType::Q8_0) << name;
  EXPECT_EQ((*f)->tensor("blk.0.attn_output.weight")->ne[0], 32);
  const auto ids = eval_tokens(stories());
  const auto logits = all_logits(dir.file("pruned.gguf"), ids);
  ASSERT_FALSE(logits.empty());
  for (float v : logits) ASSERT_TRUE(std::isfinite(v));
}

TEST(PruneRewrite, TypeRequantizesTheMatrices) {
  TempDir dir;
  PruneOptions opt;
  opt.in_path = stories();
  opt.out_path = dir.file("q8.gguf");
  opt.spec.heads_keep = 0.5;
  opt.calib_text = model_text(stories(), 1);
  opt.rewrite.type = "q8_0";
  opt.compare = false;
  auto r = run_prune(opt);
  ASSERT_TRUE(r.ok()) << r.error();
  auto f = engine::GgufFile::open(dir.file("q8.gguf"));
  ASSERT_TRUE(f.ok());
  EXPECT_EQ((*f)->get_u32("general.file_type"), 7u);
  EXPECT_EQ((*f)->tensor("blk.0.attn_q.weight")->type, engine::GgmlType::Q8_0);
  EXPECT_EQ((*f)->tensor("blk.0.attn_output.weight")->type, engine::GgmlType::Q8_0);
  EXPECT_EQ((*f)->tensor("blk.0.attn_norm.weight")->type, engine::GgmlType::F32);
  EXPECT_EQ((*f)->tensor("blk.0.ffn_down.weight")->type, engine::GgmlType::F16);  // rows of 172: no Q8_0 blocks
  EXPECT_FALSE(r->rewrite.fallbacks.empty());
  opt.rewrite.type = "q3_x";
  auto bad = run_prune(opt);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("unknown --type 'q3_x'"), std::string::npos) << bad.error();
}

// Greedy continuation by llama.cpp's llama-simple, or why it cannot run here ("" and a reason): absent,
// or dead of SIGILL (the portable build needs AVX-512; std::system's shell reports that as exit 128 + 4).
// A run that fails otherwise fails the calling test (and returns what it wrote).
std::string llama_simple(const TempDir& dir, const std::string& model, const std::string& prompt, std::string& why) {
  const std::string simple = test::shared_dir() + std::string("/tools/llama.cpp/llama-simple");
  if (!fs::exists(simple)) return why = "llama.cpp's llama-simple is not at " + simple, "";
  const std::string cmd = simple + " -m " + model + " -n 8 '" + prompt + "' >" + dir.file("out.txt") + " 2>" + dir.file("err.txt");
  const int status = std::system(cmd.c_str());
  const bool sigill = (WIFSIGNALED(status) && WTERMSIG(status) == SIGILL) ||
                      (WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGILL);
  if (sigill) return why = "llama-simple needs AVX-512 (SIGILL here)", "";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "llama-simple failed on " << model;
  std::ifstream in(dir.file("out.txt"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(PruneRewrite, PrunedFileLoadsInKuaiAndLlamaCpp) {
  TempDir dir;
  PruneSpec spec;
  spec.drop_layers = 1;
  spec.heads_keep = 0.75;
  spec.ffn_keep = 0.75;
  prune(stories(), dir.file("pruned.gguf"), spec, model_text(stories(), 1));
  auto lm = load_model(dir.file("pruned.gguf"));
  ASSERT_TRUE(lm.ok()) << lm.error();
  engine::ThreadPool pool(2);
  GenerateOptions g;
  g.n_predict = 8;
  g.sampling.temperature = 0;
  auto out = generate(*lm, "Once upon", g, pool);
  ASSERT_TRUE(out.ok());
  std::string why;
  const std::string peer = llama_simple(dir, dir.file("pruned.gguf"), "Once upon", why);
  if (!why.empty()) GTEST_SKIP() << why << ": not compared";
  // greedy: llama.cpp writes the same continuation as kuai
  EXPECT_NE(peer.find("Once upon" + out->text), std::string::npos) << peer << " vs " << out->text;
}

TEST(PruneRewrite, Qwen2PrunesLayersAndChannelsAndLoadsInKuaiAndLlamaCpp) {
  TempDir dir;
  const std::string qwen = dir.file("qwen.gguf");
  SynthOptions so;
  so.preset = "tiny-qwen2";
  ASSERT_TRUE(synth_model(qwen, so).ok());
  const std::string calib = model_text(qwen, 1, 64);
  // Pruning nothing: the same logits.
  const PruneResult same = prune(qwen, dir.file("same.gguf"), PruneSpec{}, calib);
  ASSERT_TRUE(same.written);
  const auto ids = eval_tokens(qwen);
  ASSERT_GT(ids.size(), 4u);
  EXPECT_EQ(all_logits(qwen, ids), all_logits(dir.file("same.gguf"), ids));
  // A layer and a quarter of the FFN (a qwen2 file keeps its heads: check_prune_spec).
  PruneSpec spec;
  spec.drop_layers = 1;
  spec.ffn_keep = 0.75;
  const PruneResult r = prune(qwen, dir.file("pruned.gguf"), spec, calib);
  ASSERT_TRUE(r.written);
  const auto& h = r.hparams;
  auto lm = load_model(dir.file("pruned.gguf"));
  ASSERT_TRUE(lm.ok()) << lm.error();
  EXPECT_EQ(lm->model->hparams().n_layer, h.n_layer - 1);
  EXPECT_EQ(lm->model->hparams().n_ff, kept_channels(h, r.spec));
  EXPECT_EQ(lm->model->hparams().arch, Arch::kQwen2);
  engine::ThreadPool pool(2);
  GenerateOptions g;
  g.n_predict = 8;
  g.sampling.temperature = 0;
  auto out = generate(*lm, "Once upon", g, pool);
  ASSERT_TRUE(out.ok()) << out.error();
  // A plan made by hand that cuts a KV group (check_prune_spec refuses it for qwen2): the biases follow
  // their rows and kuai loads the file.
  PrunePlan by_hand = same.plan;
  for (auto& groups : by_hand.groups) groups.resize(1);
  auto in = engine::GgufFile::open(qwen);
  ASSERT_TRUE(in.ok());
  ASSERT_TRUE(write_pruned(**in, by_hand, dir.file("heads.gguf"), RewriteOptions{}).ok());
  auto heads = engine::GgufFile::open(dir.file("heads.gguf"));
  ASSERT_TRUE(heads.ok());
  const int group = h.n_head / h.n_head_kv;
  EXPECT_EQ((*heads)->tensor("blk.0.attn_q.bias")->ne[0], int64_t(group) * h.head_dim);
  EXPECT_EQ((*heads)->tensor("blk.0.attn_k.bias")->ne[0], int64_t(h.head_dim));
  EXPECT_EQ((*heads)->tensor("blk.0.attn_v.bias")->ne[0], int64_t(h.head_dim));
  EXPECT_TRUE(load_model(dir.file("heads.gguf")).ok());

  std::string why;
  const std::string peer = llama_simple(dir, dir.file("pruned.gguf"), "Once upon", why);
  if (!why.empty()) GTEST_SKIP() << why << ": not compared";
  EXPECT_NE(peer.find("Once upon" + out->text), std::string::npos) << peer << " vs " << out->text;
}

}  // namespace
}  // namespace kuai::tools::prune_test
