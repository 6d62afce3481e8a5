#include "stages/route_escalation.h"

#include <gtest/gtest.h>

namespace kuai::stages::route {
namespace {

std::string why(std::string_view answer, int64_t q_tokens, int64_t a_tokens, std::string_view finish = "stop",
                const EscalationPolicy& p = {}) {
  auto r = check_answer(answer, finish, q_tokens, a_tokens, p);
  return r ? *r : "ok";
}

TEST(RouteEscalation, GoodAnswersPass) {
  EXPECT_EQ(why("Hello! How can I help you today?", 2, 9), "ok");
  EXPECT_EQ(why("明天北京晴，最高气温12度。", 8, 12), "ok");
}

TEST(RouteEscalation, EmptyRefusalFilteredShort) {
  EXPECT_EQ(why("  \n", 5, 0), "empty");
  EXPECT_EQ(why("I'm sorry, but I can't help with that.", 10, 10), "refusal");
  EXPECT_EQ(why("I\xE2\x80\x99m sorry, but I can\xE2\x80\x99t do that.", 10, 10), "refusal");
  EXPECT_EQ(why("As an AI language model, I do not have real-time data.", 10, 12), "refusal");
  EXPECT_EQ(why("抱歉，我无法回答这个问题。", 10, 10), "refusal");
  EXPECT_EQ(why("fine", 5, 1, "content_filter"), "filtered");
  // 300-token question: at least min(0.05 × 300, 16) = 15 answer tokens.
  EXPECT_EQ(why("Yes.", 300, 2), "short");
  EXPECT_EQ(why("A long enough answer", 300, 15), "ok");
}

TEST(RouteEscalation, ExtraRefusalPhrasesFromConfig) {
  EscalationPolicy p;
  p.refusals = {"Cannot Comply"};
  EXPECT_EQ(why("cannot comply with this", 3, 4, "stop", p), "refusal");
}

}  // namespace
}  // namespace kuai::stages::route
