// Reliability (issue 14, B3, B4, B7): big prompts neither grow the cache without bound nor stall the
// I/O thread; `serve --model` serves unknown model names with its model, as docs/CONFIG.md says.
#include "support/gateway_procs.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <future>

using namespace kuai::test;
namespace json = boost::json;

namespace {

const HeaderList kAdmin{{"Authorization", "Bearer admin-key"}};

std::string chat_of(const std::string& content, const std::string& model = "m") {
  json::object body{{"model", model},
                    {"messages", json::array{json::object{{"role", "user"}, {"content", content}}}}};
  return json::serialize(body);
}

// A distinct text of about `bytes` bytes (words, so the cache's features have work to do).
std::string big_text(size_t bytes, int seed) {
  std::string s = "question " + std::to_string(seed) + ":";
  for (int i = 0; s.size() < bytes; ++i) s += " word" + std::to_string((i * 7919 + seed) % 10007);
  return s;
}

std::string stories_path() { return shared_dir() + "/models/stories260K/stories260K.gguf"; }

}  // namespace

TEST(BigInputs, TooLongQueriesAreNotCached) {
  Fake fake({});
  Serve serve({"--upstream", fake.url(), "--set", "pipeline=[cache]"});
  HttpClient c(serve.port);
  auto r = c.post("/v1/chat/completions", chat_of(big_text(20000, 1)));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-kuai-cache"), "skipped; reason=too_long");
  auto small = c.post("/v1/chat/completions", chat_of("What is the capital of France?"));
  EXPECT_EQ(small.header("x-kuai-cache"), "miss");
}

TEST(BigInputs, CacheMemoryStaysUnderMaxBytes) {
  Fake fake({});
  const int64_t kMaxBytes = 5'000'000;
  Serve serve({"--upstream", fake.url(), "--set", "pipeline=[cache]", "--set", "admin_key=admin-key", "--set",
               "stages.cache.max_query_bytes=1000000", "--set", "stages.cache.max_bytes=" + std::to_string(kMaxBytes)});
  HttpClient c(serve.port, Ms(60000));
  for (int i = 0; i < 12; ++i) {
    auto r = c.post("/v1/chat/completions", chat_of(big_text(60'000, i)));
    ASSERT_EQ(r.status, 200) << r.body;
  }
  auto stats = parse_obj(c.get("/v1/admin/stages/cache/stats", kAdmin).body);
  ASSERT_TRUE(stats.contains("bytes")) << json::serialize(stats);
  EXPECT_LE(stats.at("bytes").to_number<int64_t>(), kMaxBytes);
  EXPECT_GT(stats.at("evictions").to_number<int64_t>(), 0);
  EXPECT_GT(stats.at("entries").to_number<int64_t>(), 0);
}

TEST(BigInputs, HugePromptToTheEngineIsRefusedFastWithoutStallingOthers) {
  if (!std::filesystem::exists(stories_path())) GTEST_SKIP() << "no " << stories_path();
  Serve serve({"--model", stories_path(), "--kv-memory", "8MiB", "--set", "server.access_log=false"});
  const std::string huge = chat_of(std::string(8'000'000, 'a'), "stories260K");
  auto big = std::async(std::launch::async, [&] {
    HttpClient c(serve.port, Ms(60000));
    auto t0 = std::chrono::steady_clock::now();
    auto r = c.post("/v1/chat/completions", huge);
    return std::pair(r, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  });
  HttpClient probe(serve.port, Ms(10000));
  double worst_ms = 0;
  for (int i = 0; i < 10; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(probe.get("/healthz").status, 200);
    worst_ms = std::max(worst_ms, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    std::this_thread::sleep_for(Ms(20));
  }
  auto [r, took] = big.get();
  auto err = expect_error(r, 400);
  EXPECT_EQ(err.at("code").as_string(), "context_length_exceeded");
  EXPECT_LT(took, 3.0);  // reading 8 MB, refused before tokenizing (it took 4.75 s to tokenize)
  EXPECT_LT(worst_ms, 250) << "/healthz stalled while a huge prompt was handled";
}

TEST(BigInputs, ServeModelServesUnknownModelNames) {
  if (!std::filesystem::exists(stories_path())) GTEST_SKIP() << "no " << stories_path();
  Serve serve({"--model", stories_path(), "--kv-memory", "8MiB"});
  HttpClient c(serve.port, Ms(60000));
  auto r = c.post("/v1/chat/completions", chat_of("Once upon a time", "x"));
  EXPECT_EQ(r.status, 200) << r.body;
}
