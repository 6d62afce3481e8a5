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

TEST(SummaryLedgerTest, NothingToCarry) {
  std::vector<api::Message> msgs = {msg("assistant", "Sure, what else?"), msg("tool", "{\"ok\": 12345}")};
  EXPECT_EQ(ledger_of(msgs, "hello", 100).text, "");
  EXPECT_EQ(ledger_of({}, "", 100).text, "");
}

}  // namespace
}  // namespace kuai::stages
