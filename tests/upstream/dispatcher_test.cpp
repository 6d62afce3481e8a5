// Dispatcher from config against real `kuai fake-upstream` processes: retries (5xx, 429 with
// Retry-After), fallback order, no retry once a stream reached the client, dead upstreams, keep-alive,
// tiers (limit, queue timeout, priority), hedging and the `fastest` strategy.
#include "upstream_fixture.h"
#include "http/client.h"
#include "upstream/http_backend.h"

#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>

namespace kuai::upstream {
namespace {
using namespace testing;
using namespace std::chrono_literals;

api::Tenant tenant(std::string name, std::string tier) {
  api::Tenant t;
  t.name = std::move(name);
  t.tier = std::move(tier);
  return t;
}

std::string backends_yaml(std::initializer_list<uint16_t> ports) {
  std::string y = "    backends:\n";
  int i = 0;
  for (uint16_t p : ports) y += "      - {url: " + base_url(p) + ", model: b" + std::to_string(i++) + "}\n";
  return y;
}

std::string retry_yaml(int attempts = 3) {
  return "upstream:\n  retries: {max_attempts: " + std::to_string(attempts) +
         ", backoff_initial_ms: 5, backoff_max_ms: 20, max_retry_after_ms: 2000}\n";
}

TEST(Dispatcher, UnknownModelIs404) {
  auto d = dispatcher("models: {}\n");
  ASSERT_TRUE(d);
  auto e = error_of([&] { run<api::ChatResponse>([&]() { return complete_owned(*d, chat("nope")); }); });
  EXPECT_EQ(e.status(), 404);
  EXPECT_EQ(e.code(), "model_not_found");
}

TEST(Dispatcher, BadConfigIsAMessage) {
  config::Config cfg;
  ASSERT_FALSE(config::Config::load_string("models:\n  m:\n    strategy: random\n", cfg));
  auto r = Dispatcher::from_config(cfg, io().get_executor(), nullptr);
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_NE(std::get<std::string>(r).find("models.m.strategy"), std::string::npos);
  config::Config cfg2;
  ASSERT_FALSE(config::Config::load_string("models:\n  m:\n    backends: [{model: x}]\n", cfg2));
  auto r2 = Dispatcher::from_config(cfg2, io().get_executor(), nullptr);
  ASSERT_TRUE(std::holds_alternative<std::string>(r2));
  EXPECT_NE(std::get<std::string>(r2).find("models.m.backends[0].url"), std::string::npos);
}

TEST(Dispatcher, KeepAliveAcrossRequests) {
  auto fu = fake();
  auto d = dispatcher("models:\n  m:\n" + backends_yaml({fu.port}));
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->has_model("m"));
  for (int i = 0; i < 3; ++i) run<api::ChatResponse>([&]() { return complete_owned(*d, chat("m")); });
  auto s = fake_stats(fu.port);
  EXPECT_EQ(s.at("model_requests").as_int64(), 3);
  EXPECT_EQ(s.at("connections_accepted").as_int64(), 2);  // one upstream connection + the stats client
  EXPECT_EQ(s.at("by_model").at("b0").as_int64(), 3);
}

TEST(Dispatcher, RetriesA5xxThenFallsBackInOrder) {
  auto bad = fake({"--error-rate", "1"});
  auto good = fake();
  auto spare = fake();
  auto d = dispatcher(retry_yaml(3) + "models:\n  m:\n" + backends_yaml({bad.port, good.port, spare.port}));
  ASSERT_TRUE(d);
  auto r = run<api::ChatResponse>([&]() { return complete_owned(*d, chat("m")); });
  EXPECT_FALSE(r.text().empty());
  EXPECT_EQ(model_requests(bad.port), 3);   // all attempts on the first backend
  EXPECT_EQ(model_requests(good.port), 1);  // then the next in order
  EXPECT_EQ(model_requests(spare.port), 0);
}

TEST(Dispatcher, HonoursRetryAfterOn429) {
  auto fu = fake({"--rate-limit-every", "2", "--retry-after-s", "0.3"});
  auto d = dispatcher(retry_yaml(3) + "models:\n  m:\n" + backends_yaml({fu.port}));
  ASSERT_TRUE(d);
  run<api::ChatResponse>([&]() { return complete_owned(*d, chat("m")); });  // request 1: fine
  auto t0 = std::chrono::steady_clock::now();
  auto r = run<api::ChatResponse>([&]() { return complete_owned(*d, chat("m")); });  // 2: 429, then 3: fine
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_FALSE(r.text().empty());
  EXPECT_EQ(model_requests(fu.port), 3);
  EXPECT_GE(waited, 290ms);  // the retry waited for Retry-After (a lower bound, not a speed test)
}

TEST(Dispatcher, LongRetryAfterFallsBackAtOnce) {
  auto limited = fake({"--rate-limit-every", "1", "--retry-after-s", "30"});
  auto other = fake();
  auto d = dispatcher(retry_yaml(3) + "models:\n  m:\n" + backends_yaml({limited.port, other.port}));
  ASSERT_TRUE(d);
  run<api::ChatResponse>([&]() { return complete_owned(*d, chat("m")); });
  EXPECT_EQ(model_requests(limited.port), 1);
  EXPECT_EQ(model_requests(other.port), 1);
}

TEST(Dispatcher, AllBackendsDeadIs503AndOneLiveIsEnough) {
  uint16_t dead1 = test::free_port(), dead2 = test::free_port();
  auto d = dispatcher(retry_yaml(2) + "models:\n  m:\n" + backends_yaml({dead1, dead2}));
  ASSERT_TRUE(d);
  auto e = error_of([&] { run<api::ChatResponse>([&]() { return complete_owned(*d, chat("m")); }); });
  EXPECT_EQ(e.status(), 503);
  auto live = fake();
  auto d2 = dispatcher(retry_yaml(2) + "models:\n  m:\n" + backends_yaml({dead1, live.port}));
  RecordingSink sink;
  run<int>([&]() -> asio::awaitable<int> {
    auto req = chat("m", "x", true);
    co_await d2->stream(req, sink, nullptr);
    co_return 0;
  });
  EXPECT_FALSE(sink.chunks.empty());
}

// Regression: every attempt answered 500 used to crash the process (a dangling caught error in a
// coroutine under g++ 12); it must come back as an OpenAI 502 naming the upstream's status.
TEST(Dispatcher, AlwaysFailingBackendIs502AfterRetries) {
  auto bad = fake({"--error-rate", "1"});
  auto d = dispatcher(retry_yaml(3) + "models:\n  m:\n" + backends_yaml({bad.port}));
  ASSERT_TRUE(d);
  auto e = error_of([&] { run<api::ChatResponse>([&]() { return complete_owned(*d, chat("m")); }); });
  EXPECT_EQ(e.status(), 502);
  EXPECT_NE(std::string(e.what()).find("500"), std::string::npos);
  EXPECT_EQ(model_requests(bad.port), 3);
}

TEST(Dispatcher, GarbageFromEveryBackendIs502) {
  auto g = fake({"--garbage"});
  auto d = dispatcher(retry_yaml(2) + "models:\n  m:\n" + backends_yaml({g.port}));
  EXPECT_EQ(error_of([&] { run<api::ChatResponse>([&]() { return complete_owned(*d, chat("m")); }); }).status(), 502);
}

TEST(Dispatcher, NoRetryOnceAStreamReachedTheClient) {
  auto cut = fake({"--cut-stream-after", "2"});
  auto other = fake();
  auto d = dispatcher(retry_yaml(3) + "models:\n  m:\n" + backends_yaml({cut.port, other.port}));
  RecordingSink sink;
  auto e = error_of([&] {
    run<int>([&]() -> asio::awaitable<int> {
      auto req = chat("m", "x", true);
    co_await d->stream(req, sink, nullptr);
      co_return 0;
    });
  });
  EXPECT_EQ(e.status(), 502);
  EXPECT_EQ(sink.chunks.size(), 3u);  // role + 2 tokens, then the error surfaces
  EXPECT_EQ(model_requests(cut.port), 1);
  EXPECT_EQ(model_requests(other.port), 0);
}

TEST(Dispatcher, StreamRetriesBeforeTheFirstChunk) {
  auto bad = fake({"--error-rate", "1"});
  auto good = fake({"--answer-tokens", "3"});
  auto d = dispatcher(retry_yaml(2) + "models:\n  m:\n" + backends_yaml({bad.port, good.port}));
  RecordingSink sink;
  run<int>([&]() -> asio::awaitable<int> {
    auto req = chat("m", "x", true);
    co_await d->stream(req, sink, nullptr);
    co_return 0;
  });
  EXPECT_EQ(sink.chunks.size(), 5u);  // role, 3 tokens, finish
  EXPECT_EQ(model_requests(bad.port), 2);
}

TEST(Dispatcher, Embeddings) {
  auto fu = fake({"--embedding-dim", "4"});
  auto d = dispatcher("models:\n  e:\n" + backends_yaml({fu.port}));
  api::EmbeddingRequest req;
  req.model = "e";
  req.input = {"a"};
  auto r = run<api::Embeddings>([&]() { return d->embed(req, nullptr); });
  ASSERT_EQ(r.data.size(), 1u);
  EXPECT_EQ(r.data[0].size(), 4u);
}

// Starts n requests at once on the test's io_context; returns each one's status (200 or the error's).
std::vector<int> concurrent(Dispatcher& d, const std::vector<api::Tenant>& tenants, std::vector<int>* finish_order = nullptr,
                            std::chrono::milliseconds stagger = 0ms) {
  auto& ioc = io();
  ioc.restart();
  std::vector<int> status(tenants.size(), 0);
  for (size_t i = 0; i < tenants.size(); ++i) {
    asio::co_spawn(ioc, [&, i]() -> asio::awaitable<void> {
      if (stagger.count() > 0) {
        asio::steady_timer t(co_await asio::this_coro::executor, stagger * static_cast<int>(i));
        co_await t.async_wait(asio::use_awaitable);
      }
      try {
        co_await complete_owned(d, chat("m"), &tenants[i]);
        status[i] = 200;
      } catch (const api::Error& e) {
        status[i] = e.status();
      }
      if (finish_order) finish_order->push_back(static_cast<int>(i));
    }, asio::detached);
  }
  ioc.run();
  return status;
}

TEST(Dispatcher, TierLimitQueuesThenRejectsAfterTimeout) {
  auto fu = fake({"--ttft-ms", "400"});
  auto d = dispatcher("tiers:\n  free: {max_concurrency: 1, queue_timeout_ms: 100}\n  pro: {max_concurrency: 2}\n"
                      "models:\n  m:\n" + backends_yaml({fu.port}));
  api::Tenant free_t = tenant("alice", "free");
  auto s = concurrent(*d, {free_t, free_t});
  std::sort(s.begin(), s.end());
  EXPECT_EQ(s, (std::vector<int>{200, 429}));
  // A tier with room for both, and another tenant of the same tier, are not limited by alice.
  api::Tenant pro = tenant("bob", "pro");
  api::Tenant free_b = tenant("carol", "free");
  EXPECT_EQ(concurrent(*d, {pro, pro, free_t, free_b}), (std::vector<int>{200, 200, 200, 200}));
}

TEST(Dispatcher, TierQueueWaitsWhenItHasTime) {
  auto fu = fake({"--ttft-ms", "100"});
  auto d = dispatcher("tiers:\n  free: {max_concurrency: 1, queue_timeout_ms: 5000}\nmodels:\n  m:\n" + backends_yaml({fu.port}));
  api::Tenant t = tenant("alice", "free");
  EXPECT_EQ(concurrent(*d, {t, t, t}), (std::vector<int>{200, 200, 200}));
}

// Embeddings take the tenant's tier like chats (a stage's embedder calls are made for the request's
// tenant): a second call of a one-at-a-time tenant queues, and times out behind a slow first one.
TEST(Dispatcher, EmbeddingsWaitForTheTenantsTier) {
  auto fu = fake({"--ttft-ms", "400", "--embedding-dim", "4"});
  auto d = dispatcher("tiers:\n  free: {max_concurrency: 1, queue_timeout_ms: 100}\nmodels:\n  e:\n" +
                      backends_yaml({fu.port}));
  api::Tenant free_t = tenant("alice", "free");
  auto both = [&](const api::Tenant* t) {
    auto& ioc = io();
    ioc.restart();
    std::vector<int> status;
    for (int i = 0; i < 2; ++i)
      asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
        api::EmbeddingRequest req;
        req.model = "e";
        req.input = {"a"};
        try {
          co_await d->embed(req, t);
          status.push_back(200);
        } catch (const api::Error& e) {
          status.push_back(e.status());
        }
      }, asio::detached);
    ioc.run();
    std::sort(status.begin(), status.end());
    return status;
  };
  EXPECT_EQ(both(&free_t), (std::vector<int>{200, 429}));
  EXPECT_EQ(both(nullptr), (std::vector<int>{200, 200}));  // no tenant: no tier
}

