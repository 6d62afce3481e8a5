// Reliability (issue 14, B1): a real provider paces its tokens. The real `kuai serve` in front of a
// paced `kuai fake-upstream` must wait for each chunk without spinning, keep serving other clients
// while streams run, and enforce its first-token and total timeouts on stalled upstreams.
#include "support/gateway_procs.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <future>
#include <sstream>

using namespace kuai::test;

namespace {

using Clock = std::chrono::steady_clock;

const char* kChatStream =
    R"({"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"Tell me a story"}]})";
const char* kChat = R"({"model":"gpt-test","messages":[{"role":"user","content":"Tell me a story"}]})";

// CPU seconds (user + system) a process has used, from /proc/PID/stat.
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');  // the command name may hold spaces
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return double(utime + stime) / double(sysconf(_SC_CLK_TCK));
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

}  // namespace

TEST(PacedStream, CostsTheGatewayLittleCpu) {
  // 40 tokens at 20 tokens/s: two seconds of waiting for the upstream.
  Fake fake({"--tokens-per-s", "20", "--answer-tokens", "40"});
  Serve serve({"--upstream", fake.url(), "--set", "server.access_log=false"});
  HttpClient c(serve.port);
  ASSERT_EQ(c.get("/healthz").status, 200);
  double cpu0 = cpu_seconds(serve.proc.pid());
  auto t0 = Clock::now();
  auto r = c.post("/v1/chat/completions", kChatStream);
  double wall = seconds_since(t0);
  double cpu = cpu_seconds(serve.proc.pid()) - cpu0;
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("[DONE]"), std::string::npos);
  EXPECT_GT(wall, 1.5);
  // Spinning on EAGAIN reads cost a whole core (wall seconds of CPU); waiting costs almost nothing.
  EXPECT_LT(cpu, 0.05 * wall) << "gateway CPU " << cpu << " s over a " << wall << " s paced stream";
}

TEST(PacedStream, OtherClientsAreServedWhileStreamsRun) {
  Fake fake({"--tokens-per-s", "20", "--answer-tokens", "30"});
  Serve serve({"--upstream", fake.url(), "--set", "server.access_log=false"});
  const int kStreams = 8;
  std::vector<std::future<std::pair<int, double>>> streams;
  auto t0 = Clock::now();
  for (int i = 0; i < kStreams; ++i) {
    streams.push_back(std::async(std::launch::async, [&] {
      HttpClient c(serve.port, Ms(30000));
      auto r = c.post("/v1/chat/completions", kChatStream);
      return std::pair<int, double>(r.status, seconds_since(t0));
    }));
  }
  std::this_thread::sleep_for(Ms(300));  // the streams are running
  HttpClient probe(serve.port, Ms(5000));
  double worst_ms = 0;
  for (int i = 0; i < 5; ++i) {
    auto p0 = Clock::now();
    EXPECT_EQ(probe.get("/healthz").status, 200);
    worst_ms = std::max(worst_ms, seconds_since(p0) * 1000);
    std::this_thread::sleep_for(Ms(100));
  }
  // Spinning, it took over a second; the bound leaves room for a loaded CI machine.
  EXPECT_LT(worst_ms, 250) << "/healthz took " << worst_ms << " ms during " << kStreams << " paced streams";
  // Concurrent streams overlap: all of them end in about one stream's time (1.5 s), not eight.
  double last = 0;
  for (auto& f : streams) {
    auto [status, done_s] = f.get();
    EXPECT_EQ(status, 200);
    last = std::max(last, done_s);
  }
  EXPECT_LT(last, 3.0) << kStreams << " concurrent 1.5 s streams took " << last << " s";
}

TEST(PacedStream, FirstTokenTimeoutFiresOnAStalledUpstream) {
  Fake fake({"--ttft-ms", "5000"});
  Serve serve({"--upstream", fake.url(), "--set", "upstream.first_token_timeout_ms=1000"});
  for (const char* body : {kChat, kChatStream}) {
    HttpClient c(serve.port);
    auto t0 = Clock::now();
    auto r = c.post("/v1/chat/completions", body);
    double took = seconds_since(t0);
    expect_error(r, 504);
    EXPECT_GT(took, 0.95);
    EXPECT_LT(took, 1.1 + 0.4) << body;  // 10% of the setting, plus scheduling slack on a loaded machine
  }
}

TEST(PacedStream, TotalTimeoutEndsAStreamThatNeverFinishes) {
  // One token every 2 s after the first: the upstream sent its head and a chunk, then stalls.
  Fake fake({"--tokens-per-s", "0.5", "--answer-tokens", "1000"});
  Serve serve({"--upstream", fake.url(), "--set", "upstream.total_timeout_ms=1500"});
  {
    HttpClient c(serve.port);
    auto t0 = Clock::now();
    auto r = c.post("/v1/chat/completions", kChatStream);
    double took = seconds_since(t0);
    EXPECT_EQ(r.body.find("[DONE]"), std::string::npos) << r.body;
    EXPECT_GT(took, 1.4);
    EXPECT_LT(took, 1.65 + 0.4);
  }
  {
    HttpClient c(serve.port);
    auto t0 = Clock::now();
    auto r = c.post("/v1/chat/completions", kChat);
    double took = seconds_since(t0);
    EXPECT_GE(r.status, 500) << r.body;
    EXPECT_LT(took, 1.65 + 0.4);
  }
  serve.expect_healthy();
}
