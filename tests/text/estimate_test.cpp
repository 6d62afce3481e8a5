#include "text/estimate.h"

#include <gtest/gtest.h>

#include <cctype>
#include <random>
#include <string>

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

// The formula written out for ASCII, é (a Latin letter outside ASCII) and a few three-byte characters
// that are one token each (你, ㇰ, ，, and U+4DFF, a symbol just before the common CJK block), one
// character at a time: what the 16-byte ASCII blocks and the run of CJK characters must agree with,
// runs carried across block edges included.
int64_t reference(const std::string& s) {
  int64_t tokens = 0, len = 0;
  char kind = 0;  // 'L' letters, 'D' digits
  auto flush = [&] {
    if (kind == 'L') tokens += 1 + (len - 1) / 6;
    if (kind == 'D') tokens += (len + 2) / 3;
    kind = 0;
    len = 0;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    char k = 0;
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '\xC3') k = 'L';
    else if (std::isdigit(static_cast<unsigned char>(c))) k = 'D';
    if (c == '\xC3') ++i;  // é: two bytes, one letter
    if (c == '\xE3' || c == '\xE4' || c == '\xEF') {  // a three-byte character: one token
      flush();
      ++tokens;
      i += 2;
      continue;
    }
    if (k) {
      if (k != kind) flush();
      kind = k;
      ++len;
    } else {
      flush();
      tokens += c > 0x20 && c < 0x7F;
    }
  }
  flush();
  return tokens;
}

TEST(EstimateTest, AsciiBlocksAgreeWithTheFormula) {
  std::mt19937 rng(7);
  const std::string alphabet = "abcXYZ0189 .,!?_-\t\n\x7F";
  for (int round = 0; round < 2000; ++round) {
    std::string s;
    const int n = static_cast<int>(rng() % 80);
    for (int k = 0; k < n; ++k) {
      if (rng() % 23 == 0) s += "\xC3\xA9";
      else if (rng() % 5 == 0) s += std::string_view("你\xE3\x87\xB0，\xE4\xB7\xBF").substr(3 * (rng() % 4), 3);
      else if (rng() % 3 == 0) s.append(rng() % 12, alphabet[rng() % 6]);  // long runs cross blocks
      else s += alphabet[rng() % alphabet.size()];
    }
    ASSERT_EQ(estimate_tokens(s), reference(s)) << s;
  }
}

}  // namespace
}  // namespace kuai::text
