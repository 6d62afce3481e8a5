// The pipeline mechanism through the real gateway (in-process, own stage registry): stage timings in
// Server-Timing, a disabled stage does not run, an answering stage short-circuits (and is replayed as
// SSE for a streaming client), a throwing stage gives an OpenAI error response, admin calls reach the
// stage. The upstream is a dead port: every request here must be served by the stages alone.
#include "api/error.h"
#include "config/config.h"
#include "pipeline/pipeline.h"
#include "server/gateway.h"
#include "support/process.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <atomic>
#include <thread>

using namespace kuai;
using namespace kuai::test;
namespace json = boost::json;
namespace net = boost::asio;

namespace {

std::atomic<int> g_runs_b{0};
std::atomic<int> g_responses_answer{0};

// "mark": adds a header and counts saved tokens; "answer": answers; "boom": throws; "b": counts runs.
class TestStage final : public pipeline::Stage {
 public:
  explicit TestStage(std::string name) : name_(std::move(name)) {}
  std::string_view name() const override { return name_; }
  net::awaitable<pipeline::Verdict> on_request(pipeline::Context& ctx) override {
    if (name_ == "boom") throw std::runtime_error("stage exploded");
    if (name_ == "b") ++g_runs_b;
    if (name_ == "mark") {
      ctx.add_header("x-kuai-test", "marked");
      ctx.tokens_saved += 7;
    }
    if (name_ == "answer") {
      api::ChatResponse r;
      r.choices.push_back(api::Choice{0, "cached answer for: " + ctx.request.messages.back().content, "stop", {}});
      r.usage = api::Usage{3, 5};
      r.cached = true;
      co_return pipeline::Verdict::respond(std::move(r));
    }
    co_return pipeline::Verdict::next();
  }
  void on_response(pipeline::Context&, const api::ChatResponse&) override {
    if (name_ == "answer") ++g_responses_answer;
  }
  std::optional<pipeline::AdminReply> on_admin(std::string_view method, std::string_view path,
                                               std::string_view body) override {
    if (path != "/echo") return std::nullopt;
    return pipeline::AdminReply{201, "{\"method\":\"" + std::string(method) + "\",\"body\":\"" + std::string(body) + "\"}"};
  }

 private:
  std::string name_;
};

pipeline::StageRegistry registry() {
  pipeline::StageRegistry reg;
  for (std::string n : {"mark", "b", "answer", "boom"}) {
    reg.add(n, [n](const YAML::Node&, pipeline::Services&, std::string&) -> std::unique_ptr<pipeline::Stage> {
      return std::make_unique<TestStage>(n);
    });
  }
  return reg;
}

class InProcess {
 public:
  explicit InProcess(const std::string& yaml) {
    config::Config cfg;
    auto err = config::Config::load_string(yaml, cfg);
    if (err) throw std::runtime_error(*err);
    cfg.set("server.port", YAML::Node(0));
    cfg.set("server.io_threads", YAML::Node(1));
    cfg.set("server.access_log", YAML::Node(false));
    // A dead upstream: nothing may reach it in these tests.
    cfg.set("models.m.backends", YAML::Load("[{url: 'http://127.0.0.1:" + std::to_string(free_port()) + "'}]"));
    auto made = server::Gateway::create(cfg, registry());
    if (auto* e = std::get_if<std::string>(&made)) throw std::runtime_error(*e);
    gw_ = std::move(std::get<std::unique_ptr<server::Gateway>>(made));
    if (auto e = gw_->listen()) throw std::runtime_error(*e);
    port = gw_->port();
    thread_ = std::thread([this] { gw_->run(); });
  }
  ~InProcess() {
    gw_->stop();
    thread_.join();
  }
  uint16_t port = 0;

 private:
  std::unique_ptr<server::Gateway> gw_;
  std::thread thread_;
};

const char* kChat = R"({"model":"m","messages":[{"role":"user","content":"what is kuai"}]})";

}  // namespace

