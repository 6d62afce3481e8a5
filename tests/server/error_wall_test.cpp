// The gateway's one error wall (server/error_wall.h), and the GCC 12 question it settles: does a
// reference bound by `catch (const api::Error& e)` inside a coroutine dangle? (dispatcher.cpp once
// copied errors in a plain function for fear of it.) The coroutine patterns the gateway uses are run
// many times, across two threads, under the ASan build CI runs: a dangling reference would be a
// heap-use-after-free report or a corrupted copy.
#include "server/error_wall.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <optional>
#include <thread>

namespace kuai::server {
namespace {
namespace net = boost::asio;

TEST(ErrorWallTest, ApiErrorsAreThemselves) {
  api::Error in = api::Error::rate_limited("slow down");
  in.retry_after_ms = 1500;
  api::Error out = error_of(std::make_exception_ptr(in));
  EXPECT_EQ(out.status(), 429);
  EXPECT_EQ(out.code(), "rate_limit_exceeded");
  EXPECT_EQ(out.retry_after_ms, 1500);
  EXPECT_STREQ(out.what(), "slow down");
}

TEST(ErrorWallTest, ProtocolErrorsKeepTheirStatus) {
  api::Error big = error_of(std::make_exception_ptr(http::ProtocolError(413, "too big")));
  EXPECT_EQ(big.status(), 413);
  EXPECT_EQ(big.type(), "invalid_request_error");
  EXPECT_EQ(big.code(), "request_too_large");
  for (int status : {400, 431, 501}) {
    api::Error e = error_of(std::make_exception_ptr(http::ProtocolError(status, "x")));
    EXPECT_EQ(e.status(), status);
    EXPECT_EQ(e.type(), "invalid_request_error");
  }
  api::Error none = error_of(std::make_exception_ptr(http::ProtocolError(500, "the handler produced no response")));
  EXPECT_EQ(none.status(), 500);
  EXPECT_EQ(none.type(), "server_error");
}

TEST(ErrorWallTest, AnythingElseIsAnInternalError) {
  api::Error e = error_of(std::make_exception_ptr(std::runtime_error("boom")), "test");
  EXPECT_EQ(e.status(), 500);
  EXPECT_EQ(e.type(), "server_error");
  EXPECT_STREQ(e.what(), "internal error: boom");
  EXPECT_EQ(error_of(std::make_exception_ptr(42)).status(), 500);
}

TEST(ErrorWallTest, TheHttpFormatterWritesOpenAIBodies) {
  http::ErrorReply r = openai_error_reply(std::make_exception_ptr(http::ProtocolError(413, "too big")));
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_NE(r.body.find(R"("error")"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"("request_too_large")"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("too big"), std::string::npos) << r.body;
}

// --- the GCC 12 question -------------------------------------------------------------------------

// An upstream-like failure: long strings (heap-allocated, so a dangling copy is caught by ASan),
// thrown after a real suspension.
net::awaitable<std::string> failing(int i) {
  net::steady_timer t(co_await net::this_coro::executor, std::chrono::microseconds(i % 3));
  co_await t.async_wait(net::use_awaitable);
  throw api::Error(500, "upstream_error_with_a_type_longer_than_the_small_string_buffer",
                   "upstream answered 500 for request number " + std::to_string(i) + ", a message too long for SSO",
                   "bad_gateway_with_a_code_longer_than_the_small_string_buffer");
}

// The dispatcher's retry loop: `co_return co_await` inside try, the caught reference copied.
net::awaitable<std::string> retry_loop(int i) {
  std::optional<api::Error> err;
  for (int attempt = 0; attempt < 3; ++attempt) {
    try {
      std::string r = co_await failing(i + attempt);
      co_return r;
    } catch (const api::Error& e) {
      err = e;
    }
    net::steady_timer t(co_await net::this_coro::executor, std::chrono::microseconds(1));
    co_await t.async_wait(net::use_awaitable);
  }
  throw api::Error(502, err->type(), std::string("all backends failed: ") + err->what(), err->code());
}

// The hedged call: rethrow from a handler by `throw;`, or copy and go on.
net::awaitable<std::string> hedged(int i) {
  std::optional<api::Error> last;
  try {
    co_return co_await retry_loop(i);
  } catch (const api::Error& e) {
    if (e.status() < 500) throw;
    last = e;
  }
  try {
    co_return co_await failing(i);
  } catch (const api::Error& e) {
    if (last && e.status() == 500) throw;
  }
  co_return std::string();
}

// The walls: a reference-binding catch and the catch (...) + error_of form, side by side.
net::awaitable<bool> wall(int i) {
  std::optional<api::Error> by_ref, by_wall;
  try {
    co_await hedged(i);
  } catch (const api::Error& e) {
    by_ref = e;
  }
  try {
    co_await retry_loop(i);
  } catch (...) {
    by_wall = error_of(std::current_exception());
  }
  const std::string want = "upstream answered 500 for request number " + std::to_string(i);
  co_return by_ref && by_ref->status() == 500 && std::string(by_ref->what()).rfind(want, 0) == 0 &&
      by_ref->code() == "bad_gateway_with_a_code_longer_than_the_small_string_buffer" && by_wall &&
      by_wall->status() == 502 && std::string(by_wall->what()).find("all backends failed") == 0;
}

TEST(ErrorWallTest, CatchReferencesInCoroutinesStayValidUnderGcc12) {
  constexpr int kRequests = 4000;
  net::io_context io(2);
  std::atomic<int> good{0}, done{0};
  for (int i = 0; i < kRequests; ++i) {
    net::co_spawn(net::make_strand(io), [&good, &done, i]() -> net::awaitable<void> {
      if (co_await wall(i)) ++good;
      ++done;
    }, net::detached);
  }
  std::thread other([&] { io.run(); });
  io.run();
  other.join();
  EXPECT_EQ(done.load(), kRequests);
  EXPECT_EQ(good.load(), kRequests);
}

}  // namespace
}  // namespace kuai::server
