#include "flows/chunk.h"

#include "text/estimate.h"

#include <gtest/gtest.h>

namespace kuai::flows {
namespace {

TEST(FlowChunk, SplitsAtSentenceEndsWithinTheBudget) {
  std::string text;
  for (int i = 0; i < 40; ++i) text += "Sentence number " + std::to_string(i) + " says something about pi 3.14 here. ";
  auto chunks = chunk_text(text, 40);
  ASSERT_GT(chunks.size(), 5u);
  std::string joined;
  for (const auto& c : chunks) {
    EXPECT_LE(text::estimate_tokens(c), 40) << c;
    EXPECT_EQ(c.back(), '.') << "a chunk ends a sentence: " << c;
    joined += c + " ";
  }
  EXPECT_EQ(joined, text);  // nothing lost, nothing repeated
}

TEST(FlowChunk, ChineseSentencesAndLongSentences) {
  auto s = split_sentences("第一句。第二句！third one? last");
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[0], "第一句。");
  EXPECT_EQ(s[3], "last");
  std::string longs;
  for (int i = 0; i < 200; ++i) longs += "word ";
  auto chunks = chunk_text(longs, 30);
  ASSERT_GT(chunks.size(), 5u);
  for (const auto& c : chunks) EXPECT_LE(text::estimate_tokens(c), 30);
  EXPECT_TRUE(chunk_text("   ", 10).empty());
}

}  // namespace
}  // namespace kuai::flows
