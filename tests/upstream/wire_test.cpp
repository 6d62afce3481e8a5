#include "upstream/wire.h"

#include <gtest/gtest.h>

namespace kuai::upstream {
namespace {

TEST(UpstreamWire, ChatResponseAndChunk) {
  auto r = parse_chat_response(
      R"({"id":"x","model":"m","created":5,"choices":[{"index":0,"message":{"role":"assistant","content":"hi","tool_calls":[]},"finish_reason":"length"}],"usage":{"prompt_tokens":3,"completion_tokens":1},"extra":1})");
  EXPECT_EQ(r.text(), "hi");
  EXPECT_EQ(r.choices[0].finish_reason, "length");
  EXPECT_TRUE(r.choices[0].message_raw.contains("tool_calls"));
  EXPECT_EQ(r.usage->prompt_tokens, 3);
  EXPECT_TRUE(r.raw.contains("extra"));
  auto c = parse_chat_chunk(R"({"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]})");
  EXPECT_EQ(c.delta, "a");
  EXPECT_FALSE(c.finish_reason.has_value());
  auto u = parse_chat_chunk(R"({"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}})");
  EXPECT_EQ(u.usage->completion_tokens, 2);
}

TEST(UpstreamWire, GarbageIs502) {
  for (const char* bad : {"", "not json", "[1,2]", R"({"choices":5})", R"({"choices":[{"index":0}]})"}) {
    try {
      parse_chat_response(bad);
      ADD_FAILURE() << bad;
    } catch (const api::Error& e) {
      EXPECT_EQ(e.status(), 502) << bad;
      EXPECT_EQ(e.code(), "bad_upstream_response");
    }
  }
  EXPECT_THROW(parse_chat_chunk("{oops"), api::Error);
  EXPECT_THROW(parse_embeddings(R"({"data":[{"embedding":"base64"}]})"), api::Error);
}

TEST(UpstreamWire, CheckOnlyGivesTheSameVerdictAsTheFullParse) {
  std::string big_content(20000, 'x');  // past the scratch buffer: the DOM spills to the heap
  const std::vector<std::string> bodies = {
      "", "not json", "[1,2]", R"({"choices":5})", R"({"choices":[{"index":0}]})", R"({"choices":[7]})",
      R"({"choices":[{"message":"text"}]})", R"({"choices":[]})",
      R"({"choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}],"usage":{"prompt_tokens":1}})",
      R"({"choices":[{"message":{"content":")" + big_content + R"("}}]})", "{\"choices\":[{\"message\":{}}]} trailing",
      R"({"choices":[{"message":{}},{"message":null},{"index":1}]})", R"({"choices":[{"index":0},5]})",
      R"({"choices":[[{"message":{}}]]})", R"({"choices":{"message":{}}})", R"({"x":[1,{"choices":[]}],"choices":[]})",
      R"({"choices":5,"choices":[{"message":{}}]})", R"({"choices":[{"message":{}}],"choices":"no"})",
      R"({"choices":[{"message":{},"message":1}]})", R"({"choices":[{"message":1,"message":{"a":[{}]}}]})",
      R"({"cho\u0069ces":[{"mess\u0061ge":{}}]})", R"({"choices":[{"message":{"message":5}}],"usage":{"choices":1}})",
      std::string(40, '[') + std::string(40, ']'), R"({"choices":[{"message":{}}]})" "\n ", "null", "\"s\""};
  int valid = 0, invalid = 0;
  for (const auto& body : bodies) {
    std::string full, check;
    try {
      parse_chat_response(body);
    } catch (const api::Error& e) {
      full = e.what();
    }
    try {
      check_chat_response(body);
    } catch (const api::Error& e) {
      check = e.what();
    }
    EXPECT_EQ(check, full) << body;
    (full.empty() ? valid : invalid) += 1;
  }
  EXPECT_GE(valid, 8);  // both verdicts are exercised
  EXPECT_GE(invalid, 14);
}

TEST(UpstreamWire, StatusMapping) {
  EXPECT_EQ(error_from_status(429, "", "2", "", "b").status(), 429);
  EXPECT_EQ(error_from_status(429, "", "2", "", "b").retry_after_ms, 2000);
  EXPECT_EQ(error_from_status(429, "", "2", "150", "b").retry_after_ms, 150);  // retry-after-ms wins
  EXPECT_EQ(error_from_status(400, R"({"error":{"message":"bad field","type":"invalid_request_error"}})", "", "", "b").status(), 400);
  EXPECT_NE(std::string(error_from_status(400, R"({"error":{"message":"bad field"}})", "", "", "b").what()).find("bad field"),
            std::string::npos);
  EXPECT_EQ(error_from_status(401, "", "", "", "b").status(), 502);
  EXPECT_EQ(error_from_status(500, "", "", "", "b").status(), 502);
  EXPECT_EQ(error_from_status(503, "", "", "", "b").status(), 503);
  EXPECT_EQ(error_from_status(504, "", "", "", "b").status(), 504);
  EXPECT_EQ(retry_after_from_headers("Wed, 21 Oct 2015 07:28:00 GMT", ""), 0);
  EXPECT_EQ(retry_after_from_headers("0.5", ""), 500);
}

}  // namespace
}  // namespace kuai::upstream