TEST(GatewayStages, AnsweringStageShortCircuitsWithTimingsAndHeaders) {
  InProcess gw("pipeline: [mark, b, answer]\nstages:\n  b:\n    enabled: false\n");
  HttpClient c(gw.port);
  auto r = c.post("/v1/chat/completions", kChat);
  ASSERT_EQ(r.status, 200) << r.body;
  auto o = json::parse(r.body).as_object();
  EXPECT_EQ(o.at("choices").as_array()[0].at("message").at("content").as_string(), "cached answer for: what is kuai");
  std::string st = r.header("server-timing");
  EXPECT_NE(st.find("mark;dur="), std::string::npos) << st;
  EXPECT_NE(st.find("answer;dur="), std::string::npos) << st;
  EXPECT_EQ(st.find("b;dur="), std::string::npos) << st;  // disabled
  EXPECT_EQ(st.find("upstream"), std::string::npos) << st;
  EXPECT_EQ(g_runs_b.load(), 0);
  EXPECT_EQ(r.header("x-kuai-test"), "marked");
  EXPECT_EQ(r.header("x-kuai-tokens-saved"), "7");
  // on_response runs after the answer was sent: wait for it (bounded).
  for (int i = 0; i < 1000 && g_responses_answer.load() == 0; ++i) std::this_thread::sleep_for(Ms(5));
  EXPECT_EQ(g_responses_answer.load(), 1);
}

TEST(GatewayStages, StageAnswerIsReplayedAsSseForStreamingClients) {
  InProcess gw("pipeline: [answer]\n");
  HttpClient c(gw.port);
  auto r = c.post("/v1/chat/completions",
                  R"({"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("content-type"), "text/event-stream");
  EXPECT_NE(r.header("server-timing").find("answer;dur="), std::string::npos);
  auto data = sse_data(r.body);
  ASSERT_GE(data.size(), 4u);
  EXPECT_EQ(data.back(), "[DONE]");
  std::string text;
  bool usage = false;
  for (size_t i = 0; i + 1 < data.size(); ++i) {
    auto o = json::parse(data[i]).as_object();
    EXPECT_EQ(o.at("object").as_string(), "chat.completion.chunk");
    auto& ch = o.at("choices").as_array();
    if (ch.empty()) {
      usage = o.at("usage").at("completion_tokens").as_int64() == 5;
      continue;
    }
    if (auto* t = ch[0].at("delta").as_object().if_contains("content")) text += t->as_string();
  }
  EXPECT_EQ(text, "cached answer for: hi");
  EXPECT_TRUE(usage);
  EXPECT_NE(r.trailer("server-timing").find("total;dur="), std::string::npos);
}

TEST(GatewayStages, ThrowingStageIsAnErrorResponseAndServingGoesOn) {
  InProcess gw("pipeline: [mark, boom]\n");
  HttpClient c(gw.port);
  auto r = c.post("/v1/chat/completions", kChat);
  EXPECT_EQ(r.status, 500);
  auto o = json::parse(r.body).as_object();
  EXPECT_NE(std::string(o.at("error").at("message").as_string()).find("stage 'boom'"), std::string::npos);
  EXPECT_NE(r.header("server-timing").find("boom;dur="), std::string::npos);
  EXPECT_EQ(c.get("/healthz").status, 200);
}

TEST(GatewayStages, DeadUpstreamBehindAContinuingStage) {
  InProcess gw("pipeline: [mark]\n");
  HttpClient c(gw.port);
  auto r = c.post("/v1/chat/completions", kChat);
  EXPECT_GE(r.status, 500) << r.body;
  EXPECT_TRUE(json::parse(r.body).as_object().contains("error"));
  EXPECT_NE(r.header("server-timing").find("mark;dur="), std::string::npos);  // errors carry timings too
}

TEST(GatewayStages, AdminCallsReachTheStage) {
  InProcess gw("pipeline: [mark]\nadmin_key: secret\n");
  HttpClient c(gw.port);
  auto ok = c.request("POST", "/v1/admin/stages/mark/echo", "x", {{"Authorization", "Bearer secret"}});
  EXPECT_EQ(ok.status, 201) << ok.body;
  EXPECT_EQ(ok.body, R"({"method":"POST","body":"x"})");
  EXPECT_EQ(c.request("POST", "/v1/admin/stages/mark/nope", "", {{"Authorization", "Bearer secret"}}).status, 404);
  EXPECT_EQ(c.request("POST", "/v1/admin/stages/zzz/echo", "", {{"Authorization", "Bearer secret"}}).status, 404);
  EXPECT_EQ(c.request("POST", "/v1/admin/stages/mark/echo", "", {{"Authorization", "Bearer wrong"}}).status, 401);
}
