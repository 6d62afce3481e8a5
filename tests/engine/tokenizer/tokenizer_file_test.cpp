// TokenizerFile: the owning tokenizer the gateway's token counter uses (wired by the app).
#include "engine/tokenizer/tokenizer_file.h"

#include <gtest/gtest.h>

#include "support/paths.h"

namespace kuai::engine {
namespace {

TEST(TokenizerFileTest, CountsWhatEncodeGivesForPlainText) {
  const char* samples[] = {
      "The quick brown fox jumps over the lazy dog near the river bank.",
      "北京是中国的首都，有很多名胜古迹，比如故宫和长城。",
      "<|im_start|>user spelled a control token",
  };
  for (const char* name : {"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf", "ggml-vocab-deepseek-llm.gguf"}) {
    auto f = TokenizerFile::open(kuai::test::shared_dir() + "/tokenizer-tests/" + name);
    ASSERT_TRUE(f.ok()) << name << ": " << f.error();
    for (const char* s : samples) {
      auto ids = (*f)->tokenizer().encode(s, false, false);
      EXPECT_EQ((*f)->count_text(s), static_cast<int64_t>(ids.size())) << name << ": " << s;
      EXPECT_GT((*f)->count_text(s), 0) << name;
    }
  }
}

TEST(TokenizerFileTest, MissingFileIsAnError) {
  auto f = TokenizerFile::open("/no/such/vocab.gguf");
  ASSERT_FALSE(f.ok());
  EXPECT_FALSE(f.error().empty());
}

}  // namespace
}  // namespace kuai::engine
