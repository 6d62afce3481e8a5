#include "stages/summarize.h"

#include "stages/summary_keywords.h"
#include "stage_harness.h"
#include "support/process.h"

#include <gtest/gtest.h>

namespace kuai::stages {
namespace {

using testing::header;
using testing::msg;
using testing::PipelineRun;
using testing::request;

api::ChatRequest english(int turns) {
  std::vector<api::Message> m{msg("system", "You are a programming tutor.")};
  const char* topics[] = {"the Rust borrow checker and lifetimes", "Rust lifetimes in struct fields",
                          "the borrow checker with mutable references", "async Rust and the tokio runtime",
                          "Rust traits and generics"};
  for (int t = 0; t < turns; ++t) {
    m.push_back(msg("user", std::string("Explain ") + topics[t % 5] + ", part " + std::to_string(t) + "."));
    m.push_back(msg("assistant", std::string("Here is an explanation of ") + topics[t % 5] +
                                     ": the borrow checker enforces ownership rules at compile time."));
  }
  m.push_back(msg("user", "Now give me an exercise."));
  return request(std::move(m));
}

api::ChatRequest chinese(int turns) {
  std::vector<api::Message> m{msg("system", "你是一个旅行顾问。")};
  for (int t = 0; t < turns; ++t) {
    m.push_back(msg("user", "我想去北京旅游，故宫和长城怎么安排？第" + std::to_string(t) + "次提问。"));
    m.push_back(msg("assistant", "建议第一天参观故宫和天安门，第二天去八达岭长城，晚上吃北京烤鸭。"));
  }
  m.push_back(msg("user", "那么酒店住在哪里比较方便？"));
  return request(std::move(m));
}

const api::Message* find_summary(const api::ChatRequest& r) {
  for (const auto& m : r.messages)
    if (m.role == "system" && (m.content.rfind("Earlier conversation", 0) == 0 || m.content.rfind("此前对话要点", 0) == 0))
      return &m;
  return nullptr;
}

TEST(SummaryKeywordsTest, EnglishAndChinesePhrases) {
  std::vector<std::string_view> en = {"The borrow checker enforces ownership rules.",
                                      "Lifetimes help the borrow checker with references.",
                                      "The borrow checker rejects dangling references."};
  auto p = key_phrases(en, 5);
  ASSERT_FALSE(p.empty());
  EXPECT_NE(p[0].text.find("borrow checker"), std::string::npos) << p[0].text;
  std::vector<std::string_view> zh = {"我想去北京旅游，故宫和长城怎么安排？", "建议第一天参观故宫，第二天去长城，晚上吃北京烤鸭。",
                                      "故宫需要提前预约门票。"};
  std::string s = keyword_summary(zh, 6);
  EXPECT_EQ(s.rfind("此前对话要点：", 0), 0u) << s;
  EXPECT_NE(s.find("故宫"), std::string::npos) << s;
  EXPECT_EQ(s.find("的"), std::string::npos) << s;  // no stop characters
}

TEST(SummarizeStageTest, OnVsOffKeywords) {
  for (bool zh : {false, true}) {
    auto original = zh ? chinese(8) : english(8);
    PipelineRun off("pipeline: [summarize, window]\nstages: {summarize: {enabled: false}, window: {max_turns: 2}}\n");
    PipelineRun on("pipeline: [summarize, window]\nstages: {summarize: {mode: keywords}, window: {max_turns: 2}}\n");
    auto ctx_off = off.run(original);
    auto ctx_on = on.run(original);
    // Off: the window alone; no summary.
    EXPECT_EQ(ctx_off.request.messages.size(), 4u);
    EXPECT_EQ(find_summary(ctx_off.request), nullptr);
    // On: one summary message after the system prompt, then the same window.
    ASSERT_EQ(ctx_on.request.messages.size(), 5u);
    const api::Message* s = find_summary(ctx_on.request);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s, &ctx_on.request.messages[1]);
    EXPECT_NE(s->content.find(zh ? "故宫" : "borrow checker"), std::string::npos) << s->content;
    EXPECT_EQ(ctx_on.request.messages[0].content, original.messages[0].content);
    for (size_t k = 1; k <= 3; ++k)
      EXPECT_EQ(ctx_on.request.messages[5 - k].content, original.messages[original.messages.size() - k].content);
    EXPECT_EQ(header(ctx_on, "x-kuai-summary").rfind("computed; dropped=14", 0), 0u) << header(ctx_on, "x-kuai-summary");
    EXPECT_GT(ctx_on.tokens_saved, 0);
    EXPECT_LT(ctx_on.tokens_saved, ctx_off.tokens_saved);  // the summary costs a few tokens
  }
}

// A conversation with facts early on (an order number, an allergy) and small talk after.
api::ChatRequest facts_then_chat(int turns, const std::string& question) {
  std::vector<api::Message> m{msg("system", "You are a support agent for an online grocery.")};
  m.push_back(msg("user", "My order number is GX-40917 and my son is allergic to peanuts."));
  m.push_back(msg("assistant", "Noted: order GX-40917, no peanuts."));
  for (int t = 0; t < turns; ++t) {
    m.push_back(msg("user", "Can you tell me more about the delivery slots on day " + std::to_string(t) + "?"));
    m.push_back(msg("assistant", "Slots run from 8 to 20 every day; evening slots fill up first."));
  }
  m.push_back(msg("user", question));
  return request(std::move(m));
}

TEST(SummarizeStageTest, LedgerReportsAndAdminLast) {
  const std::string yaml = "pipeline: [summarize, window]\nstages: {window: {max_tokens: 120}}\n";
  PipelineRun on(yaml);
  auto* stage = on.pipe.find("summarize");
  auto empty = stage->on_admin("GET", "last", "");
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->body, "{}");
  auto ctx = on.run(facts_then_chat(8, "Which items in my order contain peanuts?"));
  const std::string h = header(ctx, "x-kuai-summary");
  EXPECT_EQ(h.rfind("ledger; dropped=", 0), 0u) << h;
  EXPECT_NE(h.find("; facts="), std::string::npos) << h;
  auto reply = stage->on_admin("GET", "last", "");
  ASSERT_TRUE(reply);
  auto o = boost::json::parse(reply->body).as_object();
  EXPECT_EQ(o.at("request_id").as_string(), "chatcmpl-test");
  EXPECT_EQ(o.at("mode").as_string(), "ledger");
  EXPECT_EQ(std::string(o.at("report").as_string()).rfind(h.substr(0, h.find("; tokens_saved")), 0), 0u);
  EXPECT_GE(o.at("dropped").as_array().size(), 2u);
  EXPECT_EQ(o.at("dropped").as_array()[0].as_int64(), 1);  // the first user turn (index in the request)
  const std::string note(o.at("summary").as_string());
  EXPECT_NE(note.find("GX-40917"), std::string::npos) << note;
  EXPECT_NE(note.find("allergic to peanuts"), std::string::npos) << note;
}

