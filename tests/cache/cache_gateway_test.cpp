// The cache through the real gateway: `kuai serve` in front of `kuai fake-upstream`, both started here
// on free ports (and, for sharing, a real redis-server). Hits for non-streaming clients come back as
// one JSON body, for streaming clients as SSE chunks in the live format; a streamed answer is stored
// once complete, a cut one never; two gateways share entries through Redis, and killing one loses
// nothing.
#include "support/process.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <thread>

namespace kuai::cache {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;
using test::HeaderList;
using test::HttpClient;
using test::HttpResponse;

const HeaderList kAdmin{{"Authorization", "Bearer adm"}};

std::string chat_body(const std::string& question, bool stream = false) {
  json::object o{{"model", "m"},
                 {"messages", json::array{json::object{{"role", "user"}, {"content", question}}}}};
  if (stream) o["stream"] = true;
  return json::serialize(o);
}

std::string content_of(const HttpResponse& r) {
  auto v = json::parse(r.body);
  return std::string(v.at("choices").at(0).at("message").at("content").as_string());
}

// The text of an SSE stream (deltas joined); `done` says whether it ended with [DONE].
std::string stream_text(const HttpResponse& r, bool& done) {
  std::string text;
  done = false;
  for (const auto& d : test::sse_data(r.body)) {
    if (d == "[DONE]") { done = true; continue; }
    auto v = json::parse(d);
    if (!v.as_object().contains("choices")) continue;  // an error event (cut stream)
    EXPECT_EQ(v.at("object").as_string(), "chat.completion.chunk");
    const auto& delta = v.at("choices").at(0).at("delta").as_object();
    if (auto it = delta.find("content"); it != delta.end() && it->value().is_string()) text += it->value().as_string().c_str();
  }
  return text;
}

int64_t upstream_model_requests(uint16_t port) {
  HttpClient c(port);
  auto r = c.get("/stats");
  return json::parse(r.body).at("model_requests").to_number<int64_t>();
}

struct Upstream {
  test::ChildProcess proc;
  uint16_t port = 0;
  explicit Upstream(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"fake-upstream", "--port", "0", "--ttft-ms", "20", "--answer-tokens", "12"};
    args.insert(args.end(), extra.begin(), extra.end());
    proc.start(test::kuai_bin(), args);
    port = proc.wait_listening();
    if (port == 0) throw std::runtime_error("fake-upstream did not start:\n" + proc.output());
  }
};

std::vector<std::string> serve_args(uint16_t upstream, const std::string& redis = {}) {
  std::vector<std::string> a{"serve", "--port", "0", "--upstream", "http://127.0.0.1:" + std::to_string(upstream),
                             "--set", "pipeline=[cache]", "--set", "admin_key=adm",
                             "--set", "stages.cache.threshold=0.8"};
  if (!redis.empty()) {
    a.push_back("--set");
    a.push_back("stages.cache.redis=" + redis);
  }
  return a;
}

// A client says a cached answer was wrong: the entry is dropped (the next ask misses), and only the
// tenant that got the answer can say so.
TEST(CacheGatewayTest, ClientFeedbackDropsAWrongEntry) {
  Upstream up;
  auto args = serve_args(up.port);
  args.insert(args.end(), {"--set", "tenants={sk-a: {name: a}, sk-b: {name: b}}"});
  test::KuaiProcess gw(args);
  HttpClient c(gw.port);
  const HeaderList a{{"Authorization", "Bearer sk-a"}}, b{{"Authorization", "Bearer sk-b"}};
  ASSERT_EQ(c.post("/v1/chat/completions", chat_body("How do I reset my password?"), a).header("x-kuai-cache"), "miss");
  auto hit = c.post("/v1/chat/completions", chat_body("How do I reset my password?"), a);
  ASSERT_EQ(hit.header("x-kuai-cache"), "hit");
  const std::string id(json::parse(hit.body).at("id").as_string());
  const std::string wrong = json::serialize(json::object{{"request_id", id}, {"wrong", true}});
  EXPECT_EQ(c.post("/v1/cache/feedback", wrong, b).status, 404);  // another tenant's answer
  EXPECT_EQ(c.post("/v1/cache/feedback", "{not json", a).status, 400);
  EXPECT_EQ(c.post("/v1/cache/feedback", R"({"request_id":"chatcmpl-nope","wrong":true})", a).status, 404);
  EXPECT_EQ(c.post("/v1/cache/feedback", wrong).status, 401);  // no key
  auto fb = c.post("/v1/cache/feedback", wrong, a);
  ASSERT_EQ(fb.status, 200) << fb.body;
  EXPECT_TRUE(json::parse(fb.body).as_object().contains("namespace_threshold")) << fb.body;  // 1 of 1 was wrong
  EXPECT_NE(c.post("/v1/chat/completions", chat_body("How do I reset my password?"), a).header("x-kuai-cache"), "hit");
}

