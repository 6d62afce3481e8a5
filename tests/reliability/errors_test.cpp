// Reliability (issue 14, B5 and B10): what an error tells the client reaches it — Retry-After, the
// upstream's own stream error — and bad fields are 400s that name them.
#include "support/gateway_procs.h"

#include <gtest/gtest.h>

#include <future>

using namespace kuai::test;
namespace json = boost::json;

namespace {

std::string chat_with(const std::string& extra) {
  return R"({"model":"m","messages":[{"role":"user","content":"hi"}])" + extra + "}";
}

}  // namespace

TEST(ErrorsReachTheClient, UpstreamRetryAfterIsPassedOn) {
  Fake fake({"--rate-limit-every", "1", "--retry-after-s", "2"});
  Serve serve({"--upstream", fake.url(), "--set", "upstream.retries.max_attempts=1"});
  HttpClient c(serve.port);
  auto r = c.post("/v1/chat/completions", chat_with(""));
  expect_error(r, 429);
  EXPECT_EQ(r.header("retry-after"), "2");
  EXPECT_EQ(r.header("retry-after-ms"), "2000");
}

TEST(ErrorsReachTheClient, TierQueueTimeoutSaysWhenToRetry) {
  Fake fake({"--ttft-ms", "1500"});
  Serve serve({"--upstream", fake.url(), "--set", "tenants={sk-free-1: {name: f, tier: free}}", "--set",
               "tiers.free.max_concurrency=1", "--set", "tiers.free.queue_timeout_ms=100"});
  const HeaderList key{{"Authorization", "Bearer sk-free-1"}};
  auto slow = std::async(std::launch::async, [&] {
    HttpClient c(serve.port);
    return c.post("/v1/chat/completions", chat_with(""), key).status;
  });
  std::this_thread::sleep_for(Ms(300));
  HttpClient c(serve.port);
  auto r = c.post("/v1/chat/completions", chat_with(""), key);
  expect_error(r, 429);
  EXPECT_EQ(r.header("retry-after"), "1");
  EXPECT_EQ(slow.get(), 200);
}

TEST(ErrorsReachTheClient, UpstreamStreamErrorEventIsPassedOn) {
  Fake fake({"--stream-error-after", "2", "--answer-tokens", "10"});
  Serve serve({"--upstream", fake.url()});
  HttpClient c(serve.port);
  auto r = c.post("/v1/chat/completions", chat_with(R"(,"stream":true)"));
  ASSERT_EQ(r.status, 200) << r.body;  // the stream had started
  auto events = sse_data(r.body);
  ASSERT_FALSE(events.empty());
  EXPECT_NE(events.back(), "[DONE]");
  auto last = parse_obj(events.back());
  ASSERT_TRUE(last.contains("error")) << events.back();
  const auto& err = last.at("error").as_object();
  EXPECT_NE(std::string(err.at("message").as_string()).find("had an error while processing"), std::string::npos)
      << events.back();
  EXPECT_EQ(err.at("code").as_string(), "fake_stream_error");
}

TEST(BadRequests, FieldsOutOfRangeAre400sNamingThem) {
  Fake fake({});
  Serve serve({"--upstream", fake.url()});
  HttpClient c(serve.port);
  struct Case {
    const char* extra;
    const char* param;
  };
  for (const Case& k : {Case{R"(,"n":0)", "n"}, Case{R"(,"n":-1)", "n"}, Case{R"(,"n":1000000000)", "n"},
                        Case{R"(,"tools":7)", "tools"}, Case{R"(,"tools":[7])", "tools[0]"},
                        Case{R"(,"tool_choice":7)", "tool_choice"}, Case{R"(,"logprobs":"yes")", "logprobs"},
                        Case{R"(,"top_logprobs":50)", "top_logprobs"}, Case{R"(,"presence_penalty":5)", "presence_penalty"}}) {
    auto r = c.post("/v1/chat/completions", chat_with(k.extra));
    auto err = expect_error(r, 400);
    if (err.contains("param") && err.at("param").is_string()) EXPECT_EQ(err.at("param").as_string(), k.param) << k.extra;
    else ADD_FAILURE() << k.extra << ": no param in " << r.body;
  }
  auto r = c.post("/v1/chat/completions", chat_with(R"(,"temperature":3)"));
  auto err = expect_error(r, 400);
  EXPECT_NE(std::string(err.at("message").as_string()).find("between 0 and 2"), std::string::npos) << r.body;
}

TEST(BadRequests, AKeyWithoutTheBearerSchemeIsNoKey) {
  Fake fake({});
  Serve serve({"--upstream", fake.url(), "--set", "tenants={sk-alice-123: {name: alice}}"});
  HttpClient c(serve.port);
  expect_error(c.post("/v1/chat/completions", chat_with(""), {{"Authorization", "sk-alice-123"}}), 401);
  EXPECT_EQ(c.post("/v1/chat/completions", chat_with(""), {{"Authorization", "Bearer sk-alice-123"}}).status, 200);
  EXPECT_EQ(c.post("/v1/chat/completions", chat_with(""), {{"Authorization", "bearer sk-alice-123"}}).status, 200);
}
