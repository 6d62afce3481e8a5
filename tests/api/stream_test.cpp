#include "api/stream.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

using namespace kuai::api;
namespace json = boost::json;

TEST(Stream, ChunkJsonIsTheOpenAIChunkShape) {
  auto v = json::parse(chunk_json("id1", "m\"x", 10, "assistant", "", std::nullopt)).as_object();
  EXPECT_EQ(v.at("object").as_string(), "chat.completion.chunk");
  EXPECT_EQ(v.at("model").as_string(), "m\"x");
  auto& c = v.at("choices").as_array()[0].as_object();
  EXPECT_EQ(c.at("delta").at("role").as_string(), "assistant");
  EXPECT_TRUE(c.at("finish_reason").is_null());
  auto fin = json::parse(chunk_json("id1", "m", 10, "", "", "stop")).as_object();
  EXPECT_TRUE(fin.at("choices").as_array()[0].at("delta").as_object().empty());
  EXPECT_EQ(fin.at("choices").as_array()[0].at("finish_reason").as_string(), "stop");
  auto u = json::parse(usage_chunk_json("id1", "m", 10, Usage{3, 4})).as_object();
  EXPECT_TRUE(u.at("choices").as_array().empty());
  EXPECT_EQ(u.at("usage").at("total_tokens").as_int64(), 7);
  EXPECT_EQ(sse_event("{}"), "data: {}\n\n");
}

TEST(Stream, ReplayThenAssembleGivesTheSameAnswer) {
  ChatResponse r;
  r.id = std::string("chatcmpl-1");
  r.model = std::string("m");
  r.created = 5;
  Choice c;
  c.content = "你好，世界。This answer is long enough to be cut into several pieces at word boundaries, "
              "and the pieces must join back to exactly the same text 🙂.";
  c.finish_reason = "length";
  r.choices.push_back(c);
  r.usage = Usage{11, 22};
  auto chunks = replay_chunks(r, true, 16);
  ASSERT_GT(chunks.size(), 5u);
  ResponseAssembler a;
  for (const auto& ch : chunks) {
    auto v = json::parse(ch.json);  // each chunk is valid JSON (no split UTF-8 sequences)
    EXPECT_EQ(v.at("id").as_string(), "chatcmpl-1");
    a.add(ch);
  }
  EXPECT_TRUE(a.finished());
  auto back = a.take("x", "m", 5);
  EXPECT_EQ(back.text(), c.content);
  EXPECT_EQ(back.choices[0].finish_reason, "length");
  ASSERT_TRUE(back.usage);
  EXPECT_EQ(back.usage->completion_tokens, 22);
  EXPECT_FALSE(chunks.back().usage == std::nullopt);
}

TEST(Stream, CompletionShapes) {
  ChatResponse r;
  r.id = std::string("cmpl-1");
  r.model = std::string("m");
  r.choices.push_back(Choice{0, "text", "stop", {}});
  auto v = json::parse(completion_json(r)).as_object();
  EXPECT_EQ(v.at("object").as_string(), "text_completion");
  EXPECT_EQ(v.at("choices").as_array()[0].at("text").as_string(), "text");
  auto ch = json::parse(completion_chunk_json("cmpl-1", "m", 1, "t", std::nullopt)).as_object();
  EXPECT_EQ(ch.at("choices").as_array()[0].at("text").as_string(), "t");
}
