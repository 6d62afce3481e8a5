#include "stages/window_plan.h"

#include "stages/token_counter.h"
#include "stage_harness.h"

#include <gtest/gtest.h>

#include <random>

namespace kuai::stages {
namespace {

using testing::msg;
using testing::request;
using testing::tool_call;
using testing::tool_result;

std::vector<std::string> contents(const api::ChatRequest& r) {
  std::vector<std::string> out;
  for (const auto& m : r.messages) out.push_back(m.role + ":" + m.content);
  return out;
}

api::ChatRequest english_chat(int turns) {
  std::vector<api::Message> m{msg("system", "You are a concise travel assistant.")};
  for (int t = 0; t < turns; ++t) {
    m.push_back(msg("user", "Question " + std::to_string(t) + ": what should I see in city number " + std::to_string(t) + "?"));
    m.push_back(msg("assistant", "Answer " + std::to_string(t) + ": the old town, the river and the market."));
  }
  m.push_back(msg("user", "And what about the food there?"));
  return request(std::move(m));
}

TEST(WindowPlanTest, MaxTurnsKeepsSystemAndLastTurns) {
  auto req = english_chat(6);
  DefaultTokenCounter counter;
  WindowPolicy policy;
  policy.max_turns = 2;
  auto plan = plan_window(req, policy, counter);
  apply_window(req, plan);
  EXPECT_EQ(plan.dropped, 10u);  // 13 non-system messages, 3 kept
  auto c = contents(req);
  ASSERT_EQ(c.size(), 4u);
  EXPECT_EQ(c[0], "system:You are a concise travel assistant.");
  EXPECT_EQ(c[1].rfind("user:Question 5", 0), 0u);
  EXPECT_EQ(c[3], "user:And what about the food there?");
  EXPECT_LT(plan.tokens_after, plan.tokens_before);
}

TEST(WindowPlanTest, MaxTokensChineseSlidingWindow) {
  std::vector<api::Message> m{msg("system", "你是一个有帮助的助手。")};
  for (int t = 0; t < 8; ++t) {
    m.push_back(msg("user", "第" + std::to_string(t) + "个问题：北京有哪些好吃的烤鸭店？"));
    m.push_back(msg("assistant", "推荐全聚德和便宜坊，它们都很有名。"));
  }
  auto req = request(std::move(m));
  DefaultTokenCounter counter;
  WindowPolicy policy;
  policy.max_tokens = 80;
  auto plan = plan_window(req, policy, counter);
  EXPECT_FALSE(plan.over_budget);
  EXPECT_LE(plan.tokens_after, 80);
  EXPECT_GT(plan.dropped, 0u);
  apply_window(req, plan);
  EXPECT_EQ(req.messages.front().content, "你是一个有帮助的助手。");
  EXPECT_EQ(req.messages[1].role, "user");  // starts with a user turn
  EXPECT_EQ(req.messages.back().content, "推荐全聚德和便宜坊，它们都很有名。");
}

TEST(WindowPlanTest, ToolCallAndResultsStayTogether) {
  auto req = request({msg("system", "sys"), msg("user", "old question with many many words in it"),
                      msg("assistant", "old answer"), msg("user", "look up the weather in Paris and Rome"),
                      tool_call("c1", "{\"city\":\"Paris\"}"), tool_result("c1", "Paris: 18 C, sunny"),
                      tool_result("c1", "Rome: 24 C, clear"), msg("assistant", "Paris 18 C, Rome 24 C.")});
  DefaultTokenCounter counter;
  // For every budget, a kept tool result always has its calling assistant message kept, and vice versa.
  for (int64_t budget = 1; budget < 200; ++budget) {
    WindowPolicy policy;
    policy.max_tokens = budget;
    policy.start_with_user = false;
    auto plan = plan_window(req, policy, counter);
    bool call_kept = !plan.drops(4, "assistant");
    EXPECT_EQ(call_kept, !plan.drops(5, "tool")) << budget;
    EXPECT_EQ(call_kept, !plan.drops(6, "tool")) << budget;
  }
}

TEST(WindowPlanTest, LastMessageAlwaysKeptEvenOverBudget) {
  auto req = request({msg("system", "sys"), msg("user", "short"),
                      msg("user", std::string(400, 'x') + " a very long final question")});
  DefaultTokenCounter counter;
  WindowPolicy policy;
  policy.max_tokens = 10;
  auto plan = plan_window(req, policy, counter);
  EXPECT_TRUE(plan.over_budget);
  EXPECT_EQ(plan.dropped, 1u);
  EXPECT_FALSE(plan.drops(2, "user"));
}

TEST(WindowPlanTest, NoPolicyKeepsEverything) {
  auto req = english_chat(3);
  DefaultTokenCounter counter;
  auto plan = plan_window(req, WindowPolicy{}, counter);
  EXPECT_EQ(plan.dropped, 0u);
  EXPECT_EQ(plan.tokens_after, plan.tokens_before);
}

// Properties over random conversations (English, Chinese, tool calls, system messages anywhere):
// system messages all kept, kept messages unchanged and in order, a suffix of the rest, tool groups
// whole, and the token budget holds unless the last unit alone cannot fit.
TEST(WindowPlanTest, PropertyRandomConversations) {
  std::mt19937 rng(42);
  const char* texts[] = {"hello", "你好，请问北京明天天气怎么样？", "Explain the borrow checker in Rust with an example.",
                         "好的", "The answer is 42, see https://example.org/x.", "😀 ok", "数据库索引是什么？请举例说明。",
                         "a b c d e f g h i j k l m n o p"};
  DefaultTokenCounter counter;
  for (int round = 0; round < 500; ++round) {
    std::vector<api::Message> m;
    int n = 1 + static_cast<int>(rng() % 20);
    for (int i = 0; i < n; ++i) {
      int kind = static_cast<int>(rng() % 10);
      std::string t = texts[rng() % std::size(texts)];
      if (kind == 0) m.push_back(msg("system", "system " + t));
      else if (kind == 1) {
        m.push_back(tool_call("id" + std::to_string(i), "{\"q\":\"" + std::to_string(i) + "\"}"));
        int results = 1 + static_cast<int>(rng() % 2);
        for (int k = 0; k < results; ++k) m.push_back(tool_result("id" + std::to_string(i), t));
      } else if (kind < 6) m.push_back(msg("user", t));
      else m.push_back(msg("assistant", t));
    }
    auto req = request(m);
    WindowPolicy policy;
    policy.max_tokens = (rng() % 3 == 0) ? 0 : 5 + static_cast<int64_t>(rng() % 150);
    policy.max_turns = (rng() % 2 == 0 || policy.max_tokens == 0) ? 1 + static_cast<int64_t>(rng() % 5) : 0;
    policy.start_with_user = rng() % 2;
    auto plan = plan_window(req, policy, counter);
    auto kept_req = req;
    apply_window(kept_req, plan);

    // System messages kept; kept messages unchanged, in order; non-system kept form a suffix.
    size_t k = 0;
    bool dropping = true;
    int64_t tokens = 0;
    for (size_t i = 0; i < m.size(); ++i) {
      bool dropped = plan.drops(i, m[i].role);
      if (is_system_role(m[i].role)) { ASSERT_FALSE(dropped); }
      if (!is_system_role(m[i].role)) {
        if (!dropped) dropping = false;
        ASSERT_FALSE(dropped && !dropping) << "dropped message after a kept one at " << i;
      }
      if (dropped) continue;
      ASSERT_LT(k, kept_req.messages.size());
      ASSERT_EQ(kept_req.messages[k].content, m[i].content);
      ASSERT_EQ(kept_req.messages[k].role, m[i].role);
      tokens += message_tokens(m[i], req.model, counter, policy.message_overhead_tokens);
      // A kept tool result's calling assistant message is kept.
      if (m[i].is_tool_result()) {
        size_t j = i;
        while (j > 0 && m[j - 1].is_tool_result()) --j;
        if (j > 0 && m[j - 1].has_tool_calls()) { ASSERT_FALSE(plan.drops(j - 1, "assistant")); }
      }
      ++k;
    }
    ASSERT_EQ(k, kept_req.messages.size());
    ASSERT_EQ(tokens, plan.tokens_after);  // token counts match the counter
    if (policy.max_tokens > 0 && !plan.over_budget) { ASSERT_LE(tokens, policy.max_tokens); }
    // The last message is always kept.
    ASSERT_FALSE(plan.drops(m.size() - 1, m.back().role));
    if (policy.max_turns > 0) {
      int64_t users = 0;
      for (const auto& km : kept_req.messages) users += km.role == "user";
      ASSERT_LE(users, std::max<int64_t>(policy.max_turns, 1));
    }
  }
}

}  // namespace
}  // namespace kuai::stages
