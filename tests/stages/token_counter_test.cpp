#include "stages/token_counter.h"

#include "app/token_counter.h"
#include "engine/gguf/gguf_file.h"
#include "engine/tokenizer/tokenizer.h"
#include "stages/window.h"
#include "stage_harness.h"
#include "text/estimate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>
#include "support/paths.h"

namespace kuai::stages {
namespace {

std::string vocab(const char* name) {
  return kuai::test::shared_dir() + "/tokenizer-tests/" + name;
}

std::unique_ptr<engine::Tokenizer> engine_tokenizer(const std::string& path,
                                                    std::unique_ptr<engine::GgufFile>& file) {
  auto f = engine::GgufFile::open(path);
  if (!f) return nullptr;
  file = std::move(f).value();
  auto t = engine::Tokenizer::from_gguf(*file);
  return t ? std::move(t).value() : nullptr;
}

const char* kSamples[] = {
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Explain how the Rust borrow checker prevents data races at compile time.",
    "Our meeting is moved to Thursday at 3 pm; please bring the quarterly report.",
    "北京是中国的首都，有很多名胜古迹，比如故宫和长城。",
    "请帮我写一个快速排序的函数，并解释它的时间复杂度。",
    "今天天气很好，我们一起去公园散步吧。",
};

TEST(TokenCounterTest, CountsMatchTheEngineTokenizer) {
  for (const char* name : {"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf", "ggml-vocab-deepseek-llm.gguf"}) {
    std::string err;
    auto mine = app::engine_tokenizer_loader()(vocab(name), err);
    ASSERT_TRUE(mine) << name << ": " << err;
    std::unique_ptr<engine::GgufFile> file;
    auto reference = engine_tokenizer(vocab(name), file);
    ASSERT_TRUE(reference);
    for (const char* s : kSamples)
      EXPECT_EQ(mine->count(s), static_cast<int64_t>(reference->encode(s, false, false).size())) << name << ": " << s;
  }
}

TEST(TokenCounterTest, ModelsWithoutATokenizerUseTheEstimate) {
  std::string err;
  YAML::Node tokenizers = YAML::Load("{llama: '" + vocab("ggml-vocab-llama-spm.gguf") + "'}");
  auto counter = DefaultTokenCounter::from_config(tokenizers, app::engine_tokenizer_loader(), err);
  ASSERT_TRUE(counter) << err;
  EXPECT_TRUE(counter->exact("llama"));
  EXPECT_FALSE(counter->exact("gpt-4o"));
  EXPECT_EQ(counter->count("gpt-4o", kSamples[3]), text::estimate_tokens(kSamples[3]));
  EXPECT_FALSE(DefaultTokenCounter::from_config(YAML::Load("{m: /no/such.gguf}"), app::engine_tokenizer_loader(), err));
  EXPECT_NE(err.find("/no/such.gguf"), std::string::npos);
}

// The config logic without the engine: a named file that fails is an error, a local model's only a
// fallback to the estimate; a named file wins over the local model's own.
TEST(TokenCounterTest, ConfigDecidesWhichModelsAreCountedExactly) {
  struct Fixed : ModelTokenizer {
    int64_t n;
    explicit Fixed(int64_t v) : n(v) {}
    int64_t count(std::string_view) const override { return n; }
  };
  std::vector<std::string> loaded;
  TokenizerLoader load = [&](const std::string& path, std::string& error) -> std::unique_ptr<ModelTokenizer> {
    loaded.push_back(path);
    if (path.find("bad") != std::string::npos) {
      error = "unreadable";
      return nullptr;
    }
    return std::make_unique<Fixed>(static_cast<int64_t>(path.size()));
  };
  std::string err;
  auto counter = DefaultTokenCounter::from_config(YAML::Load("{a: named.gguf}"),
                                                  YAML::Load("{a: local-a.gguf, b: {path: local-bb.gguf}, c: bad.gguf}"),
                                                  load, err);
  ASSERT_TRUE(counter) << err;
  EXPECT_EQ(counter->count("a", "x"), 10);  // named.gguf, not local-a.gguf
  EXPECT_EQ(counter->count("b", "x"), 13);  // local-bb.gguf
  EXPECT_FALSE(counter->exact("c"));         // unreadable local file: the estimate
  EXPECT_EQ(counter->count("c", "hello world"), text::estimate_tokens("hello world"));
  EXPECT_EQ(std::count(loaded.begin(), loaded.end(), "local-a.gguf"), 0);
  EXPECT_FALSE(DefaultTokenCounter::from_config(YAML::Load("{a: bad.gguf}"), YAML::Node(), load, err));
  EXPECT_NE(err.find("bad.gguf"), std::string::npos);
}

// The estimate holds what docs/ARCHITECTURE.md says of it: English within 15% of the real tokenizers;
// Chinese between them (real vocabularies spend 0.6–1.6 tokens per character, the estimate 1), so the
// ratio lies within [1/1.6, 1/0.6].
TEST(TokenCounterTest, EstimateIsCloseToRealTokenizers) {
  for (const char* name : {"ggml-vocab-llama-spm.gguf", "ggml-vocab-deepseek-llm.gguf"}) {
    std::unique_ptr<engine::GgufFile> file;
    auto reference = engine_tokenizer(vocab(name), file);
    ASSERT_TRUE(reference);
    for (int lang = 0; lang < 2; ++lang) {
      int64_t est = 0, real = 0;
      for (int i = lang * 3; i < lang * 3 + 3; ++i) {
        est += text::estimate_tokens(kSamples[i]);
        real += static_cast<int64_t>(reference->encode(kSamples[i], false, false).size());
      }
      double ratio = static_cast<double>(est) / static_cast<double>(real);
      std::printf("%s %s: estimate %lld, tokenizer %lld, ratio %.2f\n", name, lang ? "zh" : "en",
                  static_cast<long long>(est), static_cast<long long>(real), ratio);
      if (lang == 0) {
        EXPECT_NEAR(ratio, 1.0, 0.15) << name;
      } else {
        EXPECT_GE(ratio, 1 / 1.6) << name;
        EXPECT_LE(ratio, 1 / 0.6) << name;
      }
    }
  }
}

// Property: with a real tokenizer, the window's kept messages fit the budget as that tokenizer counts.
TEST(TokenCounterTest, WindowBudgetHoldsInRealTokens) {
  std::string yaml = "pipeline: [window]\nstages:\n  window:\n    max_tokens: 90\n    tokenizers: {test-model: '" +
                     vocab("ggml-vocab-llama-spm.gguf") + "'}\n";
  testing::PipelineRun run(yaml);
  std::unique_ptr<engine::GgufFile> file;
  auto reference = engine_tokenizer(vocab("ggml-vocab-llama-spm.gguf"), file);
  ASSERT_TRUE(reference);
  std::mt19937 rng(5);
  for (int round = 0; round < 50; ++round) {
    std::vector<api::Message> m{testing::msg("system", "You are helpful. 你是一个助手。")};
    int n = 2 + static_cast<int>(rng() % 20);
    for (int i = 0; i < n; ++i)
      m.push_back(testing::msg(i % 2 ? "assistant" : "user", kSamples[rng() % std::size(kSamples)]));
    auto ctx = run.run(testing::request(m));
    int64_t real = 0;
    for (const auto& km : ctx.request.messages)
      real += 4 + static_cast<int64_t>(reference->encode(km.content, false, false).size());
    if (testing::header(ctx, "x-kuai-window").find("over_budget") == std::string::npos) {
      EXPECT_LE(real, 90);
    }
    EXPECT_EQ(ctx.request.messages[0].role, "system");
  }
}

}  // namespace
}  // namespace kuai::stages
