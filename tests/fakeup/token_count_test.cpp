#include "fakeup/token_count.h"

#include <gtest/gtest.h>

namespace kuai::fakeup {
namespace {

TEST(FakeTokenCount, WordsAndCjkCharacters) {
  EXPECT_EQ(count_tokens(""), 0);
  EXPECT_EQ(count_tokens("   "), 0);
  EXPECT_EQ(count_tokens("hello world"), 2);
  EXPECT_EQ(count_tokens("hello, world!"), 2);  // punctuation sticks to its word
  EXPECT_EQ(count_tokens("你好世界"), 4);
  EXPECT_EQ(count_tokens("请问 weather 怎么样？"), 6);  // 2 + 1 + 3, full-width ? separates
  EXPECT_EQ(count_tokens("a\tb\nc"), 3);
  EXPECT_EQ(count_tokens("\xff\xfe bad"), 2);  // invalid bytes are word characters
}

}  // namespace
}  // namespace kuai::fakeup
