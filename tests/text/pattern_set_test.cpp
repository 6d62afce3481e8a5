#include "text/pattern_set.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace kuai::text {
namespace {

std::vector<uint32_t> present(const PatternSet& set, std::string_view s) {
  std::vector<uint32_t> out;
  set.present(s, out);
  return out;
}

TEST(PatternSetTest, FindsEachPatternOnceInOrder) {
  PatternSet set({"不好意思", "谢谢", "?", "哈哈", "", "thanks", "不好"});
  EXPECT_EQ(present(set, "哈哈，不好意思，谢谢谢谢！哈哈?"), (std::vector<uint32_t>{0, 1, 2, 3, 6}));
  EXPECT_EQ(present(set, "no match here 你们好"), std::vector<uint32_t>{});
  EXPECT_EQ(present(set, "Thanks"), std::vector<uint32_t>{});  // byte-exact, no case folding
  EXPECT_EQ(present(set, "thanks"), std::vector<uint32_t>{5});
  EXPECT_EQ(set.count_present("谢谢哈哈不好", 2), 2u);
  EXPECT_EQ(set.count_present("谢谢哈哈不好", 10), 3u);
  EXPECT_EQ(PatternSet().count_present("谢谢", 1), 0u);
}

TEST(PatternSetTest, SameAsOneSearchPerPatternOnRandomText) {
  const std::vector<std::string> alphabet = {"谢", "不", "好", "意", "思", "a", "b", "，", "\xFF", "\xE4\xBD"};
  std::mt19937 rng(7);
  std::vector<std::string> patterns;
  for (int k = 0; k < 40; ++k) {
    std::string p;
    for (int n = 1 + static_cast<int>(rng() % 3); n > 0; --n) p += alphabet[rng() % 8];
    patterns.push_back(p);
  }
  PatternSet set(patterns);
  for (int t = 0; t < 300; ++t) {
    std::string s;
    for (int n = static_cast<int>(rng() % 30); n > 0; --n) s += alphabet[rng() % alphabet.size()];
    std::vector<uint32_t> expect;
    for (uint32_t k = 0; k < patterns.size(); ++k)
      if (s.find(patterns[k]) != std::string::npos) expect.push_back(k);
    // (a pattern listed twice is found under each index)
    EXPECT_EQ(present(set, s), expect) << s;
  }
}

TEST(PatternSetTest, MatchesListsEveryOccurrenceByOffsetThenPatternOrder) {
  PatternSet set({"哈哈", "哈", "ab", "", "b"});
  std::vector<std::pair<uint32_t, uint32_t>> out;
  set.matches("哈哈哈ab", out);
  // 哈 is 3 bytes: 哈哈 at 0 and 3 (overlapping), 哈 at 0, 3, 6; ab at 9; b at 10.
  EXPECT_EQ(out, (std::vector<std::pair<uint32_t, uint32_t>>{{0, 0}, {1, 0}, {0, 3}, {1, 3}, {1, 6}, {2, 9}, {4, 10}}));
  set.matches("", out);
  EXPECT_TRUE(out.empty());
}

TEST(PatternSetTest, MatchesSameAsSearchingEveryCharacterOnRandomText) {
  const std::vector<std::string> alphabet = {"谢", "不", "好", "a", "b", "，", "意"};
  std::mt19937 rng(11);
  std::vector<std::string> patterns;
  for (int k = 0; k < 300; ++k) {  // many first code points: the flat table grows and probes
    std::string p;
    if (rng() % 3 == 0) {  // a CJK code point of its own
      p.push_back('\xE4');
      p.push_back(static_cast<char>(0x80 + rng() % 64));
      p.push_back(static_cast<char>(0x80 + rng() % 64));
    }
    for (int n = 1 + static_cast<int>(rng() % 3); n > 0; --n) p += alphabet[rng() % 6];
    patterns.push_back(p);
  }
  PatternSet set(patterns);
  for (int t = 0; t < 200; ++t) {
    std::string s;
    for (int n = static_cast<int>(rng() % 30); n > 0; --n) s += alphabet[rng() % alphabet.size()];
    // Every pattern at every character start, by offset then list order.
    std::vector<std::pair<uint32_t, uint32_t>> expect, got;
    for (size_t i = 0; i < s.size(); ++i) {
      if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;  // inside a character
      for (uint32_t k = 0; k < patterns.size(); ++k)
        if (s.compare(i, patterns[k].size(), patterns[k]) == 0) expect.emplace_back(k, static_cast<uint32_t>(i));
    }
    set.matches(s, got);
    EXPECT_EQ(got, expect) << s;
  }
}

}  // namespace
}  // namespace kuai::text
