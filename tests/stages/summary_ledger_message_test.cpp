#include "stages/summary_ledger_message.h"

#include "text/estimate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

namespace kuai::stages {
namespace {

int64_t tokens(std::string_view s) { return text::estimate_tokens(s); }

std::string_view unit_text(std::string_view content, const LedgerMessage::Unit& u) {
  return content.substr(u.begin, u.end - u.begin);
}

TEST(LedgerMessageTest, UserSentenceIsOneUnitAndItsClosingQuestionAnother) {
  const std::string s = "对了，发票我弄丢了一张，怎么办？ My order is QX-88217.";
  const LedgerMessage lm = analyse_ledger_message(s, true, tokens);
  ASSERT_EQ(lm.units.size(), 3u);
  EXPECT_EQ(unit_text(s, lm.units[0]), "对了，发票我弄丢了一张");
  EXPECT_EQ(unit_text(s, lm.units[1]), "怎么办？");
  EXPECT_TRUE(lm.units[1].asks);
  EXPECT_EQ(unit_text(s, lm.units[2]), "My order is QX-88217.");
  EXPECT_GT(lm.units[2].marks, lm.units[1].marks);  // an identifier is a fact mark
  EXPECT_EQ(lm.sentences, 2u);
  EXPECT_EQ(lm.tokens, tokens(s));
}

TEST(LedgerMessageTest, AssistantSentencesGoByClausesAndAListStaysOneUnit) {
  const std::string s = "Plus 30GB at $43.20 including tax, Max at $64.80 including tax; the rest is unchanged.";
  const LedgerMessage lm = analyse_ledger_message(s, false, tokens);
  ASSERT_EQ(lm.units.size(), 2u);
  EXPECT_TRUE(lm.units[0].list);
  EXPECT_EQ(unit_text(s, lm.units[1]), "the rest is unchanged.");
  EXPECT_TRUE(lm.terms.empty());  // the whole text's terms are kept for user messages only
  EXPECT_EQ(lm.tokens, 0);
}

// A user message's terms and numbers are merged from its units' (no second pass over the text): the
// same as the whole text's, because units split only at spaces and punctuation. On random text of
// words, CJK, digits and the separators units split at.
TEST(LedgerMessageTest, UserTermsAndNumbersAreTheWholeTexts) {
  const std::vector<std::string> pieces = {"order",  "the",  "Lisbon", "it's", "42",  "3.5", "订单", "过敏", "号",
                                           "，",     "。",   "？",     ", ",   "; ",  ". ",  "? ",  "\n",   " ",
                                           "、",     "：",   "x=1",    "SS-4471902", "我", "budget"};
  std::mt19937 rng(5);
  for (int t = 0; t < 300; ++t) {
    std::string s;
    for (int n = 1 + static_cast<int>(rng() % 40); n > 0; --n) s += pieces[rng() % pieces.size()];
    const LedgerMessage lm = analyse_ledger_message(s, true, tokens);
    EXPECT_EQ(lm.terms, ledger_terms(s)) << s;
    std::set<std::string> runs;  // digit runs of the whole text, by their text
    for (size_t i = 0; i < s.size();) {
      if (s[i] < '0' || s[i] > '9') { ++i; continue; }
      size_t b = i;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
      runs.insert(s.substr(b, i - b));
    }
    EXPECT_EQ(lm.numbers.size(), runs.size()) << s;
  }
}

TEST(LedgerMessageTest, HashSet64HoldsEveryValueOnceAndGrows) {
  HashSet64 set(4);
  for (uint64_t x = 0; x < 1000; ++x) EXPECT_TRUE(set.insert(x * 0x9E3779B97F4A7C15ull));
  EXPECT_TRUE(set.insert(~uint64_t{0}));  // the empty slot's value is a member like any other
  EXPECT_FALSE(set.insert(~uint64_t{0}));
  for (uint64_t x = 0; x < 1000; ++x) EXPECT_FALSE(set.insert(x * 0x9E3779B97F4A7C15ull));
  EXPECT_TRUE(set.contains(~uint64_t{0}));
  EXPECT_FALSE(set.contains(12345));
}

TEST(LedgerMessageTest, MemoGivesTheSameAnalysisAndKeysOnTheRole) {
  LedgerMemo memo(1 << 20);
  api::Message m;
  m.role = "user";
  m.content = "We land in Lisbon on 14 May. Which hotel is quiet?";
  auto a = memo.get(m, "big", tokens), b = memo.get(m, "big", tokens);
  EXPECT_EQ(a.get(), b.get());
  EXPECT_EQ(memo.entries(), 1u);
  m.role = "assistant";
  auto c = memo.get(m, "big", tokens);
  EXPECT_NE(a.get(), c.get());
  EXPECT_FALSE(c->user);
  EXPECT_FALSE(a->terms.empty());
  EXPECT_TRUE(c->terms.empty());  // the whole text's terms: user messages only
}

}  // namespace
}  // namespace kuai::stages
