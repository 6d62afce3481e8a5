#include "stages/slim.h"

#include "stage_harness.h"

#include <gtest/gtest.h>

namespace kuai::stages {
namespace {

using testing::header;
using testing::msg;
using testing::PipelineRun;
using testing::request;

api::ChatRequest english() {
  return request({msg("system", "You are a helpful assistant.\n\n\n\nAnswer briefly."),
                  msg("user", "Hi there! I hope this message finds you well. What is the boiling point of water "
                              "at 2000 m? Please take your time and think carefully. Thanks in advance!"),
                  msg("assistant", "Hi there! About 93 °C. Thanks in advance!"),
                  msg("user", "```\nHi there!   keep   me\n```\nHi there! And at 3000 m?")});
}

api::ChatRequest chinese() {
  return request({msg("system", "你是一个旅行助手。"),
                  msg("user", "您好！请你耐心理解用户提问，不要着急。北京到上海的高铁要多久？谢谢！"),
                  msg("assistant", "大约4.5小时。"),
                  msg("user", "麻烦了，那票价是多少？“谢谢！”这句话怎么翻译？")});
}

TEST(SlimStageTest, OnVsOffEnglish) {
  PipelineRun off("pipeline: [slim]\nstages: {slim: {enabled: false}}\n");
  PipelineRun on("pipeline: [slim]\n");
  auto ctx_off = off.run(english());
  auto ctx_on = on.run(english());
  // Off: nothing changes, nothing reported.
  EXPECT_EQ(ctx_off.request.messages[1].content, english().messages[1].content);
  EXPECT_EQ(ctx_off.tokens_saved, 0);
  EXPECT_EQ(header(ctx_off, "x-kuai-slim"), "");
  // On: what must change.
  EXPECT_EQ(ctx_on.request.messages[0].content, "You are a helpful assistant.\n\nAnswer briefly.");
  EXPECT_EQ(ctx_on.request.messages[1].content, "What is the boiling point of water at 2000 m?");
  EXPECT_EQ(ctx_on.request.messages[3].content, "```\nHi there!   keep   me\n```\nAnd at 3000 m?");
  EXPECT_GT(ctx_on.tokens_saved, 10);
  EXPECT_NE(header(ctx_on, "x-kuai-slim").find("tokens_saved=" + std::to_string(ctx_on.tokens_saved)), std::string::npos);
  // Earlier assistant turns are input tokens too: their courtesy goes, their content stays.
  EXPECT_EQ(ctx_on.request.messages[2].content, "About 93 °C.");
  // What must stay: roles, message count, model.
  EXPECT_EQ(ctx_on.request.messages.size(), 4u);
  EXPECT_EQ(ctx_on.request.model, "test-model");
}

TEST(SlimStageTest, OnVsOffChinese) {
  PipelineRun on("pipeline: [slim]\n");
  auto ctx = on.run(chinese());
  EXPECT_EQ(ctx.request.messages[1].content, "北京到上海的高铁要多久？");
  EXPECT_EQ(ctx.request.messages[3].content, "那票价是多少？“谢谢！”这句话怎么翻译？");  // the quote stays
  EXPECT_EQ(ctx.request.messages[2].content, "大约4.5小时。");
  EXPECT_GT(ctx.tokens_saved, 10);
}

TEST(SlimStageTest, DryRunReportsWithoutChanging) {
  PipelineRun dry("pipeline: [slim]\nstages: {slim: {dry_run: true}}\n");
  auto ctx = dry.run(english());
  auto original = english();
  for (size_t i = 0; i < original.messages.size(); ++i)
    EXPECT_EQ(ctx.request.messages[i].content, original.messages[i].content);
  EXPECT_EQ(ctx.tokens_saved, 0);
  std::string h = header(ctx, "x-kuai-slim");
  EXPECT_NE(h.find("dry_run"), std::string::npos) << h;
  EXPECT_NE(h.find("tokens_saved="), std::string::npos) << h;
  // The admin endpoint shows the spans that would have gone.
  auto* stage = dry.pipe.find("slim");
  ASSERT_NE(stage, nullptr);
  auto reply = stage->on_admin("GET", "last", "");
  ASSERT_TRUE(reply);
  EXPECT_NE(reply->body.find("I hope this message finds you well"), std::string::npos) << reply->body;
}

TEST(SlimStageTest, ExtraPhrasesRolesAndNoBuiltins) {
  PipelineRun run("pipeline: [slim]\nstages:\n  slim:\n    builtin_phrases: false\n    roles: [user, assistant]\n"
                  "    extra_phrases: [\"As an AI language model\", \"据我所知\"]\n");
  auto ctx = run.run(request({msg("system", "Hi there!   sys"), msg("user", "Hi there! As an AI language model, fine."),
                              msg("assistant", "据我所知，答案是42。")}));
  EXPECT_EQ(ctx.request.messages[0].content, "Hi there!   sys");  // role not listed
  EXPECT_EQ(ctx.request.messages[1].content, "Hi there! fine.");  // builtin list off
  EXPECT_EQ(ctx.request.messages[2].content, "答案是42。");
}

TEST(SlimStageTest, ImagePartsAreNeverRewritten) {
  auto m = msg("user", "Hi there! What is in this picture?");
  m.raw["content"] = boost::json::array{{{"type", "text"}, {"text", m.content}},
                                        {{"type", "image_url"}, {"image_url", {{"url", "data:image/png;base64,AAAA"}}}}};
  PipelineRun run("pipeline: [slim]\n");
  auto ctx = run.run(request({m}));
  EXPECT_EQ(ctx.request.messages[0].content, "Hi there! What is in this picture?");
  EXPECT_EQ(ctx.tokens_saved, 0);
}

TEST(SlimStageTest, BadConfigIsAnError) {
  EXPECT_THROW(PipelineRun("pipeline: [slim]\nstages: {slim: {extra_phrases: 3}}\n"), std::runtime_error);
  EXPECT_THROW(PipelineRun("pipeline: [slim]\nstages: {slim: {phrase_files: [/no/such/file]}}\n"), std::runtime_error);
  EXPECT_THROW(PipelineRun("pipeline: [slim]\nstages: {slim: {dry_run: maybe}}\n"), std::runtime_error);
}

TEST(SlimStageTest, CourtesyOnlyTurnsAreEmptiedOrRemovedInPairs) {
  PipelineRun on("pipeline: [slim]\n");
  auto ctx = on.run(request({msg("system", "You are a helpful assistant."),
                             msg("user", "My parcel id is PX-5521."),
                             msg("assistant", "Thanks, I see PX-5521. Glad to help!"),
                             msg("user", "Thank you so much for your patience, truly!"),
                             msg("assistant", "You're very welcome!"),
                             msg("user", "Sorry, one moment."),
                             msg("assistant", "When will it arrive? Friday."),
                             msg("user", "Thanks a lot!")}));
  const auto& m = ctx.request.messages;
  ASSERT_EQ(m.size(), 6u);  // the courtesy-only user+assistant pair is gone, order kept
  EXPECT_EQ(m[0].content, "You are a helpful assistant.");  // system prompts: no classifier
  EXPECT_EQ(m[2].content, "I see PX-5521.");
  EXPECT_EQ(m[3].role, "user");
  EXPECT_EQ(m[3].content, "");                   // emptied, its reply has content
  EXPECT_EQ(m[4].content, "When will it arrive? Friday.");
  EXPECT_EQ(m[5].content, "Thanks a lot!");      // the last message is never emptied
  EXPECT_NE(header(ctx, "x-kuai-slim").find("messages_removed=2"), std::string::npos) << header(ctx, "x-kuai-slim");
}

}  // namespace
}  // namespace kuai::stages
