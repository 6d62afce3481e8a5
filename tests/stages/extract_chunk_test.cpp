#include "stages/extract_chunk.h"

#include "text/estimate.h"

#include <gtest/gtest.h>

#include <string>

namespace kuai::stages::extract {
namespace {

const TokenFn kTokens = [](std::string_view t) { return text::estimate_tokens(t); };

std::string joined(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += p;
  return out;
}

TEST(ExtractChunk, EnglishSentencesAndParagraphs) {
  auto s = split_sentences("Pi is 3.14 roughly. Is it? Yes!\n\nNew paragraph here. \"Quoted.\" End");
  ASSERT_EQ(s.size(), 6u);
  EXPECT_EQ(s[0].text, "Pi is 3.14 roughly. ");
  EXPECT_TRUE(s[0].starts_paragraph);
  EXPECT_EQ(s[1].text, "Is it? ");
  EXPECT_EQ(s[2].text, "Yes!\n\n");
  EXPECT_EQ(s[3].text, "New paragraph here. ");
  EXPECT_TRUE(s[3].starts_paragraph);
  EXPECT_FALSE(s[4].starts_paragraph);
  EXPECT_EQ(s[4].text, "\"Quoted.\" ");
  EXPECT_EQ(s[5].text, "End");
}

TEST(ExtractChunk, ChineseSentences) {
  auto s = split_sentences("今天下雨了。你带伞了吗？“带了！”我说。好的……走吧");
  ASSERT_EQ(s.size(), 6u);
  EXPECT_EQ(s[0].text, "今天下雨了。");
  EXPECT_EQ(s[1].text, "你带伞了吗？");
  EXPECT_EQ(s[2].text, "“带了！”");
  EXPECT_EQ(s[3].text, "我说。");
  EXPECT_EQ(s[4].text, "好的……");
  EXPECT_EQ(s[5].text, "走吧");
}

TEST(ExtractChunk, ChunksRespectTheBudgetAndGiveTheTextBack) {
  std::string doc;
  for (int p = 0; p < 6; ++p) {
    for (int i = 0; i < 8; ++i) doc += "Sentence number " + std::to_string(p * 8 + i) + " says something useful. ";
    doc += "\n\n";
    for (int i = 0; i < 5; ++i) doc += "这是第" + std::to_string(i) + "句中文，用来测试分块。";
    doc += "\n\n";
  }
  auto chunks = chunk_text(doc, 60, kTokens);
  EXPECT_GT(chunks.size(), 4u);
  EXPECT_EQ(joined(chunks), doc);
  for (const auto& c : chunks) {
    EXPECT_LE(kTokens(c), 60) << c;
    // Every chunk ends on a sentence end (or the document's end).
    std::string t = c;
    while (!t.empty() && (t.back() == ' ' || t.back() == '\n')) t.pop_back();
    bool ends = t.back() == '.' || t.ends_with("。");
    EXPECT_TRUE(ends) << c;
  }
}

TEST(ExtractChunk, OverlongSentenceIsCutOnCodePoints) {
  std::string s;
  for (int i = 0; i < 300; ++i) s += "长";
  auto chunks = chunk_text(s, 50, kTokens);
  EXPECT_GE(chunks.size(), 6u);
  EXPECT_EQ(joined(chunks), s);
  for (const auto& c : chunks) EXPECT_EQ(c.size() % 3, 0u);  // whole 3-byte characters
}

TEST(ExtractChunk, EmptyAndTinyInputs) {
  EXPECT_TRUE(chunk_text("", 100, kTokens).empty());
  EXPECT_EQ(chunk_text("one", 100, kTokens).size(), 1u);
  EXPECT_EQ(joined(chunk_text("a", 0, kTokens)), "a");
}

TEST(ExtractChunk, QuestionAfterOrBeforeTheDocument) {
  std::string doc = "The report says revenue grew 12% in 2023. Costs fell. Margins improved a lot this year.";
  auto last = split_question(doc + "\n\nWhat was the revenue growth?", 50, kTokens);
  ASSERT_TRUE(last.found);
  EXPECT_EQ(last.question, "What was the revenue growth?");
  EXPECT_EQ(last.document, doc);
  EXPECT_FALSE(last.question_first);

  auto first = split_question("Summarize the following:\n" + doc, 50, kTokens);
  ASSERT_TRUE(first.found);
  EXPECT_EQ(first.question, "Summarize the following:");
  EXPECT_TRUE(first.question_first);

  auto zh = split_question("请根据下面的材料回答：\n" + std::string(300, 'x'), 50, kTokens);
  EXPECT_TRUE(zh.found);

  EXPECT_FALSE(split_question(doc, 50, kTokens).found);  // one paragraph: no separable question
  EXPECT_FALSE(split_question("", 50, kTokens).found);
}

}  // namespace
}  // namespace kuai::stages::extract
