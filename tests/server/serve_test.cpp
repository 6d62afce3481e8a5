// Integration: the real `kuai serve` in front of the real `kuai fake-upstream`, on free loopback
// ports, over HTTP, SSE and WebSocket. Bad input of every kind gets an OpenAI error body with the
// right status (or a clean close), and the server keeps serving afterwards.
#include "support/gateway_procs.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <thread>

using namespace kuai::test;
namespace json = boost::json;

namespace {

const char* kChat = R"({"model":"gpt-test","messages":[{"role":"user","content":"Say hello"}]})";
const char* kChatStream =
    R"({"model":"gpt-test","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Say hello"}]})";

std::string write_temp(const std::string& text) {
  char tmpl[] = "/tmp/kuai-serve-test-XXXXXX";
  int fd = mkstemp(tmpl);
  ::close(fd);
  std::ofstream(tmpl) << text;
  return tmpl;
}

class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_ = std::make_unique<Fake>(std::vector<std::string>{"--answer-tokens", "12"});
    serve_ = std::make_unique<Serve>(std::vector<std::string>{"--upstream", fake_->url()});
  }
  std::unique_ptr<Fake> fake_;
  std::unique_ptr<Serve> serve_;
};

}  // namespace

TEST_F(ServeTest, HealthModelsAndMetrics) {
  HttpClient c(serve_->port);
  auto h = c.get("/healthz");
  EXPECT_EQ(h.status, 200);
  EXPECT_NE(h.header("server-timing").find("total;dur="), std::string::npos);
  auto m = c.get("/v1/models");
  ASSERT_EQ(m.status, 200);
  auto mo = parse_obj(m.body);
  EXPECT_EQ(mo.at("object").as_string(), "list");
  EXPECT_NE(m.body.find("\"default\""), std::string::npos);
  auto met = c.get("/metrics");
  EXPECT_EQ(met.status, 200);
  EXPECT_NE(met.body.find("kuai_requests_total"), std::string::npos);
  EXPECT_NE(met.body.find("kuai_requests_in_flight"), std::string::npos);
  EXPECT_NE(met.body.find("kuai_request_duration_seconds"), std::string::npos);
}

TEST_F(ServeTest, ChatNonStreaming) {
  HttpClient c(serve_->port);
  auto r = c.post("/v1/chat/completions", kChat);
  ASSERT_EQ(r.status, 200) << r.body;
  auto o = parse_obj(r.body);
  EXPECT_EQ(o.at("object").as_string(), "chat.completion");
  auto& msg = o.at("choices").as_array().at(0).at("message").as_object();
  EXPECT_EQ(msg.at("role").as_string(), "assistant");
  EXPECT_FALSE(msg.at("content").as_string().empty());
  EXPECT_NE(r.header("server-timing").find("upstream;dur="), std::string::npos) << r.header("server-timing");
  EXPECT_NE(r.header("server-timing").find("total;dur="), std::string::npos);
  EXPECT_EQ(r.header("x-kuai-tokens-saved"), "0");
  EXPECT_EQ(r.header("x-request-id").rfind("chatcmpl-", 0), 0u);
  // Keep-alive: a second request on the same connection.
  EXPECT_EQ(c.post("/v1/chat/completions", kChat).status, 200);
}

TEST_F(ServeTest, ChatStreamingSse) {
  HttpClient c(serve_->port);
  auto r = c.post("/v1/chat/completions", kChatStream);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("content-type"), "text/event-stream");
  EXPECT_FALSE(r.header("server-timing").empty());
  auto data = sse_data(r.body);
  ASSERT_GE(data.size(), 3u) << r.body;
  EXPECT_EQ(data.back(), "[DONE]");
  std::string text;
  bool saw_usage = false, saw_finish = false;
  for (size_t i = 0; i + 1 < data.size(); ++i) {
    auto o = parse_obj(data[i]);
    EXPECT_EQ(o.at("object").as_string(), "chat.completion.chunk");
    auto& choices = o.at("choices").as_array();
    if (choices.empty()) {
      saw_usage = o.contains("usage") && o.at("usage").is_object();
      continue;
    }
    auto& ch = choices[0].as_object();
    if (auto* c2 = ch.at("delta").as_object().if_contains("content"); c2 && c2->is_string()) text += c2->as_string();
    if (!ch.at("finish_reason").is_null()) saw_finish = true;
  }
  EXPECT_FALSE(text.empty());
  EXPECT_TRUE(saw_finish);
  EXPECT_TRUE(saw_usage);
  EXPECT_NE(r.trailer("server-timing").find("total;dur="), std::string::npos) << r.trailer("server-timing");
}

