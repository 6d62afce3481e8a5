// Loading refuses what it cannot run, with a message: vocab-only files, other architectures,
// unsupported tensor types, missing tensors, truncated files; bad batches are errors, not crashes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>
#include <vector>

#include "engine/gguf/gguf_writer.h"
#include "engine/model/llama_model.h"
#include "engine/model/stories_reference.h"
#include "engine/threads/thread_pool.h"

namespace kuai::engine::model {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("kuai_model_load_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& n) const { return (path / n).string(); }
};

std::string load_error(const std::string& path) {
  auto m = LlamaModel::load(path);
  return m.ok() ? std::string() : m.error();
}

// A minimal one-layer llama file with the given architecture and a chosen type for attn_q.
void write_model(const std::string& path, const std::string& arch, GgmlType q_type, bool drop_ffn_down = false) {
  GgufWriter w;
  w.set_string("general.architecture", arch);
  const std::string a = arch + ".";
  w.set_u32(a + "embedding_length", 256);
  w.set_u32(a + "block_count", 1);
  w.set_u32(a + "feed_forward_length", 256);
  w.set_u32(a + "attention.head_count", 4);
  w.set_u32(a + "context_length", 64);
  auto zeros = [](GgmlType t, int64_t cols, int64_t rows) {
    return std::vector<uint8_t>(row_bytes(t, uint64_t(cols)) * size_t(rows), 0);
  };
  w.add_tensor("token_embd.weight", GgmlType::F32, {256, 32}, zeros(GgmlType::F32, 256, 32));
  w.add_tensor("output_norm.weight", GgmlType::F32, {256}, zeros(GgmlType::F32, 256, 1));
  w.add_tensor("blk.0.attn_norm.weight", GgmlType::F32, {256}, zeros(GgmlType::F32, 256, 1));
  w.add_tensor("blk.0.ffn_norm.weight", GgmlType::F32, {256}, zeros(GgmlType::F32, 256, 1));
  w.add_tensor("blk.0.attn_q.weight", q_type, {256, 256}, zeros(q_type, 256, 256));
  for (const char* n : {"attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}) {
    if (drop_ffn_down && std::string(n) == "ffn_down") continue;
    w.add_tensor(std::string("blk.0.") + n + ".weight", GgmlType::F16, {256, 256}, zeros(GgmlType::F16, 256, 256));
  }
  ASSERT_TRUE(w.write(path).ok());
}

TEST(ModelLoad, RefusesWithClearErrors) {
  TempDir dir;
  EXPECT_NE(load_error(test::shared_dir() + "/tokenizer-tests/ggml-vocab-llama-spm.gguf").find("vocab-only"),
            std::string::npos);
  EXPECT_FALSE(load_error("/nonexistent/model.gguf").empty());

  write_model(dir.file("ok.gguf"), "llama", GgmlType::Q8_0);
  EXPECT_EQ(load_error(dir.file("ok.gguf")), "");  // tied embeddings: no output.weight is fine

  write_model(dir.file("arch.gguf"), "gptneox", GgmlType::F32);
  EXPECT_NE(load_error(dir.file("arch.gguf")).find("unsupported architecture 'gptneox'"), std::string::npos);

  write_model(dir.file("type.gguf"), "llama", GgmlType::Q5_K);
  const std::string e = load_error(dir.file("type.gguf"));
  EXPECT_NE(e.find("blk.0.attn_q.weight"), std::string::npos) << e;
  EXPECT_NE(e.find("unsupported type q5_k"), std::string::npos) << e;

  write_model(dir.file("missing.gguf"), "llama", GgmlType::F32, true);
  EXPECT_NE(load_error(dir.file("missing.gguf")).find("missing tensor 'blk.0.ffn_down.weight'"), std::string::npos);

  // truncated copies of the real model
  std::ifstream in(test::shared_dir() + "/models/stories260K/stories260K.gguf", std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 1000u);
  for (size_t cut : {size_t(10), bytes.size() / 3, bytes.size() - 7}) {
    std::ofstream out(dir.file("cut.gguf"), std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), std::streamsize(cut));
    out.close();
    EXPECT_FALSE(load_error(dir.file("cut.gguf")).empty()) << cut;
  }
}

TEST(ModelLoad, BadBatchesAreErrors) {
  auto m = LlamaModel::load(test::shared_dir() + "/models/stories260K/stories260K.gguf");
  ASSERT_TRUE(m.ok()) << m.error();
  ThreadPool pool(1);
  ForwardState st(pool);
  auto kv = (*m)->make_kv_cache(8);
  SequenceKv* seqs[] = {kv.get()};
  std::vector<float> logits(512);
  const BatchToken bad_token{512, 0, 0, true}, bad_pos{1, 8, 0, true}, bad_seq{1, 0, 1, true};
  EXPECT_FALSE((*m)->forward(std::span(&bad_token, 1), seqs, st, logits.data()).ok());
  EXPECT_FALSE((*m)->forward(std::span(&bad_pos, 1), seqs, st, logits.data()).ok());
  EXPECT_FALSE((*m)->forward(std::span(&bad_seq, 1), seqs, st, logits.data()).ok());
  EXPECT_EQ((*m)->hparams().n_head_kv, 4);
  EXPECT_EQ((*m)->hparams().n_ff, 172);
}

// Two sequences in one batch give the same logits as each alone (the batch seam engine/sched uses).
TEST(ModelLoad, MultiSequenceBatchEqualsSeparateRuns) {
  auto m = LlamaModel::load(test::shared_dir() + "/models/stories260K/stories260K.gguf");
  ASSERT_TRUE(m.ok());
  ThreadPool pool(2);
  ForwardState st(pool);
  const std::vector<int32_t> a = {1, 403, 407, 261, 378}, b = {1, 317, 269};
  auto run_alone = [&](const std::vector<int32_t>& toks) {
    auto kv = (*m)->make_kv_cache(16);
    SequenceKv* seqs[] = {kv.get()};
    std::vector<BatchToken> batch;
    for (size_t i = 0; i < toks.size(); ++i) batch.push_back({toks[i], int32_t(i), 0, i + 1 == toks.size()});
    std::vector<float> l(512);
    EXPECT_TRUE((*m)->forward(batch, seqs, st, l.data()).ok());
    return l;
  };
  const auto la = run_alone(a), lb = run_alone(b);
  auto kva = (*m)->make_kv_cache(16), kvb = (*m)->make_kv_cache(16);
  SequenceKv* seqs[] = {kva.get(), kvb.get()};
  std::vector<BatchToken> batch;
  for (size_t i = 0; i < b.size(); ++i) batch.push_back({b[i], int32_t(i), 1, i + 1 == b.size()});
  for (size_t i = 0; i < a.size(); ++i) batch.push_back({a[i], int32_t(i), 0, i + 1 == a.size()});
  std::vector<float> l(2 * 512);
  ASSERT_TRUE((*m)->forward(batch, seqs, st, l.data()).ok());
  for (int i = 0; i < 512; ++i) {
    EXPECT_NEAR(l[size_t(i)], lb[size_t(i)], 1e-4);
    EXPECT_NEAR(l[size_t(512 + i)], la[size_t(i)], 1e-4);
  }
}

}  // namespace
}  // namespace kuai::engine::model
