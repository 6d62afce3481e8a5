// `kuai serve --model stories260K.gguf`: the embedded engine behind the real gateway, over HTTP and SSE.
#include "support/process.h"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <cstdlib>
#include <thread>
#include "support/paths.h"

namespace kuai::test {
namespace {

namespace json = boost::json;

std::string stories_path() {
  return kuai::test::shared_dir() + "/models/stories260K/stories260K.gguf";
}

struct LocalServe : ::testing::Test {
  static void SetUpTestSuite() {
    kuai = std::make_unique<KuaiProcess>(std::vector<std::string>{
        "serve", "--port", "0", "--model", stories_path(), "--kv-memory", "16MiB", "--engine-threads", "2",
        "--max-seqs", "8", "--set", "server.access_log=false"});
  }
  static void TearDownTestSuite() { kuai.reset(); }
  static std::unique_ptr<KuaiProcess> kuai;

  HttpResponse post(const std::string& path, const json::object& body) {
    HttpClient http(kuai->port, Ms(60000));
    return http.post(path, json::serialize(body));
  }
};
std::unique_ptr<KuaiProcess> LocalServe::kuai;

TEST_F(LocalServe, CompletionsAndChatAndModels) {
  auto r = post("/v1/completions", {{"model", "stories260K"}, {"prompt", "Once upon a time"}, {"max_tokens", 30},
                                    {"temperature", 0}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto v = json::parse(r.body).as_object();
  EXPECT_EQ(v.at("object").as_string(), "text_completion");
  const std::string text(v.at("choices").as_array()[0].as_object().at("text").as_string());
  EXPECT_FALSE(text.empty());
  // Greedy is deterministic: the same request, the same text.
  auto r2 = post("/v1/completions", {{"model", "stories260K"}, {"prompt", "Once upon a time"}, {"max_tokens", 30},
                                     {"temperature", 0}});
  ASSERT_EQ(r2.status, 200);
  EXPECT_EQ(json::parse(r2.body).at("choices").as_array()[0].at("text").as_string(), text);

  auto c = post("/v1/chat/completions",
                {{"model", "default"}, {"messages", json::array{json::object{{"role", "user"}, {"content", "Lily"}}}},
                 {"max_tokens", 20}, {"temperature", 0}});
  ASSERT_EQ(c.status, 200) << c.body;
  auto cv = json::parse(c.body).as_object();
  EXPECT_EQ(cv.at("choices").as_array()[0].at("message").at("role").as_string(), "assistant");
  EXPECT_GT(cv.at("usage").at("completion_tokens").to_number<int64_t>(), 0);

  HttpClient http(kuai->port);
  auto m = http.get("/v1/models");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("stories260K"), std::string::npos);
}

TEST_F(LocalServe, StreamsOverSse) {
  auto full = post("/v1/chat/completions",
                   {{"model", "stories260K"}, {"messages", json::array{json::object{{"role", "user"}, {"content", "Tom"}}}},
                    {"max_tokens", 25}, {"temperature", 0}});
  ASSERT_EQ(full.status, 200);
  const std::string want(json::parse(full.body).at("choices").as_array()[0].at("message").at("content").as_string());
  auto r = post("/v1/chat/completions",
                {{"model", "stories260K"}, {"messages", json::array{json::object{{"role", "user"}, {"content", "Tom"}}}},
                 {"max_tokens", 25}, {"temperature", 0}, {"stream", true},
                 {"stream_options", json::object{{"include_usage", true}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.header("content-type").find("text/event-stream"), std::string::npos);
  auto events = sse_data(r.body);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text;
  bool finish = false, usage = false;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    auto o = json::parse(events[i]).as_object();
    if (o.contains("usage") && o.at("usage").is_object()) usage = true;
    for (const auto& ch : o.at("choices").as_array()) {
      const auto& d = ch.at("delta").as_object();
      if (const auto* t = d.if_contains("content"); t && t->is_string()) text += std::string(t->as_string());
      if (!ch.at("finish_reason").is_null()) finish = true;
    }
  }
  EXPECT_EQ(text, want);
  EXPECT_TRUE(finish);
  EXPECT_TRUE(usage);
}

TEST_F(LocalServe, ConcurrentRequestsEqualSequentialOnes) {
  const std::vector<std::string> prompts{"Once upon a time", "Lily and Tom", "The little dog", "One day, a bird",
                                         "Sam had a red ball", "The sun was hot"};
  std::vector<std::string> alone, together(prompts.size());
  for (const auto& p : prompts) {
    auto r = post("/v1/completions", {{"model", "stories260K"}, {"prompt", p}, {"max_tokens", 40}, {"temperature", 0}});
    ASSERT_EQ(r.status, 200);
    alone.emplace_back(json::parse(r.body).at("choices").as_array()[0].at("text").as_string());
  }
  std::vector<std::thread> ts;
  for (size_t i = 0; i < prompts.size(); ++i) {
    ts.emplace_back([&, i] {
      auto r = post("/v1/completions",
                    {{"model", "stories260K"}, {"prompt", prompts[i]}, {"max_tokens", 40}, {"temperature", 0}});
      if (r.status == 200) together[i] = json::parse(r.body).at("choices").as_array()[0].at("text").as_string().c_str();
    });
  }
  for (auto& t : ts) t.join();
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(together[i], alone[i]) << prompts[i];
}

TEST_F(LocalServe, EmbeddingsAndMetrics) {
  auto r = post("/v1/embeddings", {{"model", "stories260K"}, {"input", json::array{"a cat", "a dog"}}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto data = json::parse(r.body).at("data").as_array();
  ASSERT_EQ(data.size(), 2u);
  double n = 0;
  for (const auto& x : data[0].at("embedding").as_array()) n += x.to_number<double>() * x.to_number<double>();
  EXPECT_NEAR(n, 1.0, 1e-4);
  HttpClient http(kuai->port);
  auto m = http.get("/metrics");
  ASSERT_EQ(m.status, 200);
  for (const char* name : {"kuai_kv_blocks_used", "kuai_kv_blocks_free", "kuai_kv_waste_ratio", "kuai_engine_running_sequences",
                           "kuai_engine_waiting_sequences", "kuai_engine_ttft_seconds", "kuai_kv_prefix_hit_tokens_total"}) {
    EXPECT_NE(m.body.find(name), std::string::npos) << name;
  }
}

TEST_F(LocalServe, BadRequestsGetClearErrors) {
  auto zero = post("/v1/completions", {{"model", "stories260K"}, {"prompt", "hi"}, {"max_tokens", 0}});
  EXPECT_EQ(zero.status, 400) << zero.body;
  EXPECT_NE(zero.body.find("max_tokens"), std::string::npos);
  std::string longp;
  for (int i = 0; i < 3000; ++i) longp += "cat ";
  auto over = post("/v1/completions", {{"model", "stories260K"}, {"prompt", longp}, {"max_tokens", 5}});
  EXPECT_EQ(over.status, 400) << over.body;
  EXPECT_NE(over.body.find("context_length_exceeded"), std::string::npos);
  // `serve --model` makes its model the server.fallback_model (docs/CONFIG.md): unknown names are served.
  auto unknown = post("/v1/completions", {{"model", "no-such-model"}, {"prompt", "hi"}, {"max_tokens", 5}});
  EXPECT_EQ(unknown.status, 200) << unknown.body;
  // n > 1 and logprobs are not silently ignored: the engine returns one choice without log probabilities.
  auto n2 = post("/v1/chat/completions", {{"model", "stories260K"}, {"n", 2},
                                          {"messages", json::array{json::object{{"role", "user"}, {"content", "hi"}}}}});
  EXPECT_EQ(n2.status, 400) << n2.body;
  EXPECT_NE(n2.body.find("\"param\":\"n\""), std::string::npos) << n2.body;
  auto lp = post("/v1/chat/completions", {{"model", "stories260K"}, {"logprobs", true},
                                          {"messages", json::array{json::object{{"role", "user"}, {"content", "hi"}}}}});
  EXPECT_EQ(lp.status, 400) << lp.body;
  EXPECT_NE(lp.body.find("\"param\":\"logprobs\""), std::string::npos) << lp.body;
}

}  // namespace
}  // namespace kuai::test