TEST_F(ServeTest, LegacyCompletionsAndEmbeddings) {
  HttpClient c(serve_->port);
  auto r = c.post("/v1/completions", R"({"model":"gpt-test","prompt":"Once upon a time","max_tokens":5})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto o = parse_obj(r.body);
  EXPECT_EQ(o.at("object").as_string(), "text_completion");
  EXPECT_TRUE(o.at("choices").as_array().at(0).as_object().at("text").is_string());
  auto s = c.post("/v1/completions", R"({"model":"gpt-test","prompt":"Once","stream":true})");
  ASSERT_EQ(s.status, 200) << s.body;
  auto data = sse_data(s.body);
  ASSERT_GE(data.size(), 2u);
  EXPECT_EQ(data.back(), "[DONE]");
  EXPECT_EQ(parse_obj(data[0]).at("object").as_string(), "text_completion");
  auto e = c.post("/v1/embeddings", R"({"model":"emb","input":["hello","world"]})");
  ASSERT_EQ(e.status, 200) << e.body;
  auto eo = parse_obj(e.body);
  EXPECT_EQ(eo.at("data").as_array().size(), 2u);
}

TEST_F(ServeTest, BadRequestsGetOpenAIErrorsAndTheServerKeepsServing) {
  HttpClient c(serve_->port);
  expect_error(c.post("/v1/chat/completions", R"({"model": "x", "messages": [)"), 400);
  auto wrong = expect_error(c.post("/v1/chat/completions", R"({"model":"x","messages":"hi"})"), 400);
  EXPECT_EQ(wrong.at("param").as_string(), "messages");
  auto missing = expect_error(c.post("/v1/chat/completions", R"({"messages":[{"role":"user","content":"x"}]})"), 400);
  EXPECT_EQ(missing.at("param").as_string(), "model");
  expect_error(c.post("/v1/chat/completions", kChat, {}, "text/plain"), 415);
  expect_error(c.post("/v1/chat/completions", kChat, {}, "application/x-www-form-urlencoded"), 415);
  expect_error(c.get("/v1/chat/completions"), 405);
  expect_error(c.get("/v1/nothing-here"), 404);
  expect_error(c.post("/v1/embeddings", R"({"model":"e","input":[1,2]})"), 400);
  expect_error(c.request("POST", "/v1/admin/stages/cache/entries", ""), 403);
  // The same connection still works after all of that.
  EXPECT_EQ(c.post("/v1/chat/completions", kChat).status, 200);
}

TEST(Serve, OversizedBodyIs413) {
  Fake fake({});
  Serve serve({"--upstream", fake.url(), "--set", "server.max_body_bytes=2000"});
  HttpClient c(serve.port);
  std::string big = R"({"model":"m","messages":[{"role":"user","content":")" + std::string(5000, 'a') + "\"}]}";
  auto err = expect_error(c.post("/v1/chat/completions", big), 413);
  EXPECT_EQ(err.at("code").as_string(), "request_too_large");
  serve.expect_healthy();
}

TEST(Serve, UnknownModelIs404WithoutFallback) {
  Fake fake({});
  std::string cfg = write_temp("models:\n  small:\n    backends:\n      - url: " + fake.url() + "\n");
  Serve serve({"--config", cfg});
  HttpClient c(serve.port);
  auto err = expect_error(c.post("/v1/chat/completions", kChat), 404);
  EXPECT_EQ(err.at("code").as_string(), "model_not_found");
  EXPECT_EQ(c.post("/v1/chat/completions", R"({"model":"small","messages":[{"role":"user","content":"x"}]})").status, 200);
  ::unlink(cfg.c_str());
}

