// `kuai fake-upstream` as a real process on a free loopback port: wire format, determinism, counters
// and every injected behaviour (429, 500, cut stream, garbage, echo, pacing).
#include "support/process.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <cmath>

namespace kuai::fakeup {
namespace {
namespace json = boost::json;
using test::HttpClient;
using test::KuaiProcess;

KuaiProcess start(std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"fake-upstream", "--port", "0"};
  args.insert(args.end(), extra.begin(), extra.end());
  return KuaiProcess(args);
}

std::string chat_body(std::string content, bool stream = false, std::string extra = {}) {
  json::object o{{"model", "m1"},
                 {"messages", json::array{json::object{{"role", "user"}, {"content", content}}}}};
  if (stream) o["stream"] = true;
  std::string s = json::serialize(o);
  if (!extra.empty()) s = s.substr(0, s.size() - 1) + "," + extra + "}";
  return s;
}

json::object stats(uint16_t port) {
  HttpClient c(port);
  auto r = c.get("/stats");
  return json::parse(r.body).as_object();
}

TEST(FakeUpstream, ChatAnswerIsDeterministicAndCountsPromptTokens) {
  auto fu = start({"--answer-tokens", "7"});
  HttpClient c(fu.port);
  auto a = c.post("/v1/chat/completions", chat_body("hello there, friend 你好吗"));
  auto b = c.post("/v1/chat/completions", chat_body("hello there, friend 你好吗"));
  ASSERT_EQ(a.status, 200) << a.body;
  auto ja = json::parse(a.body).as_object();
  auto jb = json::parse(b.body).as_object();
  EXPECT_EQ(ja.at("object").as_string(), "chat.completion");
  EXPECT_EQ(ja.at("model").as_string(), "m1");
  auto& choice = ja.at("choices").as_array().at(0).as_object();
  EXPECT_EQ(choice.at("finish_reason").as_string(), "stop");
  std::string text(choice.at("message").as_object().at("content").as_string());
  EXPECT_EQ(text, std::string(jb.at("choices").as_array().at(0).at("message").at("content").as_string()));
  EXPECT_EQ(std::count(text.begin(), text.end(), ' '), 6);  // 7 words
  // 3 words + 3 CJK characters.
  EXPECT_EQ(ja.at("usage").at("prompt_tokens").as_int64(), 6);
  EXPECT_EQ(ja.at("usage").at("completion_tokens").as_int64(), 7);
  EXPECT_EQ(a.header("x-fake-request-count"), "1");
  EXPECT_EQ(b.header("x-fake-request-count"), "2");
  // Keep-alive: both on one connection.
  auto s = stats(fu.port);
  EXPECT_EQ(s.at("by_model").at("m1").as_int64(), 2);
}

TEST(FakeUpstream, SeedChangesTheAnswer) {
  auto f1 = start({"--seed", "1"});
  auto f2 = start({"--seed", "2"});
  auto a = HttpClient(f1.port).post("/v1/chat/completions", chat_body("same"));
  auto b = HttpClient(f2.port).post("/v1/chat/completions", chat_body("same"));
  EXPECT_NE(json::parse(a.body).at("choices").at(0).at("message").at("content"),
            json::parse(b.body).at("choices").at(0).at("message").at("content"));
}

TEST(FakeUpstream, StreamsOpenAIChunksWithUsage) {
  auto fu = start({"--answer-tokens", "4"});
  HttpClient c(fu.port);
  auto r = c.post("/v1/chat/completions", chat_body("a b c", true, R"("stream_options":{"include_usage":true})"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "text/event-stream");
  auto events = test::sse_data(r.body);
  ASSERT_EQ(events.size(), 1u + 4u + 1u + 1u + 1u);  // role, 4 tokens, finish, usage, [DONE]
  EXPECT_EQ(events.back(), "[DONE]");
  auto first = json::parse(events[0]).as_object();
  EXPECT_EQ(first.at("object").as_string(), "chat.completion.chunk");
  EXPECT_EQ(first.at("choices").at(0).at("delta").at("role").as_string(), "assistant");
  auto finish = json::parse(events[5]).as_object();
  EXPECT_EQ(finish.at("choices").at(0).at("finish_reason").as_string(), "stop");
  auto usage = json::parse(events[6]).as_object();
  EXPECT_TRUE(usage.at("choices").as_array().empty());
  EXPECT_EQ(usage.at("usage").at("prompt_tokens").as_int64(), 3);
  EXPECT_EQ(usage.at("usage").at("completion_tokens").as_int64(), 4);
  // Concatenated deltas equal the non-stream answer.
  std::string streamed;
  for (size_t i = 1; i <= 4; ++i) streamed += json::parse(events[i]).at("choices").at(0).at("delta").at("content").as_string();
  auto full = json::parse(c.post("/v1/chat/completions", chat_body("a b c")).body);
  EXPECT_EQ(streamed, std::string(full.at("choices").at(0).at("message").at("content").as_string()));
  EXPECT_EQ(stats(fu.port).at("streams_completed").as_int64(), 1);
}

TEST(FakeUpstream, MaxTokensCutsWithLength) {
  auto fu = start({"--answer-tokens", "10"});
  auto r = HttpClient(fu.port).post("/v1/chat/completions", chat_body("x", false, R"("max_tokens":3)"));
  auto j = json::parse(r.body);
  EXPECT_EQ(j.at("choices").at(0).at("finish_reason").as_string(), "length");
  EXPECT_EQ(j.at("usage").at("completion_tokens").as_int64(), 3);
}

TEST(FakeUpstream, EchoAnswersWithTheMessagesReceived) {
  auto fu = start({"--echo"});
  HttpClient c(fu.port);
  auto r = c.post("/v1/chat/completions", chat_body("echo me 请"));
  auto content = json::parse(r.body).at("choices").at(0).at("message").at("content").as_string();
  auto msgs = json::parse(content);
  EXPECT_EQ(msgs.at(0).at("content").as_string(), "echo me 请");
  auto s = c.post("/v1/chat/completions", chat_body("echo me 请", true));
  std::string streamed;
  for (const auto& e : test::sse_data(s.body)) {
    if (e == "[DONE]") break;
    auto d = json::parse(e).at("choices").at(0).at("delta").as_object();
    if (d.contains("content")) streamed += d.at("content").as_string();
  }
  EXPECT_EQ(streamed, std::string(content));
}

TEST(FakeUpstream, RateLimitEveryNthWithRetryAfter) {
  auto fu = start({"--rate-limit-every", "2", "--retry-after-s", "0.25"});
  HttpClient c(fu.port);
  EXPECT_EQ(c.post("/v1/chat/completions", chat_body("x")).status, 200);
  auto r = c.post("/v1/chat/completions", chat_body("x"));
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.header("retry-after"), "1");
  EXPECT_EQ(r.header("retry-after-ms"), "250");
  EXPECT_EQ(json::parse(r.body).at("error").at("type").as_string(), "rate_limit_error");
  EXPECT_EQ(c.post("/v1/chat/completions", chat_body("x")).status, 200);
}

TEST(FakeUpstream, ErrorRateOneFailsEveryModelRequest) {
  auto fu = start({"--error-rate", "1"});
  HttpClient c(fu.port);
  auto r = c.post("/v1/chat/completions", chat_body("x"));
  EXPECT_EQ(r.status, 500);
  EXPECT_TRUE(json::parse(r.body).at("error").is_object());
  EXPECT_EQ(c.get("/v1/models").status, 200);  // only model requests fail
}

TEST(FakeUpstream, ErrorRateIsSeededFraction) {
  auto fu = start({"--error-rate", "0.5", "--seed", "7"});
  HttpClient c(fu.port);
  int errors = 0;
  for (int i = 0; i < 40; ++i) errors += c.post("/v1/chat/completions", chat_body("x")).status == 500;
  EXPECT_GT(errors, 5);
  EXPECT_LT(errors, 35);
}

TEST(FakeUpstream, CutStreamClosesWithoutDone) {
  auto fu = start({"--cut-stream-after", "2", "--answer-tokens", "8"});
  HttpClient c(fu.port);
  auto r = c.post("/v1/chat/completions", chat_body("x", true));
  // The chunked body never ends: the helper reports no complete response.
  std::string all = r.body;
  EXPECT_EQ(all.find("[DONE]"), std::string::npos);
  EXPECT_EQ(stats(fu.port).at("streams_cut").as_int64(), 1);
}

TEST(FakeUpstream, GarbageIsNotJson) {
  auto fu = start({"--garbage"});
  auto r = HttpClient(fu.port).post("/v1/chat/completions", chat_body("x"));
  EXPECT_EQ(r.status, 200);
  boost::system::error_code ec;
  json::parse(r.body, ec);
  EXPECT_TRUE(ec);
}

TEST(FakeUpstream, EmbeddingsAreDeterministicUnitVectors) {
  auto fu = start({"--embedding-dim", "16"});
  HttpClient c(fu.port);
  auto r = c.post("/v1/embeddings", R"({"model":"e","input":["hello world","hello world","other"]})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto data = json::parse(r.body).at("data").as_array();
  ASSERT_EQ(data.size(), 3u);
  auto vec = [&](size_t i) { return json::value_to<std::vector<double>>(data[i].at("embedding")); };
  EXPECT_EQ(vec(0), vec(1));
  EXPECT_NE(vec(0), vec(2));
  ASSERT_EQ(vec(0).size(), 16u);
  double norm = 0;
  for (double x : vec(0)) norm += x * x;
  EXPECT_NEAR(std::sqrt(norm), 1.0, 1e-5);
  EXPECT_EQ(json::parse(r.body).at("usage").at("prompt_tokens").as_int64(), 5);
}

TEST(FakeUpstream, LegacyCompletionsAndModels) {
  auto fu = start({"--model-name", "a,b", "--answer-tokens", "3"});
  HttpClient c(fu.port);
  auto r = c.post("/v1/completions", R"({"model":"a","prompt":"say hi"})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  EXPECT_EQ(j.at("object").as_string(), "text_completion");
  EXPECT_EQ(j.at("usage").at("prompt_tokens").as_int64(), 2);
  auto s = c.post("/v1/completions", R"({"model":"a","prompt":"say hi","stream":true})");
  EXPECT_EQ(test::sse_data(s.body).back(), "[DONE]");
  auto m = json::parse(c.get("/v1/models").body);
  ASSERT_EQ(m.at("data").as_array().size(), 2u);
  EXPECT_EQ(m.at("data").at(1).at("id").as_string(), "b");
}

TEST(FakeUpstream, BadRequestsGetOpenAIErrors) {
  auto fu = start();
  HttpClient c(fu.port);
  auto r = c.post("/v1/chat/completions", "{not json");
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(json::parse(r.body).at("error").is_object());
  EXPECT_EQ(c.post("/v1/chat/completions", R"({"model":"m"})").status, 400);
  EXPECT_EQ(c.get("/nope").status, 404);
  EXPECT_EQ(c.get("/healthz").status, 200);  // still serving
}

TEST(FakeUpstream, RecordsAuthorizationAndBody) {
  auto fu = start();
  HttpClient c(fu.port);
  c.post("/v1/chat/completions", chat_body("x", false, R"("custom_field":{"k":1})"), {{"Authorization", "Bearer sk-1"}});
  auto s = stats(fu.port);
  EXPECT_EQ(s.at("last_authorization").as_string(), "Bearer sk-1");
  auto body = json::parse(s.at("last_body").as_string());
  EXPECT_EQ(body.at("custom_field").at("k").as_int64(), 1);
  EXPECT_EQ(s.at("connections_accepted").as_int64(), 2);  // the test client, then the stats client
  HttpClient(fu.port).post("/stats/reset", "");
  EXPECT_EQ(stats(fu.port).at("model_requests").as_int64(), 0);
}

TEST(FakeUpstream, BadOptionsFailWithHint) {
  test::ChildProcess p(test::kuai_bin(), {"fake-upstream", "--tls-cert", "x.pem"});
  auto rc = p.wait_exit();
  ASSERT_TRUE(rc.has_value());
  EXPECT_NE(*rc, 0);
  EXPECT_NE(p.output().find("hint:"), std::string::npos);
}

}  // namespace
}  // namespace kuai::fakeup
