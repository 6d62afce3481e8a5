#include "stages/slim_rules.h"

#include "text/segment.h"

#include <gtest/gtest.h>

#include <random>

namespace kuai::stages {
namespace {

PhraseSet builtin() {
  PhraseSet p;
  p.add_list(builtin_phrases_en());
  p.add_list(builtin_phrases_zh());
  return p;
}

std::string slim(std::string_view s) { return slim_text(s, builtin()).text; }

TEST(SlimRulesTest, BuiltinListsAreCompiledIn) {
  PhraseSet p = builtin();
  EXPECT_GT(p.size(), 100u);
  EXPECT_NE(builtin_phrases_en().find("I hope this message finds you well"), std::string_view::npos);
  EXPECT_NE(builtin_phrases_zh().find("请你耐心理解用户提问，不要着急"), std::string_view::npos);
}

TEST(SlimRulesTest, EnglishFillerRemoved) {
  EXPECT_EQ(slim("Hi there! I hope this message finds you well. What is the capital of France? "
                 "Please take your time and think carefully. Thanks in advance!"),
            "What is the capital of France?");
  EXPECT_EQ(slim("Good morning, could you summarise this paragraph for me"),
            "could you summarise this paragraph for me");
}

TEST(SlimRulesTest, ChineseFillerRemoved) {
  EXPECT_EQ(slim("您好！请你耐心理解用户提问，不要着急。北京明天的天气怎么样？谢谢！"), "北京明天的天气怎么样？");
  EXPECT_EQ(slim("麻烦了，帮我把这句话翻译成英文：今天很热。"), "帮我把这句话翻译成英文：今天很热。");
}

TEST(SlimRulesTest, PhraseInsideAClauseIsKept) {
  // The words are a list phrase, but here they carry meaning: not a clause of their own.
  EXPECT_EQ(slim("How do I say good morning in French?"), "How do I say good morning in French?");
  EXPECT_EQ(slim("用日语怎么说谢谢？"), "用日语怎么说谢谢？");
  EXPECT_EQ(slim("写一封感谢信给老师"), "写一封感谢信给老师");
  EXPECT_EQ(slim("Thanks in advance for nothing is a phrase"), "Thanks in advance for nothing is a phrase");
}

TEST(SlimRulesTest, CodeQuotesUrlsAndNumbersUntouched) {
  std::string code = "Fix this:\n```python\nprint('thanks in advance')   #  keep   spaces\n\n\n\nx = 1\n```\n";
  EXPECT_EQ(slim(code), "Fix this:\n```python\nprint('thanks in advance')   #  keep   spaces\n\n\n\nx = 1\n```\n");  // the fence line keeps its newline
  std::string indented = "Example:\n\n    thanks in advance\n    a  =  b\n";
  EXPECT_EQ(slim(indented), indented);
  EXPECT_EQ(slim("Translate \"Thanks in advance!\" into Chinese."), "Translate \"Thanks in advance!\" into Chinese.");
  EXPECT_EQ(slim("翻译「谢谢！」和“您好！”"), "翻译「谢谢！」和“您好！”");
  EXPECT_EQ(slim("> Thanks in advance!\nReply to the quote."), "> Thanks in advance!\nReply to the quote.");
  EXPECT_EQ(slim("Run `thanks  in advance` now"), "Run `thanks  in advance` now");
  EXPECT_EQ(slim("See https://x.org/a?thanks,cheers. and  3.14159   and 1,000,000"),
            "See https://x.org/a?thanks,cheers. and 3.14159 and 1,000,000");
}

TEST(SlimRulesTest, WhitespaceRepeatsAndDecoration) {
  EXPECT_EQ(slim("a   b\t\tc  \n\n\n\nd"), "a b c\n\nd");
  EXPECT_EQ(slim("Title\n==========\nbody\n*****\n★★★★★\nend"), "Title\nbody\nend");
  EXPECT_EQ(slim("same line\nsame line\nsame line\nother"), "same line\nother");
  std::string para = "This paragraph is long enough to count.";
  EXPECT_EQ(slim(para + "\n\nmiddle\n\n" + para + "\n\nend"), para + "\n\nmiddle\n\nend");
  // Short repeated paragraphs and list items stay (they may be data).
  EXPECT_EQ(slim("- yes\n\n- no\n\n- yes"), "- yes\n\n- no\n\n- yes");
}

TEST(SlimRulesTest, LoneCourtesyMessageIsKept) {
  EXPECT_EQ(slim("Thanks!"), "Thanks!");
  EXPECT_EQ(slim("谢谢！"), "谢谢！");
}

TEST(SlimRulesTest, ExtraPhrasesAndSpansReported) {
  PhraseSet p;
  p.add("As an AI language model");
  auto r = slim_text("As an AI language model, I think 42.", p);
  EXPECT_EQ(r.text, "I think 42.");
  ASSERT_EQ(r.removed.size(), 1u);
  EXPECT_EQ(r.removed[0].kind, RemovedSpan::Kind::Phrase);
  EXPECT_EQ(r.removed[0].offset, 0u);
  EXPECT_EQ(r.removed[0].length, std::string_view("As an AI language model, ").size());
  EXPECT_FALSE(slim_text("nothing to do", p).changed());
}

// The longest listed phrase that ends where a clause may end, whatever the order they were listed in;
// a run of spaces and tabs matches a phrase's space; a phrase listed twice counts once.
TEST(SlimRulesTest, LongestPhraseEndingAClauseWins) {
  PhraseSet p;
  p.add("thanks");
  p.add("thanks a lot");
  p.add("Thanks  A lot");
  EXPECT_EQ(p.size(), 2u);
  EXPECT_EQ(slim_text("Thanks \t a   lot, explain TCP.", p).text, "explain TCP.");
  EXPECT_EQ(slim_text("thanks, explain TCP.", p).text, "explain TCP.");
  EXPECT_FALSE(slim_text("thanks a bunch of ideas", p).changed());  // a word follows "thanks"
  EXPECT_FALSE(slim_text("thanks a lottery ticket", p).changed());
}

TEST(SlimRulesTest, CurlyApostropheAndCaseInsensitive) {
  EXPECT_EQ(slim("I’D REALLY APPRECIATE IT. Explain TCP."), "Explain TCP.");
}

// Property: with random text made of words no list names, never repeated, (plus list phrases inserted as clauses),
// the words that survive are exactly the non-list words, in order.
TEST(SlimRulesTest, PropertyNothingOutsideTheListsIsRemoved) {
  PhraseSet phrases = builtin();
  const char* words[] = {"alpha", "beta", "gamma", "42", "3.5", "delta", "北京", "天气", "模型", "x_y", "café",
                         "https://a.b/c", "`a  b`", "(note)", "naïve"};
  const char* fillers[] = {"Thanks in advance!", "I hope this message finds you well.", "您好！", "谢谢！",
                           "请你耐心理解用户提问，不要着急。", "Please take your time."};
  const char* seps[] = {" ", "  ", "\n", "\n\n\n", ". ", ", ", "。", "，", "\t"};
  std::mt19937 rng(1234);
  for (int round = 0; round < 300; ++round) {
    std::string with, without;
    int n = 1 + static_cast<int>(rng() % 25);
    for (int i = 0; i < n; ++i) {
      if (rng() % 5 == 0) {
        std::string f = fillers[rng() % std::size(fillers)];
        with += "\n" + f + "\n";
        without += "\n";
      }
      // A numbered word, so no two lines repeat (repeats are a rule of their own, tested above).
      std::string w = words[rng() % std::size(words)] + std::to_string(i);
      std::string sep = seps[rng() % std::size(seps)];
      with += w + sep;
      without += w + sep;
    }
    auto out = slim_text(with, phrases);
    auto expect_words = text::segment_words(without);
    auto got_words = text::segment_words(out.text);
    ASSERT_EQ(got_words, expect_words) << "input:\n" << with << "\noutput:\n" << out.text;
  }
}

TEST(SlimRulesTest, InvalidUtf8NeverCrashes) {
  std::mt19937 rng(99);
  PhraseSet phrases = builtin();
  for (int round = 0; round < 200; ++round) {
    std::string s;
    int n = static_cast<int>(rng() % 64);
    for (int i = 0; i < n; ++i) s += static_cast<char>(rng() % 256);
    auto out = slim_text(s, phrases);
    EXPECT_LE(out.text.size(), s.size());
  }
}

}  // namespace
}  // namespace kuai::stages
