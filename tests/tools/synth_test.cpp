// kuai synth: deterministic files of the preset's shape, with a vocabulary our tokenizer (and other GGUF
// tools) accept; llama and qwen2 (biases, neox RoPE, tied embeddings) presets load and generate.
#include "tools/synth.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <unistd.h>

#include "engine/gguf/gguf_file.h"
#include "engine/model/llama_model.h"
#include "engine/threads/thread_pool.h"
#include "engine/tokenizer/tokenizer.h"
#include "tools/generate.h"

namespace kuai::tools {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("kuai_synth_test_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& n) const { return (path / n).string(); }
};

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(Synth, SameSeedSameBytesOtherSeedDiffers) {
  TempDir dir;
  SynthOptions o;
  o.preset = "tiny";
  o.type = "q8_0";
  o.seed = 3;
  ASSERT_TRUE(synth_model(dir.file("a.gguf"), o).ok());
  o.n_threads = 1;
  ASSERT_TRUE(synth_model(dir.file("b.gguf"), o).ok());
  o.seed = 4;
  ASSERT_TRUE(synth_model(dir.file("c.gguf"), o).ok());
  EXPECT_EQ(bytes_of(dir.file("a.gguf")), bytes_of(dir.file("b.gguf")));
  EXPECT_NE(bytes_of(dir.file("a.gguf")), bytes_of(dir.file("c.gguf")));
}

TEST(Synth, PresetsLoadTokenizeAndGenerate) {
  TempDir dir;
  engine::ThreadPool pool(2);
  for (const char* preset : {"tiny", "tiny-qwen2"}) {
    SynthOptions o;
    o.preset = preset;
    o.type = "q4_k_m";
    const std::string path = dir.file(std::string(preset) + ".gguf");
    ASSERT_TRUE(synth_model(path, o).ok()) << preset;
    auto lm = load_model(path);
    ASSERT_TRUE(lm.ok()) << lm.error();
    const auto* p = find_synth_preset(preset);
    EXPECT_EQ(lm->model->hparams().n_vocab, p->n_vocab);
    EXPECT_EQ(lm->model->hparams().n_head_kv, p->n_head_kv);
    EXPECT_EQ(lm->tokenizer->n_vocab(), size_t(p->n_vocab));
    EXPECT_EQ(lm->file->tensor("output.weight") == nullptr, p->tied_embeddings);
    const auto ids = lm->tokenizer->encode("the cat sat on the mat", true, false);
    EXPECT_FALSE(ids.empty());
    GenerateOptions g;
    g.n_predict = 8;
    g.stop_at_eog = false;
    g.sampling.temperature = 0;
    auto r = generate(*lm, "the cat", g, pool);
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_EQ(r->ids.size(), 8u);
  }
}

TEST(Synth, Errors) {
  TempDir dir;
  SynthOptions o;
  o.preset = "gpt5";
  EXPECT_FALSE(synth_model(dir.file("x.gguf"), o).ok());
  o.preset = "tiny";
  o.type = "q9";
  EXPECT_FALSE(synth_model(dir.file("x.gguf"), o).ok());
}

}  // namespace
}  // namespace kuai::tools