TEST(Dispatcher, HigherPriorityIsServedFirst) {
  auto fu = fake({"--ttft-ms", "150"});
  auto d = dispatcher("upstream: {max_concurrency: 1}\n"
                      "tiers:\n  low: {priority: 0, queue_timeout_ms: 5000}\n  high: {priority: 10, queue_timeout_ms: 5000}\n"
                      "models:\n  m:\n" + backends_yaml({fu.port}));
  api::Tenant low = tenant("l", "low"), high = tenant("h", "high");
  std::vector<int> order;
  // 0 (low) takes the only slot; 1 (low) and 2 (high) queue in that order; 2 must go before 1.
  auto s = concurrent(*d, {low, low, high}, &order, 30ms);
  EXPECT_EQ(s, (std::vector<int>{200, 200, 200}));
  EXPECT_EQ(order, (std::vector<int>{0, 2, 1}));
}

TEST(Dispatcher, HedgingTakesTheFastBackendAndCancelsTheSlowOne) {
  auto slow = fake({"--ttft-ms", "1500", "--answer-tokens", "4"});
  auto fast = fake({"--answer-tokens", "4"});
  obs::Metrics metrics;
  auto d = dispatcher("models:\n  m:\n    hedge_after_ms: 100\n" + backends_yaml({slow.port, fast.port}), &metrics);
  RecordingSink sink;
  run<int>([&]() -> asio::awaitable<int> {
    auto req = chat("m", "x", true);
    co_await d->stream(req, sink, nullptr);
    co_return 0;
  });
  EXPECT_EQ(sink.chunks.size(), 6u);
  EXPECT_EQ(json::parse(sink.chunks[1].json).at("model").as_string(), "b1");  // the hedge's chunks
  EXPECT_EQ(fake_stats(fast.port).at("streams_completed").as_int64(), 1);
  EXPECT_EQ(fake_stats(slow.port).at("streams_completed").as_int64(), 0);
  EXPECT_NE(metrics.serialize().find("kuai_upstream_hedge_wins_total{model=\"m\"} 1"), std::string::npos);
  // Non-stream: same race on the whole answer.
  auto r = run<api::ChatResponse>([&]() { return complete_owned(*d, chat("m")); });
  EXPECT_EQ(r.model, "b1");
  // The slow stream was closed by kuai: the fake sees it when it tries its first token.
  EXPECT_TRUE(wait_stat(slow.port, "streams_aborted", 1));
}

