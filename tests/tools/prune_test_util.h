// Helpers of the prune tests: a temporary folder, calibration text the model writes itself, logits of a
// token sequence, and a copy of a GGUF with some tensors edited.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/model/llama_model.h"
#include "engine/threads/thread_pool.h"
#include "support/paths.h"
#include "tools/generate.h"

namespace kuai::tools::prune_test {

namespace fs = std::filesystem;
using namespace engine::model;

inline std::string stories() { return test::shared_dir() + std::string("/models/stories260K/stories260K.gguf"); }

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() /
           ("kuai_prune_test_" + std::to_string(::getpid()) + "_" + std::to_string(std::random_device{}()));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

// Text sampled from the model (temperature 1, fixed seed).
inline std::string model_text(const std::string& model, uint64_t seed, int n_tokens = 160) {
  auto lm = load_model(model);
  EXPECT_TRUE(lm.ok()) << (lm.ok() ? "" : lm.error());
  if (!lm) return {};
  engine::ThreadPool pool(2);
  GenerateOptions opt;
  opt.n_predict = n_tokens;
  opt.stop_at_eog = false;
  opt.sampling.temperature = 1.0f;
  opt.sampling.seed = seed;
  auto r = generate(*lm, "", opt, pool);
  EXPECT_TRUE(r.ok());
  return r.ok() ? r->text : std::string();
}

// Logits of every position of `tokens` (one prefill batch).
inline std::vector<float> all_logits(const std::string& path, const std::vector<int32_t>& tokens) {
  auto m = LlamaModel::load(path);
  EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error());
  if (!m) return {};
  engine::ThreadPool pool(2);
  ForwardState st(pool);
  auto kv = (*m)->make_kv_cache(int32_t(tokens.size()));
  SequenceKv* seqs[] = {kv.get()};
  std::vector<BatchToken> batch;
  for (size_t i = 0; i < tokens.size(); ++i) batch.push_back({tokens[i], int32_t(i), 0, true});
  std::vector<float> logits(tokens.size() * size_t((*m)->hparams().n_vocab));
  EXPECT_TRUE((*m)->forward(batch, seqs, st, logits.data()).ok());
  return logits;
}

// Largest |a - b| relative to the largest |a|.
inline double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, scale = 1e-12;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    diff = std::max(diff, double(std::fabs(a[i] - b[i]))), scale = std::max(scale, double(std::fabs(a[i])));
  return a.size() == b.size() ? diff / scale : 1e9;
}

// Copies an F32 GGUF; edit(name, rows, cols, data) may change any tensor's floats; extra metadata added.
inline void copy_edited(const std::string& in_path, const std::string& out_path,
                        const std::function<void(const std::string&, int64_t, int64_t, float*)>& edit,
                        const std::function<void(engine::GgufWriter&)>& extra = {}) {
  auto f = engine::GgufFile::open(in_path);
  ASSERT_TRUE(f.ok());
  engine::GgufWriter w;
  for (const auto& kv : (*f)->metadata()) w.set(kv.key, kv.value);
  if (extra) extra(w);
  for (const auto& t : (*f)->tensors()) {
    ASSERT_EQ(t.type, engine::GgmlType::F32) << t.name;
    std::vector<uint8_t> bytes(t.data, t.data + t.n_bytes);
    edit(t.name, t.n_rows(), t.ne[0], reinterpret_cast<float*>(bytes.data()));
    w.add_tensor(t.name, t.type, std::vector<int64_t>(t.ne.begin(), t.ne.begin() + std::max<uint32_t>(1, t.n_dims)),
                 std::move(bytes));
  }
  ASSERT_TRUE(w.write(out_path).ok());
}

}  // namespace kuai::tools::prune_test
