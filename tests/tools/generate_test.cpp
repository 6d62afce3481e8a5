// End to end with the tokenizer: generate() on stories260K prints exactly llama2.c's reference text.
#include "tools/generate.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "engine/model/llama_model.h"
#include "engine/threads/thread_pool.h"
#include "tools/convert_llama2c.h"

#include <filesystem>
#include <unistd.h>
#include "support/paths.h"

namespace kuai::tools {
namespace {

using kuai::test::shared_dir;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void expect_reference_texts(const std::string& model_path) {
  auto lm = load_model(model_path);
  ASSERT_TRUE(lm.ok()) << lm.error();
  engine::ThreadPool pool(2);
  for (auto [prompt, stem] : {std::pair{"Once upon a time", "greedy_once_upon_a_time"}, {"Lily and Tom", "greedy_lily_and_tom"}}) {
    GenerateOptions opt;
    opt.sampling.temperature = 0;
    opt.stop_at_eog = false;
    // run.c: 100 forward passes including the prompt's; the prompt is BOS + 4 tokens -> 96 generated
    opt.n_predict = 96;
    std::string streamed;
    auto r = generate(*lm, prompt, opt, pool, [&](const std::string& p) { streamed += p; });
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_EQ(r->prompt_ids.size(), 5u);
    EXPECT_EQ(streamed, r->text);
    const std::string expect = read_file(shared_dir() + "/models/stories260K/reference/" + stem + ".txt");
    EXPECT_EQ(std::string(prompt) + r->text + "\n", expect) << stem << " from " << model_path;
  }
}

TEST(Generate, Stories260KGreedyTextEqualsReference) {
  expect_reference_texts(shared_dir() + "/models/stories260K/stories260K.gguf");
}

// The same from our own conversion of the llama2.c checkpoint (kuai convert llama2c).
TEST(Generate, ConvertedStories260KGreedyTextEqualsReference) {
  const auto dir = std::filesystem::temp_directory_path() / ("kuai_gen_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  Llama2cConvertOptions opt;
  opt.checkpoint_path = shared_dir() + "/models/stories260K/stories260K.bin";
  opt.tokenizer_path = shared_dir() + "/models/stories260K/tok512.bin";
  opt.output_path = (dir / "converted.gguf").string();
  const auto st = convert_llama2c(opt);
  ASSERT_TRUE(st.ok()) << st.error();
  expect_reference_texts(opt.output_path);
  std::filesystem::remove_all(dir);
}

TEST(Generate, SameSeedSameTextAndErrors) {
  auto lm = load_model(shared_dir() + "/models/stories260K/stories260K.gguf");
  ASSERT_TRUE(lm.ok()) << lm.error();
  engine::ThreadPool pool(2);
  GenerateOptions opt;
  opt.n_predict = 30;
  opt.sampling.temperature = 1.0f;
  opt.sampling.seed = 99;
  auto a = generate(*lm, "Lily", opt, pool);
  auto b = generate(*lm, "Lily", opt, pool);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->ids, b->ids);
  opt.n_ctx = 3;
  EXPECT_FALSE(generate(*lm, "Once upon a time there was", opt, pool).ok());
  EXPECT_FALSE(load_model(shared_dir() + "/tokenizer-tests/ggml-vocab-llama-spm.gguf").ok());
  EXPECT_FALSE(load_model("/nonexistent.gguf").ok());
}

}  // namespace
}  // namespace kuai::tools
