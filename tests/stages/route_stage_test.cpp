// The route stage end to end: `kuai serve` with a small and a large `kuai fake-upstream`, routing on
// vs off, escalation, streaming, the classifier's request path, headers and metrics.
#include "stages/two_model_gateway.h"

#include <gtest/gtest.h>

#include <string>

namespace kuai::stages::testing {
namespace {

std::string route_yaml(const std::string& extra = "", bool enabled = true) {
  return "pipeline: [route]\n"
         "stages:\n"
         "  route:\n"
         "    enabled: " + std::string(enabled ? "true" : "false") + "\n"
         "    default: large\n"
         "    targets: {greeting: small, weather: small, extraction: small, translation: small}\n"
         "    examples_file: '" + source_dir() + "/data/route/examples.jsonl'\n" + extra;
}

const std::vector<std::pair<std::string, bool>> kQueries = {  // text, should the small model answer
    {"hello there!", true},
    {"明天上海会下雨吗？", true},
    {"translate 'good night' into German", true},
    {"从这段话中提取所有日期：会议从3月3日改到4月10日。", true},
    {"explain the CAP theorem with an example", false},
    {"帮我写一个二分查找的C++函数", false},
};

TEST(RouteStage, OnVsOffSendsSimpleIntentsToTheSmallModel) {
  for (bool enabled : {false, true}) {
    TwoModelGateway gw({}, {}, route_yaml("", enabled));
    int small_expected = 0;
    for (const auto& [q, small] : kQueries) {
      auto r = gw.chat(q);
      ASSERT_EQ(r.status, 200) << r.body;
      auto body = boost::json::parse(r.body).as_object();
      const std::string model(body.at("model").as_string());
      const std::string header = r.header("x-kuai-route");
      if (!enabled) {
        EXPECT_TRUE(header.empty()) << header;
        continue;
      }
      small_expected += small ? 1 : 0;
      EXPECT_EQ(model, small ? "small" : "large") << q;
      EXPECT_NE(header.find(small ? "; target=small; by=" : "; target=large; by="), std::string::npos) << q << " → " << header;
      EXPECT_NE(header.find("confidence="), std::string::npos);
    }
    const int n = static_cast<int>(kQueries.size());
    EXPECT_EQ(gw.small.model_requests(), enabled ? small_expected : 0);
    EXPECT_EQ(gw.large.model_requests(), enabled ? n - small_expected : n);
    if (enabled) {
      test::HttpClient c(gw.gateway->port);
      std::string metrics = c.get("/metrics").body;
      EXPECT_NE(metrics.find("kuai_route_decisions_total"), std::string::npos);
      EXPECT_NE(metrics.find("kuai_route_small_answers_total"), std::string::npos);
    }
  }
}

TEST(RouteStage, EmptySmallAnswerEscalatesToTheLargeModel) {
  TwoModelGateway gw({"--answer-tokens", "0"}, {"--answer-tokens", "12"}, route_yaml());
  auto r = gw.chat("hi!");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.header("x-kuai-route").find("greeting; target=large; by=rules"), std::string::npos) << r.header("x-kuai-route");
  EXPECT_NE(r.header("x-kuai-route").find("escalated=empty"), std::string::npos);
  EXPECT_FALSE(answer_text(r).empty());
  EXPECT_EQ(gw.small.model_requests(), 1);
  EXPECT_EQ(gw.large.model_requests(), 1);
  test::HttpClient c(gw.gateway->port);
  std::string metrics = c.get("/metrics").body;
  EXPECT_NE(metrics.find("kuai_route_escalations_total{intent=\"greeting\",reason=\"empty\"} 1"), std::string::npos)
      << metrics.substr(0, 2000);
}

TEST(RouteStage, FailingSmallModelEscalatesAndEscalationOffDoesNot) {
  {
    TwoModelGateway gw({"--garbage"}, {}, route_yaml());  // 200 with a body that is not JSON
    auto r = gw.chat("what's the weather in Rome today?");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_NE(r.header("x-kuai-route").find("escalated=error"), std::string::npos) << r.header("x-kuai-route");
    EXPECT_EQ(gw.large.model_requests(), 1);
  }
  {
    TwoModelGateway gw({"--answer-tokens", "0"}, {}, route_yaml("    escalation: {enabled: false}\n"));
    auto r = gw.chat("hello!");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("x-kuai-route").find("escalated"), std::string::npos);
    EXPECT_EQ(gw.small.model_requests(), 1);
    EXPECT_EQ(gw.large.model_requests(), 0);
  }
}

TEST(RouteStage, StreamingBufferedAndPassthrough) {
  for (std::string mode : {"buffer", "passthrough"}) {
    TwoModelGateway gw({}, {}, route_yaml("    escalation: {stream: " + mode + "}\n"));
    auto r = gw.chat("你好", "large", true);
    ASSERT_EQ(r.status, 200) << r.body;
    auto events = test::sse_data(r.body);
    ASSERT_GE(events.size(), 2u) << mode;
    EXPECT_EQ(events.back(), "[DONE]");
    EXPECT_NE(r.header("x-kuai-route").find("greeting; target=small"), std::string::npos) << mode;
    EXPECT_EQ(gw.small.model_requests(), 1) << mode;
    EXPECT_EQ(gw.large.model_requests(), 0) << mode;
  }
}

TEST(RouteStage, ClassifierDecidesWhenItsLabelParsesAndFallsThroughOtherwise) {
  // An echoing small model answers with the JSON of what it was sent; with a prompt that names no label,
  // the only label in that answer is the one in the user's query — so the classifier's whole request
  // path (prompt, model call, parsing) decides.
  const std::string cls = "    precedence: [classifier]\n"
                          "    classifier_model: small\n"
                          "    classifier_prompt: 'Kind?'\n"
                          "    escalation: {enabled: false}\n";
  {
    TwoModelGateway gw({"--echo"}, {}, route_yaml(cls));
    auto r = gw.chat("any weather news for Oslo?");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_NE(r.header("x-kuai-route").find("weather; target=small; by=classifier"), std::string::npos)
        << r.header("x-kuai-route");
  }
  {
    TwoModelGateway gw({}, {}, route_yaml(cls));  // answers are filler words: no label
    auto r = gw.chat("any weather news for Oslo?");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_NE(r.header("x-kuai-route").find("other; target=large; by=default"), std::string::npos)
        << r.header("x-kuai-route");
    EXPECT_EQ(gw.small.model_requests(), 1);  // the classifier call
    EXPECT_EQ(gw.large.model_requests(), 1);
  }
}

TEST(RouteStage, BadConfigFailsAtStartWithAMessage) {
  FakeModel m({});
  std::string path = ::testing::TempDir() + "kuai_s3_bad_route.yaml";
  std::ofstream(path) << "models: {large: {backends: [{url: 'http://127.0.0.1:" << m.port << "/v1'}]}}\n"
                      << "pipeline: [route]\nstages: {route: {precedence: [rules, magic]}}\n";
  test::ChildProcess p(test::kuai_bin(), {"serve", "--config", path, "--port", "0"});
  auto rc = p.wait_exit(test::Ms(10000));
  ASSERT_TRUE(rc.has_value());
  EXPECT_NE(*rc, 0);
  EXPECT_NE(p.output().find("magic"), std::string::npos) << p.output();
  std::remove(path.c_str());
}

}  // namespace
}  // namespace kuai::stages::testing
