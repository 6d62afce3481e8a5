// Integration: slim + summarize + window through a real `kuai serve`, against `kuai fake-upstream --echo`
// (the echo answer is the JSON of the messages the upstream received, so the test sees exactly what the
// stages sent; usage.prompt_tokens is the upstream's own count of them).
#include "support/process.h"
#include "two_model_gateway.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <fstream>

namespace kuai::stages {
namespace {

using testing::FakeModel;

struct Gateway {
  std::unique_ptr<test::KuaiProcess> proc;
  std::string config_path;
  Gateway(uint16_t big_port, uint16_t small_port, const std::string& stages_yaml) {
    config_path = ::testing::TempDir() + "kuai_s1_" + std::to_string(::getpid()) + "_" + std::to_string(test::free_port()) + ".yaml";
    std::ofstream(config_path) << "models:\n"
                               << "  big: {backends: [{url: 'http://127.0.0.1:" << big_port << "/v1'}]}\n"
                               << "  small: {backends: [{url: 'http://127.0.0.1:" << small_port << "/v1'}]}\n"
                               << stages_yaml << "\n";
    proc = std::make_unique<test::KuaiProcess>(std::vector<std::string>{"serve", "--config", config_path, "--port", "0"});
  }
  ~Gateway() { std::remove(config_path.c_str()); }
  test::HttpResponse chat(const boost::json::array& messages) {
    boost::json::object body{{"model", "big"}, {"messages", messages}};
    test::HttpClient c(proc->port, test::Ms(30000));
    return c.post("/v1/chat/completions", boost::json::serialize(body));
  }
};

boost::json::array conversation(int turns) {
  boost::json::array m;
  m.push_back({{"role", "system"}, {"content", "You are a helpful travel assistant.\n\n\n\nBe brief."}});
  for (int t = 0; t < turns; ++t) {
    if (t % 2 == 0) {
      m.push_back({{"role", "user"}, {"content", "Hi there! I hope this message finds you well. What can I see in Rome, day " +
                                                     std::to_string(t) + "? Thanks in advance!"}});
      m.push_back({{"role", "assistant"}, {"content", "The Colosseum, the Forum and the Pantheon."}});
    } else {
      m.push_back({{"role", "user"}, {"content", "您好！请你耐心理解用户提问，不要着急。北京第" + std::to_string(t) + "天去哪里？谢谢！"}});
      m.push_back({{"role", "assistant"}, {"content", "故宫、天坛和颐和园。"}});
    }
  }
  m.push_back({{"role", "user"}, {"content", "Hi there! Which city has better food? ```keep  this``` Thanks in advance!"}});
  return m;
}

// The messages the upstream received (the echo answer) and the upstream's prompt token count.
std::pair<boost::json::array, int64_t> echoed(const test::HttpResponse& r) {
  auto v = boost::json::parse(r.body);
  std::string content(v.at("choices").at(0).at("message").at("content").as_string());
  auto received = boost::json::parse(content);
  boost::json::array msgs = received.is_array() ? received.as_array() : received.at("messages").as_array();
  return {msgs, v.at("usage").at("prompt_tokens").to_number<int64_t>()};
}

std::string all_text(const boost::json::array& msgs) {
  std::string s;
  for (const auto& m : msgs)
    if (m.as_object().at("content").is_string()) s += std::string(m.at("content").as_string()) + "\n";
  return s;
}

TEST(InputStagesGateway, OnVsOffThroughRealServer) {
  FakeModel big({"--echo"}), small({"--echo"});
  Gateway off(big.port, small.port, "pipeline: [slim, summarize, window]\nstages: {slim: {enabled: false}, "
                                    "summarize: {enabled: false}, window: {enabled: false, max_turns: 2}}");
  Gateway on(big.port, small.port, "pipeline: [slim, summarize, window]\nstages: {summarize: {mode: keywords}, window: {max_turns: 2}}");
  auto conv = conversation(10);
  auto r_off = off.chat(conv);
  auto r_on = on.chat(conv);
  ASSERT_EQ(r_off.status, 200) << r_off.body;
  ASSERT_EQ(r_on.status, 200) << r_on.body;
  auto [msgs_off, tokens_off] = echoed(r_off);
  auto [msgs_on, tokens_on] = echoed(r_on);
  // Off: the upstream saw everything as sent.
  EXPECT_EQ(msgs_off.size(), conv.size());
  EXPECT_NE(all_text(msgs_off).find("I hope this message finds you well"), std::string::npos);
  EXPECT_EQ(r_off.header("x-kuai-tokens-saved"), "0");
  // On: filler gone, old turns replaced by one summary, the system prompt and the code kept.
  std::string text_on = all_text(msgs_on);
  EXPECT_EQ(text_on.find("I hope this message finds you well"), std::string::npos) << text_on;
  EXPECT_EQ(text_on.find("请你耐心理解用户提问"), std::string::npos) << text_on;
  EXPECT_NE(text_on.find("```keep  this```"), std::string::npos) << text_on;
  EXPECT_EQ(std::string(msgs_on[0].at("content").as_string()), "You are a helpful travel assistant.\n\nBe brief.");
  EXPECT_NE(std::string(msgs_on[1].at("content").as_string()).find("key points"), std::string::npos) << text_on;
  EXPECT_EQ(msgs_on.size(), 5u);  // system, summary, the last 2 user turns (user, assistant, user)
  EXPECT_LT(tokens_on * 2, tokens_off) << tokens_on << " vs " << tokens_off;
  EXPECT_GT(std::stoll(r_on.header("x-kuai-tokens-saved")), 0);
  EXPECT_FALSE(r_on.header("x-kuai-slim").empty());
  EXPECT_FALSE(r_on.header("x-kuai-summary").empty());
  EXPECT_NE(r_on.header("x-kuai-window").find("dropped=0"), std::string::npos) << r_on.header("x-kuai-window");
}

TEST(InputStagesGateway, ModelSummaryIsComputedOncePerPrefix) {
  FakeModel big({"--echo"}), small({"--echo", "--model-name", "small"});
  Gateway gw(big.port, small.port,
             "pipeline: [summarize, window]\nstages: {summarize: {mode: model, model: small, max_tokens: 60}, "
             "window: {max_turns: 2}}");
  auto conv = conversation(8);
  auto r1 = gw.chat(conv);
  ASSERT_EQ(r1.status, 200) << r1.body;
  EXPECT_EQ(small.model_requests(), 1);
  auto [msgs1, t1] = echoed(r1);
  std::string summary(msgs1[1].at("content").as_string());
  EXPECT_EQ(summary.rfind("Summary of the earlier conversation: ", 0), 0u) << summary;
  auto r2 = gw.chat(conv);
  ASSERT_EQ(r2.status, 200);
  EXPECT_EQ(small.model_requests(), 1);  // memo hit: the small model is not called again
  EXPECT_EQ(r2.header("x-kuai-summary").rfind("hit;", 0), 0u) << r2.header("x-kuai-summary");
  auto [msgs2, t2] = echoed(r2);
  EXPECT_EQ(std::string(msgs2[1].at("content").as_string()), summary);
}

}  // namespace
}  // namespace kuai::stages
