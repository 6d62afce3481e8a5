#include "text/estimate.h"

#include <gtest/gtest.h>

namespace kuai::text {
namespace {

TEST(EstimateTest, FormulaPerScript) {
  EXPECT_EQ(estimate_tokens(""), 0);
  EXPECT_EQ(estimate_tokens("   \n\t"), 0);
  EXPECT_EQ(estimate_tokens("hello"), 1);                 // 5 letters
  EXPECT_EQ(estimate_tokens("hello world"), 2);
  EXPECT_EQ(estimate_tokens("internationalization"), 4);  // 20 letters: 1 + 19/6
  EXPECT_EQ(estimate_tokens("Hi!"), 2);                   // word + punctuation
  EXPECT_EQ(estimate_tokens("12345"), 2);                 // ceil(5/3)
  EXPECT_EQ(estimate_tokens("你好世界"), 4);              // 1 per CJK character
  EXPECT_EQ(estimate_tokens("你好，世界。"), 6);          // CJK punctuation counts 1 each
  EXPECT_EQ(estimate_tokens("привет"), 2);                // other script: 1 + 5/3
  EXPECT_EQ(estimate_tokens("用Python写"), 3);
  EXPECT_EQ(estimate_tokens("abc123def"), 3);  // letters, digits, letters: three runs
  EXPECT_EQ(estimate_tokens("café au lait"), 3);  // é continues its ASCII word's run
  EXPECT_EQ(estimate_tokens("\xC3\xA9" "a1_"), 3);  // é + a one run, 1 a digit run, '_' a symbol
}

TEST(EstimateTest, AdditiveOverWhitespaceSeparatedPieces) {
  EXPECT_EQ(estimate_tokens("hello 你好 42 !"), estimate_tokens("hello") + estimate_tokens("你好") +
                                                  estimate_tokens("42") + estimate_tokens("!"));
}

TEST(EstimateTest, InvalidUtf8Counts) {
  EXPECT_GE(estimate_tokens("\xff\xfe"), 1);
  EXPECT_EQ(estimate_tokens("a\xe4\xb8"), 3);  // 'a' + one symbol per invalid byte
}

}  // namespace
}  // namespace kuai::text