TEST(CacheGatewayTest, HitsAsJsonAndAsSseAndStreamsAreStoredWhenComplete) {
  Upstream up;
  test::KuaiProcess gw(serve_args(up.port));
  HttpClient c(gw.port);

  auto miss = c.post("/v1/chat/completions", chat_body("How do I reset my password?"));
  ASSERT_EQ(miss.status, 200) << miss.body;
  EXPECT_EQ(miss.header("x-kuai-cache"), "miss");
  std::string answer = content_of(miss);
  ASSERT_FALSE(answer.empty());

  auto hit = c.post("/v1/chat/completions", chat_body("how can I reset my passwords"));
  ASSERT_EQ(hit.status, 200) << hit.body;
  EXPECT_EQ(hit.header("x-kuai-cache"), "hit");
  EXPECT_EQ(content_of(hit), answer);
  auto usage = json::parse(hit.body).at("usage");
  EXPECT_EQ(usage.at("prompt_tokens_details").at("cached_tokens"), usage.at("prompt_tokens"));
  EXPECT_EQ(upstream_model_requests(up.port), 1);

  // A streaming client gets the hit as SSE chunks, in the live format, ending with [DONE].
  auto shit = c.post("/v1/chat/completions", chat_body("How do I reset my password", true));
  ASSERT_EQ(shit.status, 200);
  EXPECT_EQ(shit.header("x-kuai-cache"), "hit");
  EXPECT_NE(shit.header("content-type").find("text/event-stream"), std::string::npos);
  bool done = false;
  EXPECT_EQ(stream_text(shit, done), answer);
  EXPECT_TRUE(done);
  EXPECT_EQ(upstream_model_requests(up.port), 1);

  // A streamed miss is stored once complete; the same question, not streamed, then hits.
  auto smiss = c.post("/v1/chat/completions", chat_body("Explain photosynthesis in simple terms", true));
  ASSERT_EQ(smiss.status, 200);
  EXPECT_EQ(smiss.header("x-kuai-cache"), "miss");
  std::string streamed = stream_text(smiss, done);
  ASSERT_TRUE(done);
  ASSERT_FALSE(streamed.empty());
  HttpResponse after;
  for (int i = 0; i < 100; ++i) {  // the store runs right after the stream ends; allow for that hop
    after = c.post("/v1/chat/completions", chat_body("Can you explain photosynthesis in simple terms?"));
    if (after.header("x-kuai-cache") == "hit") break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(after.header("x-kuai-cache"), "hit");
  EXPECT_EQ(content_of(after), streamed);

  // Different meaning, close in wording: refused, with the guard named.
  auto refused = c.post("/v1/chat/completions", chat_body("How do I not reset my password?"));
  ASSERT_EQ(refused.status, 200);
  EXPECT_NE(refused.header("x-kuai-cache"), "hit");
  if (refused.header("x-kuai-cache") == "refused") {
    EXPECT_EQ(refused.header("x-kuai-cache-guard"), "negation");
  }

  // Admin: stats; a wrong answer deleted is not served again.
  auto stats = c.get("/v1/admin/stages/cache/stats", kAdmin);
  ASSERT_EQ(stats.status, 200) << stats.body;
  EXPECT_GE(json::parse(stats.body).at("hits").to_number<int64_t>(), 3);
  std::string entry = hit.header("x-kuai-cache-entry");
  ASSERT_FALSE(entry.empty());
  auto del = c.request("DELETE", "/v1/admin/stages/cache/entries/" + entry, "", kAdmin);
  EXPECT_EQ(del.status, 200) << del.body;
  auto again = c.post("/v1/chat/completions", chat_body("How do I reset my password?"));
  EXPECT_NE(again.header("x-kuai-cache"), "hit");  // miss, or refused by the stored negated question
}

TEST(CacheGatewayTest, CutStreamIsNeverStored) {
  Upstream up({"--cut-stream-after", "3"});
  test::KuaiProcess gw(serve_args(up.port));
  HttpClient c(gw.port);
  auto cut = c.post("/v1/chat/completions", chat_body("Write a haiku about autumn", true));
  bool done = true;
  stream_text(cut, done);
  EXPECT_FALSE(done);
  std::this_thread::sleep_for(100ms);
  auto next = c.post("/v1/chat/completions", chat_body("Write a haiku about autumn", true));
  EXPECT_NE(next.header("x-kuai-cache"), "hit");
  auto stats = c.get("/v1/admin/stages/cache/stats", kAdmin);
  EXPECT_EQ(json::parse(stats.body).at("entries").to_number<int64_t>(), 0);
}

TEST(CacheGatewayTest, TwoGatewaysShareThroughRedisAndAKillLosesNothing) {
  uint16_t rport = test::free_port();
  test::ChildProcess redis("/usr/bin/redis-server", {"--port", std::to_string(rport), "--save", "", "--appendonly",
                                                     "no", "--daemonize", "no", "--bind", "127.0.0.1"});
  ASSERT_TRUE(test::wait_for_port(rport)) << redis.output();
  std::string url = "redis://127.0.0.1:" + std::to_string(rport);
  Upstream up;
  auto a = std::make_unique<test::KuaiProcess>(serve_args(up.port, url));
  test::KuaiProcess b(serve_args(up.port, url));
  HttpClient ca(a->port), cb(b.port);

  auto miss = ca.post("/v1/chat/completions", chat_body("What is the boiling point of water?"));
  ASSERT_EQ(miss.status, 200) << miss.body;
  EXPECT_EQ(miss.header("x-kuai-cache"), "miss");
  std::string answer = content_of(miss);
  // Wait until B has the entry (A stores it after the answer is sent, then publishes it); asking B
  // before that would be a miss and B would store its own answer.
  int64_t b_entries = 0;
  for (int i = 0; i < 250 && b_entries == 0; ++i) {
    auto s = cb.get("/v1/admin/stages/cache/stats", kAdmin);
    if (s.status == 200) b_entries = json::parse(s.body).at("entries").to_number<int64_t>();
    if (b_entries == 0) std::this_thread::sleep_for(20ms);
  }
  ASSERT_EQ(b_entries, 1);
  auto on_b = cb.post("/v1/chat/completions", chat_body("what's the boiling point of water"));
  ASSERT_EQ(on_b.header("x-kuai-cache"), "hit");
  EXPECT_EQ(content_of(on_b), answer);

  // Kill A outright: B still answers from the cache, and a new gateway C starts warm from Redis.
  a->proc.kill();
  a.reset();
  auto still = cb.post("/v1/chat/completions", chat_body("What is the boiling point of water"));
  EXPECT_EQ(still.header("x-kuai-cache"), "hit");
  test::KuaiProcess c(serve_args(up.port, url));
  HttpClient cc(c.port);
  auto on_c = cc.post("/v1/chat/completions", chat_body("What is the boiling point of water?", true));
  EXPECT_EQ(on_c.header("x-kuai-cache"), "hit");
  bool done = false;
  EXPECT_EQ(stream_text(on_c, done), answer);
  EXPECT_EQ(upstream_model_requests(up.port), 1);
}

}  // namespace
}  // namespace kuai::cache