TEST(SummarizeStageTest, LedgerMemoChangesNothing) {
  // Turn after turn of one conversation, with the per-message memo and without it: the same requests.
  PipelineRun memo("pipeline: [summarize, window]\nstages: {window: {max_tokens: 150}}\n");
  PipelineRun none("pipeline: [summarize, window]\nstages: {summarize: {ledger_memo_mb: 0}, window: {max_tokens: 150}}\n");
  for (int turns = 2; turns < 12; ++turns) {
    for (const char* q : {"Which items in my order contain peanuts?", "订单里哪些东西含有花生？"}) {
      auto a = memo.run(facts_then_chat(turns, q));
      auto b = none.run(facts_then_chat(turns, q));
      ASSERT_EQ(a.request.messages.size(), b.request.messages.size());
      for (size_t i = 0; i < a.request.messages.size(); ++i)
        EXPECT_EQ(a.request.messages[i].content, b.request.messages[i].content) << turns << " " << q;
      EXPECT_EQ(header(a, "x-kuai-summary"), header(b, "x-kuai-summary"));
    }
  }
}

TEST(SummarizeStageTest, MemoisedPerPrefix) {
  PipelineRun on("pipeline: [summarize, window]\nstages: {summarize: {mode: keywords}, window: {max_turns: 2}}\n");
  auto* stage = static_cast<SummarizeStage*>(on.pipe.find("summarize"));
  auto c1 = on.run(english(6));
  auto c2 = on.run(english(6));
  EXPECT_EQ(stage->computed(), 1);
  EXPECT_EQ(header(c2, "x-kuai-summary").rfind("hit;", 0), 0u);
  EXPECT_EQ(find_summary(c1.request)->content, find_summary(c2.request)->content);
  // Another tenant never shares a summary.
  pipeline::Context ctx;
  ctx.tenant.name = "other";
  ctx.request = english(6);
  ctx.services = &on.services;
  auto fut = boost::asio::co_spawn(on.io, on.pipe.run_request(ctx), boost::asio::use_future);
  on.io.restart();
  on.io.run();
  fut.get();
  EXPECT_EQ(stage->computed(), 2);
}

