#include "stages/slim_memo.h"

#include "stages/slim.h"

#include "stage_harness.h"

#include <gtest/gtest.h>

namespace kuai::stages {
namespace {

using testing::header;
using testing::msg;
using testing::PipelineRun;
using testing::request;

SlimMemo::Value value(std::string text) {
  SlimMemo::Value v;
  v.result.text = std::move(text);
  v.result.removed.push_back({RemovedSpan::Kind::Courtesy, 0, 7});
  v.tokens_saved = 2;
  return v;
}

TEST(SlimMemoTest, HitsOnlyOnTheSameTextFlagsAndModel) {
  SlimMemo memo(1 << 20);
  const uint64_t k = SlimMemo::key("Thanks! Where is my parcel?", 1, "m");
  memo.put(k, "Thanks! Where is my parcel?", value("Where is my parcel?"));
  SlimMemo::Value out;
  ASSERT_TRUE(memo.find(k, "Thanks! Where is my parcel?", out));
  EXPECT_EQ(out.result.text, "Where is my parcel?");
  EXPECT_EQ(out.tokens_saved, 2);
  ASSERT_EQ(out.result.removed.size(), 1u);
  // The same key with another text (a hash collision) is a miss, never the other text's result.
  EXPECT_FALSE(memo.find(k, "Thanks! Where is my order?", out));
  EXPECT_NE(SlimMemo::key("Thanks! Where is my parcel?", 0, "m"), k);
  EXPECT_NE(SlimMemo::key("Thanks! Where is my parcel?", 1, "other"), k);
}

TEST(SlimMemoTest, BoundedByBytesLeastRecentlyUsedOut) {
  SlimMemo memo(16 << 10);
  for (int i = 0; i < 200; ++i) {
    std::string t = "message " + std::to_string(i) + std::string(200, 'x');
    memo.put(SlimMemo::key(t, 0, ""), t, value(t.substr(8)));
    // The first message stays in use, so it stays.
    SlimMemo::Value out;
    const std::string first = "message 0" + std::string(200, 'x');
    EXPECT_TRUE(memo.find(SlimMemo::key(first, 0, ""), first, out)) << i;
  }
  EXPECT_LE(memo.bytes(), size_t{16} << 10);
  EXPECT_LT(memo.entries(), 200u);
  SlimMemo off(0);
  EXPECT_FALSE(off.enabled());
  off.put(1, "a", value("b"));
  SlimMemo::Value out;
  EXPECT_FALSE(off.find(1, "a", out));
}

TEST(SlimMemoTest, StageWithMemoEqualsStageWithout) {
  PipelineRun memo("pipeline: [slim]\n");
  PipelineRun none("pipeline: [slim]\nstages: {slim: {memo_mb: 0}}\n");
  std::vector<api::Message> m{msg("system", "You are a helpful assistant.")};
  const char* turns[] = {"Hi there! Sorry to bother you. My parcel id is PX-5521.", "Thanks, I see PX-5521. Glad to help!",
                         "您好！麻烦您了，订单号是DD20240901。", "好的，已查到。", "Thank you so much!", "You're welcome!",
                         "Great, thanks! Where is it now?", "It is in Lyon."};
  for (const char* t : turns) {
    m.push_back(msg(m.size() % 2 ? "user" : "assistant", t));
    if (m.back().role != "user") continue;
    // Each turn twice: the second request finds every message in the memo.
    for (int again = 0; again < 2; ++again) {
      auto a = memo.run(request(m));
      auto b = none.run(request(m));
      ASSERT_EQ(a.request.messages.size(), b.request.messages.size());
      for (size_t i = 0; i < a.request.messages.size(); ++i) EXPECT_EQ(a.request.messages[i].content, b.request.messages[i].content);
      EXPECT_EQ(header(a, "x-kuai-slim"), header(b, "x-kuai-slim"));
      EXPECT_EQ(a.tokens_saved, b.tokens_saved);
    }
  }
  EXPECT_THROW(PipelineRun("pipeline: [slim]\nstages: {slim: {memo_mb: -1}}\n"), std::runtime_error);
}

}  // namespace
}  // namespace kuai::stages
