// bench_input_stages: what the input stages cost and save.
//  1. Per-request time of slim, window and slim + window on a 20-turn English/Chinese conversation
//     (target: slim + window < 50 µs), against a same-run baseline (copying the request only); each
//     figure is the median of 5 batches of this thread's CPU time (robust to other jobs on the cores).
//  2. Input tokens removed (%), by the estimate.
//  3. End-to-end latency with and without the stages, through `kuai serve` and a `kuai fake-upstream`
//     whose first-token delay grows with prompt tokens (processes started here, on loopback).
// Usage: bench_input_stages [iterations=2000] [e2e_requests=20]   (KUAI_BIN defaults to ./kuai)
#include "../../tests/support/process.h"

#include "config/config.h"
#include "pipeline/pipeline.h"
#include "stages/slim.h"
#include "stages/summarize.h"
#include "stages/window.h"
#include "text/estimate.h"

#include <boost/json.hpp>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <filesystem>
#include <fstream>

using namespace kuai;
using Clock = std::chrono::steady_clock;

namespace {

api::Message msg(const std::string& role, const std::string& content) {
  api::Message m;
  m.role = role;
  m.content = content;
  m.raw = {{"role", role}, {"content", content}};
  return m;
}

api::ChatRequest conversation() {
  api::ChatRequest r;
  r.model = "big";
  r.messages.push_back(msg("system", "You are a helpful travel assistant.\n\n\n\nAnswer briefly and precisely."));
  for (int t = 0; t < 20; ++t) {
    if (t % 2 == 0) {
      r.messages.push_back(msg("user", "Hi there! I hope this message finds you well. What should I see in Rome on day " +
                                           std::to_string(t) + "? Please take your time and think carefully.   "
                                           "I have a budget of 200 euros.\n\n\nThanks in advance!"));
      r.messages.push_back(msg("assistant", "On day " + std::to_string(t) + " see the Colosseum, the Roman Forum and "
                                            "the Pantheon; lunch near Campo de' Fiori costs about 20 euros."));
    } else {
      r.messages.push_back(msg("user", "您好！请你耐心理解用户提问，不要着急。第" + std::to_string(t) +
                                           "天在北京应该去哪里？预算是一千元。谢谢！"));
      r.messages.push_back(msg("assistant", "第" + std::to_string(t) + "天可以去故宫、天坛和颐和园，门票共约一百五十元。"));
    }
  }
  r.messages.push_back(msg("user", "Hi there! Which of the two cities has better street food? Thanks in advance!"));
  return r;
}

int64_t tokens_of(const api::ChatRequest& r) {
  int64_t t = 0;
  for (const auto& m : r.messages) t += text::estimate_tokens(m.content) + 4;
  return t;
}

// This thread's CPU time in microseconds: unlike the wall clock, it does not count the time the
// thread waits while other jobs on the shared cores run.
double thread_cpu_us() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

// Per-request time of `f`: the median over 5 batches of this thread's CPU time per iteration.
template <class F>
double per_request_us(int iterations, const api::ChatRequest& req, pipeline::Services& services, F&& f) {
  std::vector<double> batches;
  int per_batch = std::max(1, iterations / 5);
  for (int b = 0; b < 5; ++b) {
    double t0 = thread_cpu_us();
    for (int i = 0; i < per_batch; ++i) {
      pipeline::Context ctx;
      ctx.request = req;
      ctx.services = &services;
      f(ctx);
    }
    batches.push_back((thread_cpu_us() - t0) / per_batch);
  }
  std::sort(batches.begin(), batches.end());
  return batches[2];
}

struct Gateway {
  std::unique_ptr<test::KuaiProcess> proc;
  std::string path;
  Gateway(uint16_t upstream, const std::string& stages) {
    path = "/tmp/kuai_bench_input_" + std::to_string(::getpid()) + "_" + std::to_string(test::free_port()) + ".yaml";
    std::ofstream(path) << "models:\n  big: {backends: [{url: 'http://127.0.0.1:" << upstream << "/v1'}]}\n" << stages;
    proc = std::make_unique<test::KuaiProcess>(std::vector<std::string>{"serve", "--config", path, "--port", "0"});
  }
  ~Gateway() { std::remove(path.c_str()); }
};

double mean_latency_ms(uint16_t port, const std::string& body, int n) {
  test::HttpClient c(port, test::Ms(60000));
  c.post("/v1/chat/completions", body);  // warm-up (connections, summary memo)
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    auto r = c.post("/v1/chat/completions", body);
    if (r.status != 200) {
      std::fprintf(stderr, "request failed: %d %s\n", r.status, r.body.c_str());
      return -1;
    }
  }
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / n;
}

}  // namespace

