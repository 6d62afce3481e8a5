#include "text/segment.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace kuai::text {
namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : "|") + s;
  return out;
}

TEST(SegmentTest, EnglishWordsSkipSpacesAndPunctuation) {
  EXPECT_EQ(join(segment_words("Hello, world! It's 3.14 now.")), "Hello|world|It's|3.14|now");
}

TEST(SegmentTest, ChineseUsesDictionaryWords) {
  auto words = segment_words("我喜欢北京烤鸭");
  // The dictionary splits the run into multi-character words, not one word per character.
  EXPECT_LT(words.size(), 7u);
  EXPECT_NE(std::find(words.begin(), words.end(), "北京"), words.end()) << join(words);
  std::string joined;
  for (const auto& w : words) joined += w;
  EXPECT_EQ(joined, "我喜欢北京烤鸭");
}

TEST(SegmentTest, MixedChineseAndEnglish) {
  auto words = segment_words("请用Python写一个排序函数，谢谢。");
  EXPECT_NE(std::find(words.begin(), words.end(), "Python"), words.end()) << join(words);
  EXPECT_NE(std::find(words.begin(), words.end(), "排序"), words.end()) << join(words);
  for (const auto& w : words) {
    EXPECT_EQ(w.find("，"), std::string::npos);
    EXPECT_EQ(w.find("。"), std::string::npos);
  }
}

TEST(SegmentTest, SpansCoverInputWithKinds) {
  std::string s = "Price: 42 元，好的 ok";
  auto spans = segment(s);
  ASSERT_FALSE(spans.empty());
  size_t pos = 0;
  bool saw_number = false, saw_cjk = false, saw_punct = false, saw_space = false, saw_word = false;
  for (const auto& sp : spans) {
    EXPECT_EQ(sp.begin, pos);
    EXPECT_GT(sp.end, sp.begin);
    pos = sp.end;
    std::string t = s.substr(sp.begin, sp.end - sp.begin);
    if (t == "42") { saw_number = true; EXPECT_EQ(sp.kind, SpanKind::Number); }
    if (t == "好的") { saw_cjk = true; EXPECT_EQ(sp.kind, SpanKind::Cjk); }
    if (t == "，") { saw_punct = true; EXPECT_EQ(sp.kind, SpanKind::Punct); }
    if (t == " ") { saw_space = true; EXPECT_EQ(sp.kind, SpanKind::Space); }
    if (t == "Price") { saw_word = true; EXPECT_EQ(sp.kind, SpanKind::Word); }
  }
  EXPECT_EQ(pos, s.size());
  EXPECT_TRUE(saw_number && saw_cjk && saw_punct && saw_space && saw_word);
}

TEST(SegmentTest, EmptyAndInvalidUtf8NeverCrash) {
  EXPECT_TRUE(segment("").empty());
  EXPECT_TRUE(segment_words("").empty());
  std::string bad = "ab\xff\xfe cd \xe4\xb8";  // stray bytes and a truncated sequence
  auto spans = segment(bad);
  ASSERT_FALSE(spans.empty());
  EXPECT_EQ(spans.front().begin, 0u);
  EXPECT_EQ(spans.back().end, bad.size());
}

TEST(SegmentTest, RandomBytesPropertySpansAreContiguous) {
  std::mt19937 rng(7);
  const char* pieces[] = {"a", "Z", " ", "\n", "中", "文", "，", "1", "\xff", "\xe4", "é", "!", "😀"};
  for (int round = 0; round < 200; ++round) {
    std::string s;
    int n = static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) s += pieces[rng() % std::size(pieces)];
    auto spans = segment(s);
    size_t pos = 0;
    for (const auto& sp : spans) {
      ASSERT_EQ(sp.begin, pos) << s;
      ASSERT_GT(sp.end, sp.begin);
      pos = sp.end;
    }
    ASSERT_EQ(pos, s.size());
  }
}

}  // namespace
}  // namespace kuai::text
