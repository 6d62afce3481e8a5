#include "text/pattern_set.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace kuai::text
