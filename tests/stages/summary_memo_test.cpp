// SummaryMemo and RedisSummaries: the LRU, Redis calls off the I/O thread, and Redis URLs with a
// password and a database (cache::parse_redis_url, the one parser).
#include "stages/summary_memo.h"

#include "support/process.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

namespace kuai::stages {
namespace {
namespace net = boost::asio;
using Ms = std::chrono::milliseconds;

template <class T>
T run(net::io_context& io, net::awaitable<T> a) {
  auto fut = net::co_spawn(io, std::move(a), net::use_future);
  io.restart();
  io.run();
  return fut.get();
}

TEST(SummaryMemoTest, LongestPrefixFromTheLru) {
  net::io_context io;
  SummaryMemo memo(10, nullptr);
  std::vector<std::string> keys{"k0", "k1", "k2"};
  EXPECT_FALSE(run(io, memo.longest(keys)));
  run(io, memo.put("k1", "s1"));
  auto hit = run(io, memo.longest(keys));
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->first, 1u);
  EXPECT_EQ(hit->second, "s1");
}

TEST(SummaryMemoTest, BadRedisUrlsAreNamed) {
  EXPECT_EQ(RedisSummaries::valid_url("redis://127.0.0.1:6379/2"), "");
  EXPECT_EQ(RedisSummaries::valid_url("127.0.0.1:6379"), "");
  EXPECT_NE(RedisSummaries::valid_url("redis://127.0.0.1:notaport"), "");
  EXPECT_NE(RedisSummaries::valid_url("redis://127.0.0.1/x"), "");
}

// A Redis that accepts connections (the kernel's backlog) and never answers: each call waits for the
// timeout. The I/O thread must go on running other work meanwhile.
TEST(SummaryMemoTest, AStalledRedisDoesNotBlockTheIoThread) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 16), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string url = "redis://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  net::io_context io;  // one thread: the test's
  SummaryMemo memo(10, std::make_unique<RedisSummaries>(url, Ms(300), 60));
  bool looking = false, done = false;
  int ticks_while_looking = 0;
  auto ticker = [&]() -> net::awaitable<void> {
    net::steady_timer t(co_await net::this_coro::executor);
    while (!done) {
      t.expires_after(Ms(5));
      co_await t.async_wait(net::use_awaitable);
      if (looking && !done) ++ticks_while_looking;
    }
  };
  auto lookup = [&]() -> net::awaitable<bool> {
    looking = true;
    std::vector<std::string> keys{"a", "b"};
    auto hit = co_await memo.longest(keys);
    done = true;
    co_return hit.has_value();
  };
  net::co_spawn(io, ticker(), net::detached);
  auto fut = net::co_spawn(io, lookup(), net::use_future);
  io.run();
  EXPECT_FALSE(fut.get());             // a stalled Redis is a miss
  EXPECT_GE(ticks_while_looking, 1);   // the I/O thread ran other work while Redis stalled
  ::close(fd);
}

TEST(SummaryMemoTest, RedisUrlPasswordAndDatabaseAreUsed) {
  uint16_t port = kuai::test::free_port();
  kuai::test::ChildProcess redis("/usr/bin/redis-server", {"--port", std::to_string(port), "--bind", "127.0.0.1", "--save",
                                                           "", "--appendonly", "no", "--requirepass", "s3cret"});
  const std::string base = "redis://:s3cret@127.0.0.1:" + std::to_string(port);
  RedisSummaries db3(base + "/3", Ms(500), 60);
  for (int i = 0; i < 100 && !db3.reachable(); ++i) std::this_thread::sleep_for(Ms(50));
  ASSERT_TRUE(db3.reachable()) << redis.output();
  RedisSummaries db0(base, Ms(500), 60), no_password("redis://127.0.0.1:" + std::to_string(port) + "/3", Ms(500), 60);
  EXPECT_FALSE(no_password.reachable());  // AUTH is required
  net::io_context io;
  run(io, db3.put("kuai:test:k", "summary"));
  std::vector<std::string> keys{"kuai:test:k"};
  auto in3 = run(io, db3.get_many(keys));
  auto in0 = run(io, db0.get_many(keys));
  ASSERT_EQ(in3.size(), 1u);
  EXPECT_EQ(in3[0].value_or("<none>"), "summary");
  EXPECT_FALSE(in0[0]);  // another database
}

}  // namespace
}  // namespace kuai::stages
