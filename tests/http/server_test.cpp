// http::Server on a free loopback port, talked to with the plain-socket clients of tests/support.
#include "http/server.h"

#include "support/process.h"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

using namespace kuai;
using namespace kuai::test;
namespace net = boost::asio;

namespace {

net::awaitable<void> sleep_ms(int ms) {
  net::steady_timer t(co_await net::this_coro::executor, std::chrono::milliseconds(ms));
  co_await t.async_wait(net::use_awaitable);
}

// Waits (polling, bounded) until `flag` is set; the bound only guards against a hang.
net::awaitable<bool> wait_flag(const std::atomic<bool>& flag) {
  for (int i = 0; i < 2000 && !flag.load(); ++i) co_await sleep_ms(5);
  co_return flag.load();
}

bool wait_until(const std::function<bool()>& pred) {
  for (int i = 0; i < 2000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(Ms(5));
  }
  return pred();
}

// What a handler of these tests throws for a client's error (the gateway throws api::Error; this
// layer knows neither).
struct StatusError : std::runtime_error {
  StatusError(int s, const std::string& m) : std::runtime_error(m), status(s) {}
  int status;
};

// The formatter these tests give the server: "<kind> <status>: <message>", so each test sees which
// path an error took.
http::ErrorReply test_formatter(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const http::ProtocolError& p) {
    return {p.status(), "text/plain", "protocol " + std::to_string(p.status()) + ": " + p.what()};
  } catch (const StatusError& s) {
    return {s.status, "text/plain", "handler " + std::to_string(s.status) + ": " + s.what()};
  } catch (const std::exception& x) {
    return {500, "text/plain", std::string("crash 500: ") + x.what()};
  }
}

class ServerTest : public ::testing::Test {
 protected:
  std::atomic<bool> client_got_first{false};
  std::atomic<bool> producer_saw_gone{false};
  std::atomic<bool> release_slow{false};
  std::atomic<int> slow_started{0};

  net::awaitable<void> handle(http::Request& req, http::ResponseWriter& w) {
    auto path = req.path();
    if (path == "/echo") {
      const std::string* h = req.header("x-test");
      http::Headers extra;  // (named, not braced in the co_await: GCC 12 rejects arrays in coroutine temporaries)
      extra.emplace_back("X-Reply", "yes");
      // (named first: GCC 12 mishandles conditional-operator temporaries inside co_await expressions)
      std::string body = req.method + " " + req.target + " " + req.body + " " + (h ? *h : std::string("-"));
      co_await w.send(200, "text/plain", std::move(body), extra);
    } else if (path == "/stream") {
      http::Headers head, trailer;
      head.emplace_back("Server-Timing", "a;dur=1");
      trailer.emplace_back("Server-Timing", "a;dur=1, total;dur=2");
      co_await w.begin_stream(200, "text/event-stream", head, "Server-Timing");
      co_await w.write("data: 1\n\n");
      co_await wait_flag(client_got_first);  // the client must have the first chunk before we go on
      co_await w.write("data: 2\n\n");
      co_await w.end_stream(trailer);
    } else if (path == "/forever") {
      co_await w.begin_stream(200, "text/event-stream", http::Headers{});
      for (int i = 0; i < 100000; ++i) {
        if (!co_await w.write("data: tick\n\n")) {
          producer_saw_gone = true;
          co_return;
        }
        co_await sleep_ms(2);
      }
    } else if (path == "/slow") {
      ++slow_started;
      co_await wait_flag(release_slow);
      co_await w.send(200, "text/plain", "finished");
    } else if (path == "/api-error") {
      throw StatusError(404, "no such thing");
    } else if (path == "/crash") {
      throw std::runtime_error("boom");
    } else if (path == "/silent") {
      co_return;
    } else {
      co_await w.send(404, "text/plain", "unknown route");
    }
  }

  void start(http::ServerOptions opts = {}, bool formatter = true) {
    opts.host = "127.0.0.1";
    opts.port = 0;
    opts.io_threads = 2;
    server_ = std::make_unique<http::Server>(opts, [this](http::Request& r, http::ResponseWriter& w) {
      return handle(r, w);
    });
    if (formatter) server_->set_error_formatter(test_formatter);
    server_->set_websocket({"/ws"}, [](http::Request& req, http::WebSocket& ws) -> net::awaitable<void> {
      while (auto msg = co_await ws.read()) {
        if (*msg == "throw") throw StatusError(400, "bad message");
        if (!co_await ws.write(std::string(req.path()) + ":" + *msg)) co_return;
      }
    });
    auto err = server_->listen();
    ASSERT_FALSE(err) << *err;
    port_ = server_->port();
    thread_ = std::thread([this] { server_->run(); });
  }

