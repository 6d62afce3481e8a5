#include "stages/summary_ledger.h"

#include "text/estimate.h"

#include "stage_harness.h"

#include <gtest/gtest.h>

namespace kuai::stages {
namespace {

using testing::msg;

int64_t tokens(std::string_view s) { return text::estimate_tokens(s); }

Ledger ledger_of(const std::vector<api::Message>& msgs, std::string_view question, int64_t budget) {
  std::vector<const api::Message*> dropped;
  for (const auto& m : msgs) dropped.push_back(&m);
  return build_ledger(dropped, {}, question, budget, tokens);
}

std::vector<api::Message> english() {
  return {msg("user", "My booking reference is QX-88217 and we land in Lisbon on 14 May."),
          msg("assistant", "Got it. What can I help you plan?"),
          msg("user", "We want a quiet hotel near the river. My wife is allergic to shellfish."),
          msg("assistant", "Noted. The Riverside Inn has rooms at €140 per night."),
          msg("user", "Nice weather there I guess."),
          msg("assistant", "Usually mild in May."),
          msg("user", "Actually, change the hotel budget to €120 per night instead.")};
}

TEST(SummaryLedgerTest, CarriesFactsVerbatim) {
  Ledger l = ledger_of(english(), "Which restaurants near the hotel should we book for dinner?", 200);
  for (std::string_view fact : {"My booking reference is QX-88217 and we land in Lisbon on 14 May.",
                                "My wife is allergic to shellfish.", "The Riverside Inn has rooms at €140 per night.",
                                "change the hotel budget to €120 per night instead."})
    EXPECT_NE(l.text.find(fact), std::string::npos) << fact << "\n" << l.text;
  EXPECT_EQ(l.text.find("What can I help you plan?"), std::string::npos) << l.text;  // the assistant's question
  EXPECT_GE(l.facts, 3u);
  // The later decision is printed after the earlier price.
  EXPECT_LT(l.text.find("€140"), l.text.find("€120"));
}

TEST(SummaryLedgerTest, StaysWithinBudgetAndPrefersMarkedFacts) {
  Ledger l = ledger_of(english(), "Is the shellfish allergy a problem at the hotel?", 45);
  EXPECT_LE(tokens(l.text), 45 + 4) << l.text;
  EXPECT_NE(l.text.find("allergic to shellfish"), std::string::npos) << l.text;
  EXPECT_EQ(l.text.find("Nice weather"), std::string::npos) << l.text;
}

TEST(SummaryLedgerTest, ChineseClausesAndEchoes) {
  std::vector<api::Message> msgs = {msg("user", "我们一共五个人，我女儿对花生过敏，订单号是DD20240901。"),
                                    msg("assistant", "记下了：订单号DD20240901。"),
                                    msg("user", "预算每人不超过200元。")};
  Ledger l = ledger_of(msgs, "帮我推荐几道菜吧？", 200);
  EXPECT_NE(l.text.find("我女儿对花生过敏"), std::string::npos) << l.text;
  EXPECT_NE(l.text.find("订单号是DD20240901"), std::string::npos) << l.text;
  EXPECT_NE(l.text.find("预算每人不超过200元"), std::string::npos) << l.text;
  EXPECT_EQ(l.text.find("记下了"), std::string::npos) << l.text;  // the echo adds nothing
  EXPECT_EQ(l.text.rfind("此前对话", 0), 0u) << l.text;
}

Ledger ledger_with_kept(const std::vector<api::Message>& msgs, const std::vector<api::Message>& kept, int64_t budget) {
  std::vector<const api::Message*> dropped, k;
  for (const auto& m : msgs) dropped.push_back(&m);
  for (const auto& m : kept) k.push_back(&m);
  return build_ledger(dropped, k, kept.empty() ? "" : kept.back().content, budget, tokens);
}

TEST(SummaryLedgerTest, ListOfValuesStaysWhole) {
  // Clauses of one sentence that each carry a number and share a word are one unit: the whole size
  // chart is carried, not its first rows.
  std::vector<api::Message> msgs = {
      msg("user", "I ordered the hiking jacket in size M, order WX-3391."),
      msg("assistant", "Thanks. Our chart: size S fits chest 88 cm, size M fits chest 96 cm, size L fits chest 104 cm."),
      msg("user", "Nice, the weather is turning cold anyway.")};
  Ledger l = ledger_of(msgs, "Which size should I exchange it for? My chest is 100 cm.", 60);
  EXPECT_NE(l.text.find("size S fits chest 88 cm, size M fits chest 96 cm, size L fits chest 104 cm"), std::string::npos)
      << l.text;
  // 、 enumerations with numbers are lists too (carried whole, as one line).
  std::vector<api::Message> zh = {msg("assistant", "可选的有：5元1G日包、15元5G周包、25元10G月包，均含税。")};
  Ledger z = ledger_of(zh, "我该加哪个包？", 60);
  EXPECT_NE(z.text.find("5元1G日包、15元5G周包、25元10G月包"), std::string::npos) << z.text;
}

TEST(SummaryLedgerTest, AssistantEchoOfTheUsersFactsIsDropped) {
  std::vector<api::Message> msgs = {msg("user", "My ticket is TK-5521 and I paid $75 on May 3."),
                                    msg("assistant", "Got it, ticket TK-5521, $75, May 3."),
                                    msg("assistant", "The refund window for TK-5521 is 14 days.")};
  Ledger l = ledger_of(msgs, "Can I still get my money back?", 200);
  EXPECT_NE(l.text.find("My ticket is TK-5521 and I paid $75 on May 3."), std::string::npos) << l.text;
  EXPECT_EQ(l.text.find("Got it"), std::string::npos) << l.text;                  // only repeats the user
  EXPECT_NE(l.text.find("The refund window for TK-5521 is 14 days."), std::string::npos) << l.text;  // adds 14
}

TEST(SummaryLedgerTest, BlockPastedAgainInAKeptTurnIsNotCarried) {
  std::vector<api::Message> msgs = {
      msg("user", "Our service is pinned to Node 14 by the hosting plan. Log:\n"
                  "2025-01-09 10:00:01 ERROR pool exhausted (max=20) [worker 7]\n"
                  "2025-01-09 10:00:02 ERROR pool exhausted (max=20) [worker 8]"),
      msg("assistant", "How many workers do you run?")};
  std::vector<api::Message> kept = {
      msg("user", "Same again:\n2025-01-09 10:00:01 ERROR pool exhausted (max=20) [worker 7]\n"
                  "2025-01-09 10:00:02 ERROR pool exhausted (max=20) [worker 8]\nWhat should I change?")};
  Ledger l = ledger_with_kept(msgs, kept, 200);
  EXPECT_NE(l.text.find("pinned to Node 14"), std::string::npos) << l.text;
  EXPECT_EQ(l.text.find("pool exhausted"), std::string::npos) << l.text;  // already in the request
  // Without the kept turn the log is a fact like any other.
  EXPECT_NE(ledger_of(msgs, "What should I change?", 200).text.find("pool exhausted"), std::string::npos);
}

TEST(SummaryLedgerTest, UserSentenceIsOneUnitAndItsTrailingQuestionIsNot) {
  std::vector<api::Message> msgs = {
      msg("user", "我上高一，用的是北师大版教材。"),
      msg("assistant", "好的。"),
      msg("user", "对了，收据我弄丢了一张，怎么办？"),
      msg("user", "The basement carpet is soaked too. The cleaner quoted $480 for that.")};
  Ledger l = ledger_of(msgs, "Roughly how much will I get back?", 200);
  EXPECT_NE(l.text.find("我上高一，用的是北师大版教材。"), std::string::npos) << l.text;
  EXPECT_NE(l.text.find("收据我弄丢了一张"), std::string::npos) << l.text;
  EXPECT_EQ(l.text.find("怎么办"), std::string::npos) << l.text;
  // "for that" points back: the sentence before it comes along.
  EXPECT_NE(l.text.find("The basement carpet is soaked too. The cleaner quoted $480 for that."), std::string::npos) << l.text;
}

TEST(SummaryLedgerTest, CorrectionsAndDecisionsOutrankSmallTalk) {
  std::vector<api::Message> msgs = {
      msg("user", "大家都挺期待的，听说那边的风景应该不错。"),
      msg("assistant", "符合要求。"),  // one constraint word alone: a comment, not a fact
      msg("user", "我刚才说错了，人数从4个提高到6个。"),
      msg("user", "午饭就带三明治吧。")};
  Ledger l = ledger_of(msgs, "帮我列一份出发前的清单？", 56);
  EXPECT_NE(l.text.find("人数从4个提高到6个"), std::string::npos) << l.text;
  EXPECT_NE(l.text.find("午饭就带三明治吧"), std::string::npos) << l.text;
  EXPECT_EQ(l.text.find("符合要求"), std::string::npos) << l.text;
  EXPECT_EQ(l.text.find("风景应该不错"), std::string::npos) << l.text;
}

TEST(SummaryLedgerTest, TheWholeNoteFitsItsBudget) {
  // Every budget, small to large: the note as counted whole (separators, merged spans, the whole
  // turns) never exceeds it, or the window would drop the kept turns after it.
  std::vector<api::Message> msgs = english();
  msgs.push_back(msg("user", "价格：单人间480元，双人间560元，三人间720元；早餐另加45元。我们两个人，住三晚。"));
  for (int64_t budget = 8; budget <= 240; budget += 4) {
    Ledger l = ledger_of(msgs, "Which hotel room fits our budget, and what about the shellfish allergy?", budget);
    EXPECT_LE(tokens(l.text), budget) << budget << "\n" << l.text;
  }
}

TEST(SummaryLedgerTest, NothingToCarry) {
  std::vector<api::Message> msgs = {msg("assistant", "Sure, what else?"), msg("tool", "{\"ok\": 12345}")};
  EXPECT_EQ(ledger_of(msgs, "hello", 100).text, "");
  EXPECT_EQ(ledger_of({}, "", 100).text, "");
}

}  // namespace
}  // namespace kuai::stages
