// `kuai serve` with a BERT-family GGUF in engine.models (a `kuai synth --preset tiny-bert` file): its
// /v1/embeddings are the vectors `kuai embed` computes (checked against llama.cpp in
// tests/engine/model/bert_model_test.cpp) and counted in /metrics, chat on it is a 400, an input over its context is a 400, and
// the semantic cache's `local` embedder runs on it, in the gateway and in `kuai cache eval`.
#include "support/gateway_procs.h"
#include "support/paths.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace kuai::test {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

struct LocalEmbedding : ::testing::Test {
  static void SetUpTestSuite() {
    model = (fs::temp_directory_path() / ("kuai_tiny_bert_" + std::to_string(::getpid()) + ".gguf")).string();
    const auto r = run_shell(kuai_bin() + " synth --preset tiny-bert --type f16 -o " + model);
    ASSERT_EQ(r.code, 0) << r.out;
    fake = std::make_unique<Fake>(std::vector<std::string>{});
    serve = std::make_unique<Serve>(std::vector<std::string>{
        "--upstream", fake->url(), "--set", "engine.models.bge=" + model, "--set", "engine.threads=2", "--set",
        "stages.cache.enabled=true", "--set", "stages.cache.embedder=local", "--set", "stages.cache.embedder_model=bge",
        "--set", "admin_key=adm", "--set", "server.access_log=false"});
  }
  static void TearDownTestSuite() {
    serve.reset();
    fake.reset();
    fs::remove(model);
  }
  static HttpResponse post(const std::string& path, const json::object& body) {
    HttpClient http(serve->port, Ms(30000));
    return http.post(path, json::serialize(body));
  }
  static std::string model;
  static std::unique_ptr<Fake> fake;
  static std::unique_ptr<Serve> serve;
};
std::string LocalEmbedding::model;
std::unique_ptr<Fake> LocalEmbedding::fake;
std::unique_ptr<Serve> LocalEmbedding::serve;

std::vector<double> floats(const json::value& v) {
  std::vector<double> out;
  for (const auto& x : v.as_array()) out.push_back(x.to_number<double>());
  return out;
}

TEST_F(LocalEmbedding, ServesTheVectorsKuaiEmbedComputes) {
  auto r = post("/v1/embeddings", {{"model", "bge"}, {"input", json::array{"hello world", "宝宝几个月可以添加辅食"}}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto v = parse_obj(r.body);
  const auto& data = v.at("data").as_array();
  ASSERT_EQ(data.size(), 2u);
  EXPECT_GT(v.at("usage").at("prompt_tokens").to_number<int64_t>(), 4);
  const auto cli = run_shell(kuai_bin() + " embed -m " + model + " 'hello world' '宝宝几个月可以添加辅食' 2>/dev/null");
  ASSERT_EQ(cli.code, 0) << cli.out;
  std::istringstream lines(cli.out);
  for (size_t i = 0; i < 2; ++i) {
    const auto served = floats(data[i].at("embedding"));
    std::string line;
    ASSERT_TRUE(std::getline(lines, line));
    const auto local = floats(json::parse(line));
    ASSERT_EQ(served.size(), 128u);
    ASSERT_EQ(local.size(), served.size());
    double dot = 0, norm = 0;
    for (size_t j = 0; j < served.size(); ++j) dot += served[j] * local[j], norm += served[j] * served[j];
    EXPECT_NEAR(norm, 1.0, 1e-4);
    EXPECT_GT(dot, 0.99999);
  }
  HttpClient http(serve->port);
  const std::string metrics = http.get("/metrics").body;
  EXPECT_NE(metrics.find("kuai_embedder_tokens_total{model=\"bge\"}"), std::string::npos) << metrics.substr(0, 2000);
  EXPECT_NE(metrics.find("kuai_embedder_seconds_count{model=\"bge\"}"), std::string::npos);
}

TEST_F(LocalEmbedding, ChatAndOverlongInputAreClearErrors) {
  auto chat = post("/v1/chat/completions",
                   {{"model", "bge"}, {"messages", json::array{json::object{{"role", "user"}, {"content", "hi"}}}}});
  auto e = expect_error(chat, 400);
  EXPECT_EQ(e.at("code").as_string(), "model_not_chat");
  std::string words;
  for (int i = 0; i < 200; ++i) words += "word ";
  auto too_long = post("/v1/embeddings", {{"model", "bge"}, {"input", words}});
  e = expect_error(too_long, 400);
  EXPECT_EQ(e.at("code").as_string(), "context_length_exceeded");
  auto empty = post("/v1/embeddings", {{"model", "bge"}, {"input", json::array{"ok", ""}}});
  expect_error(empty, 400);
}

TEST_F(LocalEmbedding, TheCacheEmbedsQueriesWithIt) {
  const json::object q{{"model", "default"},
                       {"messages", json::array{json::object{{"role", "user"}, {"content", "How do I renew my passport?"}}}}};
  auto first = post("/v1/chat/completions", q);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.header("x-kuai-cache"), "miss");
  auto second = post("/v1/chat/completions", q);
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(second.header("x-kuai-cache"), "hit");
  HttpClient http(serve->port);
  auto stats = http.request("GET", "/v1/admin/stages/cache/stats", "", {{"Authorization", "Bearer adm"}});
  ASSERT_EQ(stats.status, 200) << stats.body;
  auto s = parse_obj(stats.body);
  EXPECT_EQ(s.at("embedder").as_string(), "local");
  EXPECT_EQ(s.at("vectors").to_number<int64_t>(), 1) << "the query was embedded by the bert model and indexed";
}

TEST_F(LocalEmbedding, CacheEvalEmbedsThePairsWithIt) {
  const std::string pairs = model + ".pairs.jsonl", cfg = model + ".yaml";
  {
    std::ofstream(pairs) << "{\"a\":\"How do I renew my passport?\",\"b\":\"passport renewal steps\",\"same\":true}\n"
                            "{\"a\":\"Is coffee bad for you?\",\"b\":\"Is coffee not bad for you?\",\"same\":false,\"kind\":\"negation\"}\n";
    std::ofstream(cfg) << "engine:\n  models:\n    bge: " << model << "\nstages:\n  cache:\n    embedder: local\n    embedder_model: bge\n";
  }
  auto r = run_shell(kuai_bin() + " cache eval --pairs " + pairs + " --config " + cfg);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("sweep:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("embedder_trust"), std::string::npos) << r.out;
  // A generative model is not a sentence embedder: one line, with a hint.
  std::ofstream(cfg) << "engine:\n  models:\n    bge: " << shared_dir() << "/models/stories260K/stories260K.gguf\n"
                     << "stages:\n  cache:\n    embedder: local\n    embedder_model: bge\n";
  r = run_shell(kuai_bin() + " cache eval --pairs " + pairs + " --config " + cfg);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("kuai cache eval: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("not a BERT-family embedder"), std::string::npos) << r.out;
  fs::remove(pairs);
  fs::remove(cfg);
}

}  // namespace
}  // namespace kuai::test