TEST(Dispatcher, HedgeNotStartedWhenTheFirstIsQuick) {
  auto a = fake();
  auto b = fake();
  auto d = dispatcher("models:\n  m:\n    hedge_after_ms: 2000\n" + backends_yaml({a.port, b.port}));
  run<api::ChatResponse>([&]() { return complete_owned(*d, chat("m")); });
  EXPECT_EQ(model_requests(a.port), 1);
  EXPECT_EQ(model_requests(b.port), 0);
}

TEST(Dispatcher, FastestStrategyMovesToTheQuickerVersion) {
  auto slow = fake({"--ttft-ms", "150"});
  auto fast = fake();
  auto d = dispatcher("models:\n  m:\n    strategy: fastest\n" + backends_yaml({slow.port, fast.port}));
  for (int i = 0; i < 6; ++i) run<api::ChatResponse>([&]() { return complete_owned(*d, chat("m")); });
  // Request 1 measures `slow` (listed first), request 2 measures `fast` (no sample yet), then all go to `fast`.
  EXPECT_EQ(model_requests(slow.port), 1);
  EXPECT_EQ(model_requests(fast.port), 5);
}

TEST(Dispatcher, AddBackendAppendsToAModel) {
  auto fu = fake();
  auto d = dispatcher("models: {}\n");
  HttpBackendOptions o;
  o.url = base_url(fu.port);
  o.model = "x";
  d->add_backend("extra", std::make_shared<HttpBackend>(std::make_shared<http::Client>(), o));
  EXPECT_EQ(d->model_names(), (std::vector<std::string>{"extra"}));
  EXPECT_FALSE(run<api::ChatResponse>([&]() { return complete_owned(*d, chat("extra")); }).text().empty());
}

}  // namespace
}  // namespace kuai::upstream