TEST(SummarizeStageTest, TokenBudgetHoldsWithSummary) {
  PipelineRun on("pipeline: [summarize, window]\nstages: {summarize: {max_tokens: 40}, window: {max_tokens: 150}}\n");
  for (int turns : {3, 10, 25}) {
    for (bool zh : {false, true}) {
      auto ctx = on.run(zh ? chinese(turns) : english(turns));
      DefaultTokenCounter counter;
      int64_t total = 0;
      for (const auto& m : ctx.request.messages) total += message_tokens(m, ctx.request.model, counter, 4);
      EXPECT_LE(total, 150) << turns;
      EXPECT_EQ(ctx.request.messages[0].role, "system");
      // The window stage found nothing more to drop: the summary covers all that went.
      if (turns > 3) {
        EXPECT_NE(header(ctx, "x-kuai-window").find("dropped=0"), std::string::npos) << header(ctx, "x-kuai-window");
      }
    }
  }
}

TEST(SummarizeStageTest, AsyncSummarisesAfterTheAnswerForTheNextTurn) {
  PipelineRun on("pipeline: [summarize, window]\nstages: {summarize: {mode: keywords, async: true}, window: {max_turns: 2}}\n");
  auto* stage = static_cast<SummarizeStage*>(on.pipe.find("summarize"));
  // Turn 1: a miss: nobody waits, the plain window applies.
  auto ctx1 = on.run(english(5));
  EXPECT_EQ(header(ctx1, "x-kuai-summary").rfind("pending;", 0), 0u) << header(ctx1, "x-kuai-summary");
  EXPECT_EQ(find_summary(ctx1.request), nullptr);
  EXPECT_EQ(stage->computed(), 0);
  // The answer: summaries are computed in the background (this turn's and the next turn's prefix).
  api::ChatResponse answer;
  answer.choices.push_back({0, "Exercise: write a function that borrows a vector.", "stop", {}});
  on.pipe.run_response(ctx1, answer);
  on.io.restart();
  on.io.run();
  EXPECT_EQ(stage->computed(), 2);
  // Turn 2 (the conversation + the answer + a new question) is a hit, with no computation.
  auto next = english(5);
  next.messages.push_back(msg("assistant", "Exercise: write a function that borrows a vector."));
  next.messages.push_back(msg("user", "Give me one more."));
  auto ctx2 = on.run(next);
  EXPECT_EQ(header(ctx2, "x-kuai-summary").rfind("hit;", 0), 0u) << header(ctx2, "x-kuai-summary");
  EXPECT_NE(find_summary(ctx2.request), nullptr);
  EXPECT_EQ(stage->computed(), 2);
}

TEST(SummarizeStageTest, ConfigErrors) {
  EXPECT_THROW(PipelineRun("pipeline: [summarize]\n"), std::runtime_error);  // no window policy
  EXPECT_THROW(PipelineRun("pipeline: [window, summarize]\nstages: {window: {max_turns: 2}}\n"), std::runtime_error);
  EXPECT_THROW(PipelineRun("pipeline: [summarize, window]\nstages: {summarize: {mode: magic}, window: {max_turns: 2}}\n"),
               std::runtime_error);
  EXPECT_THROW(PipelineRun("pipeline: [summarize, window]\nstages: {summarize: {mode: model}, window: {max_turns: 2}}\n"),
               std::runtime_error);
}

// Two kuai instances (two pipelines) share summaries through a real Redis: summarised once.
TEST(SummarizeStageTest, RedisSharesSummariesBetweenInstances) {
  uint16_t port = kuai::test::free_port();
  kuai::test::ChildProcess redis("/usr/bin/redis-server", {"--port", std::to_string(port), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no"});
  std::string url = "redis://127.0.0.1:" + std::to_string(port);
  RedisSummaries probe(url, std::chrono::milliseconds(200), 60);
  for (int i = 0; i < 100 && !probe.reachable(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(probe.reachable());
  std::string yaml = "pipeline: [summarize, window]\nstages: {summarize: {mode: keywords, redis: '" + url + "'}, window: {max_turns: 2}}\n";
  PipelineRun a(yaml), b(yaml);
  auto ca = a.run(chinese(6));
  auto cb = b.run(chinese(6));
  EXPECT_EQ(static_cast<SummarizeStage*>(a.pipe.find("summarize"))->computed(), 1);
  EXPECT_EQ(static_cast<SummarizeStage*>(b.pipe.find("summarize"))->computed(), 0);
  EXPECT_EQ(header(cb, "x-kuai-summary").rfind("hit;", 0), 0u);
  EXPECT_EQ(find_summary(ca.request)->content, find_summary(cb.request)->content);
}

TEST(SummarizeStageTest, UnreachableRedisIsAMissNotAnError) {
  uint16_t port = kuai::test::free_port();
  PipelineRun on("pipeline: [summarize, window]\nstages: {summarize: {mode: keywords, redis: '127.0.0.1:" + std::to_string(port) +
                 "', redis_timeout_ms: 20}, window: {max_turns: 2}}\n");
  auto ctx = on.run(english(4));
  EXPECT_NE(find_summary(ctx.request), nullptr);
}

}  // namespace
}  // namespace kuai::stages