  void TearDown() override {
    if (server_) {
      server_->stop();
      release_slow = true;
      client_got_first = true;
      if (thread_.joinable()) thread_.join();
      server_->shutdown_io();
    }
  }

  std::unique_ptr<http::Server> server_;
  std::thread thread_;
  uint16_t port_ = 0;
};

TEST_F(ServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  start();
  HttpClient c(port_);
  auto r1 = c.post("/echo?q=1", "hello", {{"X-Test", "v"}});
  EXPECT_EQ(r1.status, 200);
  EXPECT_EQ(r1.body, "POST /echo?q=1 hello v");
  EXPECT_EQ(r1.header("x-reply"), "yes");
  int fd = c.connection().fd();
  auto r2 = c.get("/echo");
  EXPECT_EQ(r2.status, 200);
  EXPECT_EQ(r2.body, "GET /echo  -");
  EXPECT_EQ(c.connection().fd(), fd);  // same connection
}

TEST_F(ServerTest, PipelinedRequestsInOnePacketAreAnsweredInOrder) {
  start();
  RawConnection conn(port_);
  conn.send_all("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nonePOST /echo HTTP/1.1\r\nHost: x\r\n"
                "Content-Length: 3\r\n\r\ntwoGET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::string got;
  while (conn.recv_some(got, Ms(5000)) > 0) {}  // the third asks the server to close
  auto one = got.find("POST /echo one -"), two = got.find("POST /echo two -"), three = got.find("GET /echo  -");
  ASSERT_NE(one, std::string::npos) << got;
  ASSERT_NE(two, std::string::npos) << got;
  ASSERT_NE(three, std::string::npos) << got;
  EXPECT_LT(one, two);
  EXPECT_LT(two, three);
  EXPECT_NE(got.find("Connection: close"), std::string::npos);
}

TEST_F(ServerTest, LargeBodiesAndHeadersArriveWhole) {
  start();
  HttpClient c(port_);
  std::string big(3u << 20, 'b');  // more than a socket buffer takes at once: the write goes on asynchronously
  auto r = c.post("/echo", big, {{"X-Test", std::string(8000, 'h')}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "POST /echo " + big + " " + std::string(8000, 'h'));
  EXPECT_EQ(r.header("x-reply"), "yes");
}

TEST_F(ServerTest, Http10KeepAliveIsAnnounced) {
  start();
  RawConnection conn(port_);
  conn.send_all("GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  std::string got;
  while (got.find("GET /echo  -") == std::string::npos && conn.recv_some(got, Ms(5000)) > 0) {}
  EXPECT_EQ(got.substr(0, 15), "HTTP/1.0 200 OK") << got;
  EXPECT_NE(got.find("Connection: keep-alive"), std::string::npos) << got;
  EXPECT_NE(got.find("Content-Length: 12\r\n"), std::string::npos) << got;
}

TEST_F(ServerTest, OversizedBodyIs413ThroughTheFormatterAndServerKeepsServing) {
  http::ServerOptions o;
  o.max_body_bytes = 1024;
  start(o);
  HttpClient c(port_);
  auto r = c.post("/echo", std::string(4096, 'x'));
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.body.rfind("protocol 413: Request body is larger than the limit of 1024 bytes", 0), 0u) << r.body;
  // Exactly at the limit is fine; and the server still serves.
  HttpClient c2(port_);
  EXPECT_EQ(c2.post("/echo", std::string(1024, 'y')).status, 200);
}

// An upload route may take larger bodies than the rest (body_limit_by_path, by path without the query).
TEST_F(ServerTest, APathWithItsOwnBodyLimitTakesLargerBodiesOnlyThere) {
  http::ServerOptions o;
  o.max_body_bytes = 1024;
  o.body_limit_by_path["/echo"] = 8192;
  start(o);
  HttpClient c(port_);
  EXPECT_EQ(c.post("/echo?x=1", std::string(4096, 'x')).status, 200);
  auto over = c.post("/echo", std::string(9000, 'x'));
  EXPECT_EQ(over.status, 413);
  EXPECT_NE(over.body.find("limit of 8192 bytes"), std::string::npos) << over.body;
  HttpClient c2(port_);
  auto elsewhere = c2.post("/other", std::string(4096, 'x'));
  EXPECT_EQ(elsewhere.status, 413);
  EXPECT_NE(elsewhere.body.find("limit of 1024 bytes"), std::string::npos) << elsewhere.body;
  // A chunked body (no Content-Length) over the default, on a path without its own limit.
  RawConnection raw(port_);
  raw.send_all("POST /other HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" + std::string(2048, 'z') +
               "\r\n0\r\n\r\n");
  std::string got;
  while (got.find("\r\n\r\n") == std::string::npos && raw.recv_some(got, Ms(5000)) > 0) {}
  EXPECT_EQ(got.substr(0, 12), "HTTP/1.1 413");
}

TEST_F(ServerTest, ExpectContinueGetsContinueOr413) {
  http::ServerOptions o;
  o.max_body_bytes = 1024;
  start(o);
  RawConnection big(port_);
  big.send_all("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n");
  std::string got;
  while (got.find("\r\n\r\n") == std::string::npos && big.recv_some(got, Ms(5000)) > 0) {}
  EXPECT_EQ(got.substr(0, 12), "HTTP/1.1 413");
  RawConnection small(port_);
  small.send_all("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
  std::string cont;
  while (cont.find("\r\n\r\n") == std::string::npos && small.recv_some(cont, Ms(5000)) > 0) {}
  EXPECT_EQ(cont.substr(0, 12), "HTTP/1.1 100");
  small.send_all("abc");
  std::string rest;
  while (rest.find("abc") == std::string::npos && small.recv_some(rest, Ms(5000)) > 0) {}
  EXPECT_NE(rest.find("200 OK"), std::string::npos);
}

TEST_F(ServerTest, SlowHeadersAreClosedCleanly) {
  http::ServerOptions o;
  o.header_timeout_ms = 200;
  start(o);
  RawConnection slow(port_);
  ASSERT_TRUE(slow.send_all("GET /echo HTTP/1.1\r\nHost: x\r\n"));  // never finishes its headers
  EXPECT_TRUE(slow.wait_closed(Ms(10000)));
  HttpClient c(port_);
  EXPECT_EQ(c.get("/echo").status, 200);
}

TEST_F(ServerTest, MalformedRequestIs400) {
  start();
  RawConnection bad(port_);
  bad.send_all("THIS IS NOT HTTP\r\n\r\n");
  std::string got;
  while (got.find("\r\n\r\n") == std::string::npos && bad.recv_some(got, Ms(5000)) > 0) {}
  EXPECT_EQ(got.substr(0, 12), "HTTP/1.1 400");
  HttpClient c(port_);
  EXPECT_EQ(c.get("/echo").status, 200);
}

TEST_F(ServerTest, StreamChunksArriveBeforeTheStreamEnds) {
  start();
  RawConnection conn(port_);
  conn.send_all("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string got;
  while (got.find("data: 1") == std::string::npos && conn.recv_some(got, Ms(5000)) > 0) {}
  ASSERT_NE(got.find("data: 1"), std::string::npos);
  EXPECT_EQ(got.find("data: 2"), std::string::npos);  // the server waits for us: it was flushed alone
  EXPECT_NE(got.find("Transfer-Encoding: chunked"), std::string::npos);
  EXPECT_NE(got.find("Server-Timing: a;dur=1"), std::string::npos);
  client_got_first = true;
  while (got.find("\r\n0\r\n") == std::string::npos && conn.recv_some(got, Ms(5000)) > 0) {}
  EXPECT_NE(got.find("data: 2"), std::string::npos);
  // The trailer after the last chunk.
  while (got.find("total;dur=2\r\n\r\n") == std::string::npos && conn.recv_some(got, Ms(5000)) > 0) {}
  EXPECT_NE(got.find("Server-Timing: a;dur=1, total;dur=2"), std::string::npos);
}

TEST_F(ServerTest, ChunkedStreamParsesWithTrailers) {
  start();
  client_got_first = true;
  HttpClient c(port_);
  auto r = c.get("/stream");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(sse_data(r.body), (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(r.trailer("server-timing"), "a;dur=1, total;dur=2");
  EXPECT_EQ(c.get("/echo").status, 200);  // the connection is reusable after a stream
}

TEST_F(ServerTest, ClientDisconnectMidStreamStopsTheProducer) {
  start();
  {
    RawConnection conn(port_);
    conn.send_all("GET /forever HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string got;
    while (got.find("tick") == std::string::npos && conn.recv_some(got, Ms(5000)) > 0) {}
    ASSERT_NE(got.find("tick"), std::string::npos);
    conn.reset();
  }
  EXPECT_TRUE(wait_until([&] { return producer_saw_gone.load(); }));
  EXPECT_TRUE(wait_until([&] { return server_->open_connections() == 0; }));
}

TEST_F(ServerTest, ErrorWallWordsEveryErrorWithTheFormatter) {
  start();
  HttpClient c(port_);
  auto r = c.get("/api-error");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "handler 404: no such thing");
  auto r2 = c.get("/crash");
  EXPECT_EQ(r2.status, 500);
  EXPECT_EQ(r2.body, "crash 500: boom");
  auto r3 = c.get("/silent");
  EXPECT_EQ(r3.status, 500);
  EXPECT_EQ(r3.body, "protocol 500: the handler produced no response");
  EXPECT_EQ(c.get("/echo").status, 200);
  RawConnection bad(port_);
  bad.send_all("THIS IS NOT HTTP\r\n\r\n");
  std::string got;
  while (bad.recv_some(got, Ms(5000)) > 0) {}
  EXPECT_EQ(got.substr(0, 12), "HTTP/1.1 400");
  EXPECT_NE(got.find("\r\n\r\nprotocol 400: Malformed HTTP request"), std::string::npos) << got;
}

TEST_F(ServerTest, WithoutAFormatterErrorsArePlainText) {
  start({}, /*formatter=*/false);
  HttpClient c(port_);
  auto r = c.get("/crash");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body, "boom");
  EXPECT_EQ(r.header("content-type"), "text/plain; charset=utf-8");
  auto r2 = c.get("/silent");
  EXPECT_EQ(r2.status, 500);
  EXPECT_EQ(r2.body, "the handler produced no response");
}

TEST_F(ServerTest, WebSocketEchoesAndReportsErrors) {
  start();
  WsClient ws;
  ASSERT_EQ(ws.connect(port_, "/ws"), 101) << ws.handshake();
  ASSERT_TRUE(ws.send_text("hello"));
  EXPECT_EQ(ws.recv_text().value_or("<none>"), "/ws:hello");
  ASSERT_TRUE(ws.send_text(std::string(70000, 'z')));  // 64-bit length frame
  EXPECT_EQ(ws.recv_text().value_or("").size(), 4u + 70000u);
  ASSERT_TRUE(ws.send_text("throw"));
  auto err = ws.recv_text();
  ASSERT_TRUE(err);
  EXPECT_EQ(*err, "handler 400: bad message");
  // An upgrade on another path is a plain HTTP request.
  WsClient other;
  EXPECT_EQ(other.connect(port_, "/echo"), 200);
}

TEST_F(ServerTest, GracefulStopFinishesInFlightRequests) {
  start();
  HttpClient idle(port_);
  ASSERT_EQ(idle.get("/echo").status, 200);  // an idle kept-alive connection must not block the stop
  HttpResponse slow;
  std::thread t([&] {
    HttpClient c(port_);
    slow = c.get("/slow");
  });
  ASSERT_TRUE(wait_until([&] { return slow_started.load() == 1; }));
  server_->stop();
  std::this_thread::sleep_for(Ms(50));
  release_slow = true;
  t.join();
  EXPECT_EQ(slow.status, 200);
  EXPECT_EQ(slow.body, "finished");
  thread_.join();  // run() returned: drained
  EXPECT_EQ(server_->open_connections(), 0);
  EXPECT_FALSE(wait_for_port(port_, Ms(100)));
}

TEST(ServerListen, PortInUseIsAnErrorMessage) {
  http::ServerOptions o;
  o.port = 0;
  http::Server a(o, [](http::Request&, http::ResponseWriter& w) -> net::awaitable<void> {
    co_await w.send(200, "text/plain", "");
  });
  ASSERT_FALSE(a.listen());
  o.port = a.port();
  http::Server b(o, [](http::Request&, http::ResponseWriter& w) -> net::awaitable<void> {
    co_await w.send(200, "text/plain", "");
  });
  auto err = b.listen();
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("cannot listen"), std::string::npos);
}

}  // namespace