TEST(Serve, SlowHeadersAreClosedCleanly) {
  Fake fake({});
  Serve serve({"--upstream", fake.url(), "--set", "server.header_timeout_ms=300"});
  RawConnection slow(serve.port);
  ASSERT_TRUE(slow.send_all("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"));
  EXPECT_TRUE(slow.wait_closed(Ms(10000)));
  serve.expect_healthy();
}

TEST(Serve, DeadUpstreamIsAGatewayError) {
  uint16_t dead = free_port();  // nothing listens there
  Serve serve({"--upstream", "http://127.0.0.1:" + std::to_string(dead)});
  HttpClient c(serve.port);
  auto r = c.post("/v1/chat/completions", kChat);
  EXPECT_GE(r.status, 500) << r.body;
  expect_error(r, r.status);
  auto s = c.post("/v1/chat/completions", kChatStream);  // nothing was streamed yet: a real status
  EXPECT_GE(s.status, 500) << s.body;
  expect_error(s, s.status);
  serve.expect_healthy();
}

TEST(Serve, GarbageUpstreamIsAGatewayError) {
  Fake fake({"--garbage"});
  Serve serve({"--upstream", fake.url()});
  HttpClient c(serve.port);
  auto r = c.post("/v1/chat/completions", kChat);
  EXPECT_GE(r.status, 500) << r.body;
  expect_error(r, r.status);
  auto s = c.post("/v1/chat/completions", kChatStream);
  if (s.status == 200) {  // if anything was streamed, the stream must not claim success
    EXPECT_EQ(s.body.find("[DONE]"), std::string::npos) << s.body;
  } else {
    expect_error(s, s.status);
  }
  serve.expect_healthy();
}

TEST(Serve, CutUpstreamStreamIsNotReportedComplete) {
  Fake fake({"--cut-stream-after", "3", "--answer-tokens", "20"});
  Serve serve({"--upstream", fake.url()});
  HttpClient c(serve.port);
  auto s = c.post("/v1/chat/completions", kChatStream);
  EXPECT_EQ(s.body.find("[DONE]"), std::string::npos) << s.body;
  serve.expect_healthy();
}

TEST(Serve, ClientDisconnectMidStreamCancelsTheUpstream) {
  Fake fake({"--answer-tokens", "2000", "--tokens-per-s", "200"});
  Serve serve({"--upstream", fake.url()});
  {
    RawConnection conn(serve.port);
    std::string body = kChatStream;
    conn.send_all("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\n\r\n" + body);
    std::string got;
    while (got.find("chat.completion.chunk") == std::string::npos && conn.recv_some(got, Ms(5000)) > 0) {}
    ASSERT_NE(got.find("chat.completion.chunk"), std::string::npos) << got;
    conn.reset();
  }
  // The gateway notices at its next write and cancels the upstream request.
  EXPECT_TRUE(wait_until([&] {
    auto st = fake.stats();
    auto* a = st.if_contains("streams_aborted");
    return a && a->to_number<int64_t>() >= 1;
  }));
  serve.expect_healthy();
  HttpClient c(serve.port);
  EXPECT_NE(c.get("/metrics").body.find("status=\"499\""), std::string::npos);
}

