#include "stages/window.h"

#include "stage_harness.h"

#include <gtest/gtest.h>

namespace kuai::stages {
namespace {

using testing::header;
using testing::msg;
using testing::PipelineRun;
using testing::request;

api::ChatRequest conversation(bool chinese, int turns) {
  std::vector<api::Message> m{msg("system", chinese ? "你是一个简洁的助手。" : "You are a concise assistant.")};
  for (int t = 0; t < turns; ++t) {
    m.push_back(msg("user", chinese ? "第" + std::to_string(t) + "轮：请介绍一下长城的历史。"
                                    : "Turn " + std::to_string(t) + ": tell me about the history of Rome."));
    m.push_back(msg("assistant", chinese ? "长城始建于春秋战国时期，明朝大规模修筑。"
                                         : "Rome was founded in 753 BC and grew into an empire."));
  }
  m.push_back(msg("user", chinese ? "最后一个问题：现在还能去参观吗？" : "Last question: can I visit today?"));
  return request(std::move(m));
}

TEST(WindowStageTest, OnVsOffTurns) {
  for (bool chinese : {false, true}) {
    PipelineRun off("pipeline: [window]\nstages: {window: {enabled: false, max_turns: 2}}\n");
    PipelineRun on("pipeline: [window]\nstages: {window: {max_turns: 2}}\n");
    auto original = conversation(chinese, 10);
    auto ctx_off = off.run(original);
    auto ctx_on = on.run(original);
    EXPECT_EQ(ctx_off.request.messages.size(), original.messages.size());
    EXPECT_EQ(ctx_off.tokens_saved, 0);
    // Changes: old turns gone, tokens saved, header.
    ASSERT_EQ(ctx_on.request.messages.size(), 4u);
    EXPECT_GT(ctx_on.tokens_saved, 0);
    EXPECT_EQ(header(ctx_on, "x-kuai-window").rfind("kept=4; dropped=18;", 0), 0u) << header(ctx_on, "x-kuai-window");
    // Stays: the system prompt and the newest messages, byte for byte.
    EXPECT_EQ(ctx_on.request.messages[0].content, original.messages[0].content);
    for (size_t k = 1; k <= 3; ++k)
      EXPECT_EQ(ctx_on.request.messages[4 - k].content, original.messages[original.messages.size() - k].content);
  }
}

TEST(WindowStageTest, AdminLastReportsKeptAndDropped) {
  PipelineRun on("pipeline: [window]\nstages: {window: {max_turns: 2}}\n");
  auto* stage = on.pipe.find("window");
  auto empty = stage->on_admin("GET", "last", "");
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->body, "{}");
  auto ctx = on.run(conversation(false, 10));
  auto reply = stage->on_admin("GET", "last", "");
  ASSERT_TRUE(reply);
  auto o = boost::json::parse(reply->body).as_object();
  EXPECT_EQ(o.at("request_id").as_string(), "chatcmpl-test");
  EXPECT_EQ(o.at("kept").as_int64(), 4);
  EXPECT_EQ(o.at("dropped").as_int64(), 18);
  const auto& msgs = o.at("messages").as_array();
  ASSERT_EQ(msgs.size(), 22u);
  EXPECT_EQ(msgs[0].at("role").as_string(), "system");
  EXPECT_TRUE(msgs[0].at("kept").as_bool());
  EXPECT_FALSE(msgs[1].at("kept").as_bool());
  EXPECT_TRUE(msgs[21].at("kept").as_bool());
  EXPECT_GT(o.at("tokens_before").as_int64(), o.at("tokens_after").as_int64());
  EXPECT_FALSE(stage->on_admin("POST", "last", ""));
}

TEST(WindowStageTest, TokenBudgetHolds) {
  for (bool chinese : {false, true}) {
    PipelineRun on("pipeline: [window]\nstages: {window: {max_tokens: 120}}\n");
    auto ctx = on.run(conversation(chinese, 20));
    const auto& counter = static_cast<WindowStage*>(on.pipe.find("window"))->counter();
    int64_t total = 0;
    for (const auto& m : ctx.request.messages) total += message_tokens(m, ctx.request.model, counter, 4);
    EXPECT_LE(total, 120);
    EXPECT_GT(total, 60);  // a sliding window, not an empty one
    EXPECT_EQ(ctx.request.messages[0].role, "system");
    EXPECT_EQ(ctx.request.messages[1].role, "user");
  }
}

TEST(WindowStageTest, ConfigErrors) {
  EXPECT_THROW(PipelineRun("pipeline: [window]\n"), std::runtime_error);  // no policy
  EXPECT_THROW(PipelineRun("pipeline: [window]\nstages: {window: {max_turns: -1}}\n"), std::runtime_error);
  EXPECT_THROW(PipelineRun("pipeline: [window]\nstages: {window: {max_tokens: lots}}\n"), std::runtime_error);
  EXPECT_THROW(PipelineRun("pipeline: [window]\nstages: {window: {max_turns: 2, tokenizers: {m: /no/such.gguf}}}\n"),
               std::runtime_error);
}

TEST(WindowStageTest, SlimThenWindowAddUp) {
  PipelineRun both("pipeline: [slim, window]\nstages: {window: {max_turns: 1}}\n");
  auto req = conversation(false, 3);
  req.messages.back().content = "Hi there! Last question: can I visit today? Thanks in advance!";
  auto ctx = both.run(req);
  EXPECT_EQ(ctx.request.messages.back().content, "Last question: can I visit today?");
  EXPECT_EQ(ctx.request.messages.size(), 2u);
  EXPECT_FALSE(header(ctx, "x-kuai-slim").empty());
  EXPECT_FALSE(header(ctx, "x-kuai-window").empty());
  EXPECT_GT(ctx.tokens_saved, 20);
}

}  // namespace
}  // namespace kuai::stages
