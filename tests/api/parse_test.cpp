#include "api/error.h"
#include "api/parse.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <string>

using namespace kuai::api;
namespace json = boost::json;

namespace {

// Runs `fn`, expects an api::Error 400 naming `param`; returns its body for further checks.
template <typename F>
std::string expect_400(F&& fn, const std::string& param) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.type(), "invalid_request_error");
    EXPECT_EQ(e.param(), param) << e.what();
    return e.body();
  }
  ADD_FAILURE() << "no error for param " << param;
  return {};
}

}  // namespace

TEST(ParseChat, ReadsKnownFieldsAndKeepsUnknownOnes) {
  auto req = parse_chat_request(R"({"model":"m","messages":[{"role":"system","content":"be brief"},
      {"role":"user","content":[{"type":"text","text":"hi "},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"there"}]}],
      "stream":true,"stream_options":{"include_usage":true},"temperature":0.5,"top_p":1,"max_tokens":7,"seed":3,
      "stop":["a","b"],"logit_bias":{"1":2},"user":"u1"})");
  EXPECT_EQ(req.model, "m");
  ASSERT_EQ(req.messages.size(), 2u);
  EXPECT_EQ(req.messages[0].role, "system");
  EXPECT_EQ(req.messages[1].content, "hi there");
  EXPECT_TRUE(req.stream);
  EXPECT_TRUE(req.include_usage);
  EXPECT_DOUBLE_EQ(*req.temperature, 0.5);
  EXPECT_DOUBLE_EQ(*req.top_p, 1.0);
  EXPECT_EQ(*req.max_tokens, 7);
  EXPECT_EQ(*req.seed, 3);
  EXPECT_EQ(req.stop.size(), 2u);
  // Unknown fields pass through to the upstream body; messages come back from Message::raw.
  json::object out = req.to_json();
  EXPECT_TRUE(out.contains("logit_bias"));
  EXPECT_EQ(out.at("user").as_string(), "u1");
  ASSERT_EQ(out.at("messages").as_array().size(), 2u);
  EXPECT_TRUE(out.at("messages").as_array()[1].at("content").is_array());  // untouched content parts
}

TEST(ParseChat, AcceptsAssistantToolCallsWithNullContent) {
  auto req = parse_chat_request(R"({"model":"m","messages":[{"role":"user","content":"x"},
      {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},
      {"role":"tool","tool_call_id":"c1","content":"42"}],"max_completion_tokens":5})");
  EXPECT_TRUE(req.messages[1].has_tool_calls());
  EXPECT_TRUE(req.messages[2].is_tool_result());
  EXPECT_EQ(*req.max_tokens, 5);
}

TEST(ParseChat, MalformedJsonIs400WithoutParam) {
  std::string body = expect_400([] { parse_chat_request(R"({"model": "m", "messages": [)"); }, "");
  auto v = json::parse(body);
  EXPECT_TRUE(v.at("error").at("param").is_null());
  EXPECT_NE(std::string(v.at("error").at("message").as_string()).find("parse the JSON"), std::string::npos);
  expect_400([] { parse_chat_request(""); }, "");
  expect_400([] { parse_chat_request("[1,2]"); }, "");
  expect_400([] { parse_chat_request("\xff\xfe"); }, "");
}

TEST(ParseChat, MissingAndWrongTypedFieldsName400Param) {
  expect_400([] { parse_chat_request(R"({"messages":[{"role":"user","content":"x"}]})"); }, "model");
  expect_400([] { parse_chat_request(R"({"model":5,"messages":[{"role":"user","content":"x"}]})"); }, "model");
  expect_400([] { parse_chat_request(R"({"model":"m"})"); }, "messages");
  expect_400([] { parse_chat_request(R"({"model":"m","messages":{}})"); }, "messages");
  expect_400([] { parse_chat_request(R"({"model":"m","messages":[]})"); }, "messages");
  expect_400([] { parse_chat_request(R"({"model":"m","messages":["hi"]})"); }, "messages[0]");
  expect_400([] { parse_chat_request(R"({"model":"m","messages":[{"content":"x"}]})"); }, "messages[0].role");
  expect_400([] { parse_chat_request(R"({"model":"m","messages":[{"role":"wizard","content":"x"}]})"); },
             "messages[0].role");
  expect_400([] { parse_chat_request(R"({"model":"m","messages":[{"role":"user"}]})"); }, "messages[0].content");
  expect_400([] { parse_chat_request(R"({"model":"m","messages":[{"role":"user","content":7}]})"); },
             "messages[0].content");
  expect_400([] { parse_chat_request(R"({"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]})"); },
             "messages[0].content[0].text");
  const char* base = R"({"model":"m","messages":[{"role":"user","content":"x"}],)";
  expect_400([&] { parse_chat_request(std::string(base) + R"("stream":"yes"})"); }, "stream");
  expect_400([&] { parse_chat_request(std::string(base) + R"("temperature":"hot"})"); }, "temperature");
  expect_400([&] { parse_chat_request(std::string(base) + R"("temperature":3})"); }, "temperature");
  expect_400([&] { parse_chat_request(std::string(base) + R"("max_tokens":1.5})"); }, "max_tokens");
  expect_400([&] { parse_chat_request(std::string(base) + R"("max_tokens":0})"); }, "max_tokens");
  expect_400([&] { parse_chat_request(std::string(base) + R"("stop":[1]})"); }, "stop[0]");
  expect_400([&] { parse_chat_request(std::string(base) + R"("stream_options":{"include_usage":1}})"); },
             "stream_options.include_usage");
}

TEST(ParseChat, DeepNestingIsAnErrorNotACrash) {
  std::string deep = R"({"model":"m","messages":[{"role":"user","content":"x"}],"x":)" + std::string(100000, '[');
  expect_400([&] { parse_chat_request(deep); }, "");
}

TEST(ParseEmbeddings, StringsAndErrors) {
  auto one = parse_embedding_request(R"({"model":"e","input":"hello"})");
  ASSERT_EQ(one.input.size(), 1u);
  auto many = parse_embedding_request(R"({"model":"e","input":["a","b"],"dimensions":8})");
  EXPECT_EQ(many.input.size(), 2u);
  EXPECT_TRUE(many.to_json().contains("dimensions"));
  expect_400([] { parse_embedding_request(R"({"model":"e"})"); }, "input");
  expect_400([] { parse_embedding_request(R"({"model":"e","input":[]})"); }, "input");
  expect_400([] { parse_embedding_request(R"({"model":"e","input":[1,2]})"); }, "input[0]");
  expect_400([] { parse_embedding_request(R"({"input":"x"})"); }, "model");
}

TEST(ParseCompletion, PromptBecomesOneUserMessage) {
  auto req = parse_completion_request(R"({"model":"m","prompt":"Once upon","max_tokens":4,"stream":true,"n":1})");
  auto chat = chat_request_from_completion(req);
  ASSERT_EQ(chat.messages.size(), 1u);
  EXPECT_EQ(chat.messages[0].role, "user");
  EXPECT_EQ(chat.messages[0].content, "Once upon");
  EXPECT_TRUE(chat.stream);
  EXPECT_EQ(*chat.max_tokens, 4);
  auto body = chat.to_json();
  EXPECT_FALSE(body.contains("prompt"));
  EXPECT_TRUE(body.contains("n"));
  expect_400([] { parse_completion_request(R"({"model":"m"})"); }, "prompt");
  expect_400([] { parse_completion_request(R"({"model":"m","prompt":3})"); }, "prompt");
  expect_400([] { parse_completion_request(R"({"model":"m","prompt":["a","b"]})"); }, "prompt");
}