TEST(Serve, WebSocketChat) {
  Fake fake({"--answer-tokens", "8"});
  Serve serve({"--upstream", fake.url()});
  WsClient ws;
  ASSERT_EQ(ws.connect(serve.port, "/v1/chat/ws"), 101) << ws.handshake();
  for (int round = 0; round < 2; ++round) {
    ASSERT_TRUE(ws.send_text(kChat));
    int chunks = 0;
    std::string text;
    for (;;) {
      auto m = ws.recv_text();
      ASSERT_TRUE(m) << "connection closed";
      auto o = parse_obj(*m);
      if (o.contains("object") && o.at("object").as_string() == "kuai.done") {
        EXPECT_NE(std::string(o.at("server_timing").as_string()).find("total;dur="), std::string::npos);
        break;
      }
      ASSERT_EQ(o.at("object").as_string(), "chat.completion.chunk") << *m;
      ++chunks;
    }
    EXPECT_GE(chunks, 2);
  }
  ASSERT_TRUE(ws.send_text("{not json"));
  auto err = ws.recv_text();
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("\"error\""), std::string::npos);
  ASSERT_TRUE(ws.send_text(kChat));  // still open after an error
  auto next = ws.recv_text();
  ASSERT_TRUE(next);
  EXPECT_NE(next->find("chat.completion.chunk"), std::string::npos);
}

TEST(Serve, TenantsNeedAKey) {
  Fake fake({});
  std::string cfg = write_temp("tenants:\n  - key: sk-alice\n    name: alice\n    tier: gold\nadmin_key: adm\n");
  Serve serve({"--config", cfg, "--upstream", fake.url()});
  HttpClient c(serve.port);
  auto none = expect_error(c.post("/v1/chat/completions", kChat), 401);
  EXPECT_EQ(none.at("code").as_string(), "invalid_api_key");
  expect_error(c.post("/v1/chat/completions", kChat, {{"Authorization", "Bearer sk-wrong"}}), 401);
  EXPECT_EQ(c.post("/v1/chat/completions", kChat, {{"Authorization", "Bearer sk-alice"}}).status, 200);
  EXPECT_EQ(c.get("/healthz").status, 200);  // no key needed
  expect_error(c.request("GET", "/v1/admin/stages/cache/stats", "", {{"Authorization", "Bearer sk-alice"}}), 401);
  expect_error(c.request("GET", "/v1/admin/stages/cache/stats", "", {{"Authorization", "Bearer adm"}}), 404);
  WsClient ws;
  ASSERT_EQ(ws.connect(serve.port, "/v1/chat/ws"), 101);
  auto denied = ws.recv_text();
  ASSERT_TRUE(denied);
  EXPECT_NE(denied->find("invalid_api_key"), std::string::npos);
  WsClient ok;
  ASSERT_EQ(ok.connect(serve.port, "/v1/chat/ws?api_key=sk-alice"), 101);
  ASSERT_TRUE(ok.send_text(kChat));
  auto first = ok.recv_text();
  ASSERT_TRUE(first);
  EXPECT_NE(first->find("chat.completion.chunk"), std::string::npos) << *first;
  ::unlink(cfg.c_str());
}

TEST(Serve, SigtermFinishesInFlightStreamThenExitsZero) {
  Fake fake({"--ttft-ms", "300", "--answer-tokens", "5"});
  Serve serve({"--upstream", fake.url()});
  HttpResponse slow;
  std::thread t([&] {
    HttpClient c(serve.port);
    slow = c.post("/v1/chat/completions", kChatStream);
  });
  ASSERT_TRUE(wait_until([&] {
    auto st = fake.stats();
    auto* a = st.if_contains("streams_started");
    return a && a->to_number<int64_t>() >= 1;
  }));
  ::kill(serve.proc.pid(), SIGTERM);
  t.join();
  EXPECT_EQ(slow.status, 200);
  EXPECT_NE(slow.body.find("[DONE]"), std::string::npos) << slow.body;
  auto code = serve.proc.wait_exit(Ms(10000));
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0) << serve.proc.output();
}

TEST(Serve, BadConfigIsAOneLineError) {
  std::string cfg = write_temp("pipeline: [no_such_stage]\n");
  ChildProcess p(kuai_bin(), {"serve", "--config", cfg, "--port", "0"});
  auto code = p.wait_exit(Ms(10000));
  ASSERT_TRUE(code.has_value());
  EXPECT_NE(*code, 0);
  EXPECT_NE(p.output().find("kuai serve:"), std::string::npos) << p.output();
  EXPECT_NE(p.output().find("hint:"), std::string::npos);
  ::unlink(cfg.c_str());
}