int main(int argc, char** argv) {
  const int iterations = argc > 1 ? std::atoi(argv[1]) : 2000;
  const int e2e = argc > 2 ? std::atoi(argv[2]) : 20;
  if (!std::getenv("KUAI_BIN")) {
    auto exe = std::filesystem::read_symlink("/proc/self/exe").parent_path() / "kuai";
    ::setenv("KUAI_BIN", exe.c_str(), 1);
  }

  config::Config cfg;
  (void)config::Config::load_string("pipeline: [slim, summarize, window]\nstages: {window: {max_turns: 4}}\n", cfg);
  pipeline::Services services;
  services.config = &cfg;
  std::string err;
  auto slim = stages::make_slim_stage(cfg.at("stages.slim"), services, err);
  auto window = stages::make_window_stage(cfg.at("stages.window"), services, err);
  if (!slim || !window) {
    std::fprintf(stderr, "stage config: %s\n", err.c_str());
    return 1;
  }
  auto* s = static_cast<stages::SlimStage*>(slim.get());
  auto* w = static_cast<stages::WindowStage*>(window.get());
  const api::ChatRequest req = conversation();

  // 1. Stage time (the copy of the request is the baseline, measured the same way in the same run).
  per_request_us(iterations / 10 + 1, req, services, [&](pipeline::Context& c) { s->slim_request(c); });
  double base = per_request_us(iterations, req, services, [](pipeline::Context&) {});
  double t_slim = per_request_us(iterations, req, services, [&](pipeline::Context& c) { s->slim_request(c); }) - base;
  double t_window = per_request_us(iterations, req, services, [&](pipeline::Context& c) { w->window_request(c); }) - base;
  double t_both = per_request_us(iterations, req, services, [&](pipeline::Context& c) {
                    s->slim_request(c);
                    w->window_request(c);
                  }) - base;
  std::printf("stage time, 20-turn conversation (%zu messages, %lld tokens est.), %d iterations:\n", req.messages.size(),
              static_cast<long long>(tokens_of(req)), iterations);
  std::printf("  baseline (request copy)  %8.2f us\n", base);
  std::printf("  slim                     %8.2f us\n", t_slim);
  std::printf("  window (max_turns 4)     %8.2f us\n", t_window);
  std::printf("  slim + window            %8.2f us   target < 50 us: %s (%.2fx of target)\n", t_both,
              t_both < 50 ? "met" : "MISSED", t_both / 50.0);

  // 2. Tokens removed.
  auto removed = [&](auto&& f) {
    pipeline::Context c;
    c.request = req;
    c.services = &services;
    f(c);
    return 100.0 * static_cast<double>(tokens_of(req) - tokens_of(c.request)) / static_cast<double>(tokens_of(req));
  };
  std::printf("input tokens removed: slim %.1f%%, window %.1f%%, slim + window %.1f%%\n",
              removed([&](pipeline::Context& c) { s->slim_request(c); }),
              removed([&](pipeline::Context& c) { w->window_request(c); }),
              removed([&](pipeline::Context& c) { s->slim_request(c); w->window_request(c); }));

  // 3. End to end through kuai serve + fake upstream (first token delay 100 µs per prompt token).
  if (e2e <= 0) return 0;
  try {
    test::ChildProcess up(test::kuai_bin(), {"fake-upstream", "--port", "0", "--latency-per-prompt-token-us", "100",
                                             "--ttft-ms", "2", "--answer-tokens", "16"});
    uint16_t up_port = up.wait_listening();
    if (up_port == 0) throw std::runtime_error("fake-upstream did not start: " + up.output());
    Gateway off(up_port, "pipeline: []\n");
    Gateway on(up_port, "pipeline: [slim, summarize, window]\nstages: {window: {max_turns: 4}}\n");
    boost::json::array msgs;
    for (const auto& m : req.messages) msgs.push_back({{"role", m.role}, {"content", m.content}});
    std::string body = boost::json::serialize(boost::json::object{{"model", "big"}, {"messages", msgs}});
    double ms_off = mean_latency_ms(off.proc->port, body, e2e);
    double ms_on = mean_latency_ms(on.proc->port, body, e2e);
    std::printf("end to end (%d requests, upstream +100 us per prompt token): stages off %.2f ms, on %.2f ms, "
                "on/off %.2fx (%.1f%% faster)\n",
                e2e, ms_off, ms_on, ms_on / ms_off, 100.0 * (1 - ms_on / ms_off));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "end-to-end part skipped: %s\n", e.what());
    return 1;
  }
  return 0;
}
