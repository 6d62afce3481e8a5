// http::Client against the real `kuai fake-upstream` process: keep-alive reuse, streaming, timeouts,
// connection errors, cut and truncated bodies, cancellation (the server sees the request go away),
// a stale pooled connection, and HTTPS with a certificate made by the openssl CLI at test time.
#include "http/client.h"

#include "support/process.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

namespace kuai::http {
namespace {
namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using test::KuaiProcess;

// One io_context for the whole test program: it outlives every Client and its pooled sockets.
asio::io_context& io() {
  static asio::io_context ioc;
  return ioc;
}

// Runs one coroutine to completion on the test's io_context; rethrows what it threw.
template <class T>
T run(std::function<asio::awaitable<T>()> f) {
  asio::io_context& ioc = io();
  ioc.restart();
  std::optional<T> out;
  std::exception_ptr error;
  asio::co_spawn(ioc, f(), [&](std::exception_ptr e, T v) {
    error = e;
    if (!e) out = std::move(v);
  });
  ioc.run();
  if (error) std::rethrow_exception(error);
  return std::move(*out);
}

KuaiProcess fake(std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"fake-upstream", "--port", "0"};
  args.insert(args.end(), extra.begin(), extra.end());
  return KuaiProcess(args);
}

std::string url(uint16_t port, const char* path = "/v1/chat/completions", const char* scheme = "http",
                const char* host = "127.0.0.1") {
  return std::string(scheme) + "://" + host + ":" + std::to_string(port) + path;
}

ClientRequest chat(uint16_t port, bool stream = false) {
  ClientRequest r;
  r.url = url(port);
  r.headers = {{"Content-Type", "application/json"}};
  r.body = std::string(R"({"model":"m","messages":[{"role":"user","content":"hi"}])") +
           (stream ? R"(,"stream":true})" : "}");
  return r;
}

json::object fake_stats(uint16_t port) {
  test::HttpClient c(port);
  return json::parse(c.get("/stats").body).as_object();
}

// Polls the fake's counter until it reaches `want` (the fake notices a closed socket on its next write).
bool wait_stat(uint16_t port, const char* key, int64_t want) {
  for (int i = 0; i < 300; ++i) {
    if (fake_stats(port).at(key).as_int64() >= want) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

ClientError::Kind error_kind(std::function<void()> f) {
  try {
    f();
  } catch (const ClientError& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no ClientError thrown";
  return ClientError::Kind::bad_url;
}

TEST(HttpClient, KeepAliveReusesOneConnection) {
  auto fu = fake();
  Client client;
  auto statuses = run<std::vector<int>>([&]() -> asio::awaitable<std::vector<int>> {
    std::vector<int> s;
    for (int i = 0; i < 3; ++i) s.push_back((co_await client.request(chat(fu.port))).status);
    co_return s;
  });
  EXPECT_EQ(statuses, (std::vector<int>{200, 200, 200}));
  EXPECT_EQ(client.stats().connections_opened, 1);
  EXPECT_EQ(client.stats().connections_reused, 2);
  EXPECT_EQ(client.stats().idle, 1);
  EXPECT_EQ(fake_stats(fu.port).at("connections_accepted").as_int64(), 2);  // ours + the stats client
}

TEST(HttpClient, ResponseHeadersAndBody) {
  auto fu = fake();
  Client client;
  auto r = run<ClientResponse>([&]() { return client.request(chat(fu.port)); });
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.header("x-fake-request-count"), "1");
  EXPECT_EQ(json::parse(r.body).at("object").as_string(), "chat.completion");
}

TEST(HttpClient, StreamArrivesPieceByPiece) {
  auto fu = fake({"--answer-tokens", "5", "--tokens-per-s", "40"});
  Client client;
  struct Seen { size_t pieces = 0; bool first_before_done = false; std::string body; };
  auto seen = run<Seen>([&]() -> asio::awaitable<Seen> {
    Seen s;
    auto stream = co_await client.open(chat(fu.port, true));
    while (auto piece = co_await stream->next()) {
      if (s.pieces == 0) s.first_before_done = !stream->done();
      ++s.pieces;
      s.body += *piece;
    }
    co_return s;
  });
  EXPECT_GT(seen.pieces, 3u);  // paced tokens arrive as separate reads, not one buffered body
  EXPECT_TRUE(seen.first_before_done);
  EXPECT_EQ(test::sse_data(seen.body).back(), "[DONE]");
}

TEST(HttpClient, NothingListeningIsAConnectError) {
  uint16_t port = test::free_port();
  Client client;
  EXPECT_EQ(error_kind([&] { run<ClientResponse>([&]() { return client.request(chat(port)); }); }),
            ClientError::Kind::connect);
}

TEST(HttpClient, BadUrl) {
  Client client;
  ClientRequest r;
  r.url = "ftp://x/y";
  EXPECT_EQ(error_kind([&] { run<ClientResponse>([&]() { return client.request(r); }); }), ClientError::Kind::bad_url);
}

TEST(HttpClient, FirstByteTimeout) {
  auto fu = fake({"--ttft-ms", "3000"});
  Client client;
  auto req = chat(fu.port);
  req.first_byte_timeout = 100ms;
  EXPECT_EQ(error_kind([&] { run<ClientResponse>([&]() { return client.request(req); }); }),
            ClientError::Kind::timeout);
}

TEST(HttpClient, PerReadDeadlineOnAStream) {
  auto fu = fake({"--ttft-ms", "3000"});
  Client client;
  EXPECT_EQ(error_kind([&] {
              run<int>([&]() -> asio::awaitable<int> {
                auto stream = co_await client.open(chat(fu.port, true));  // headers come at once
                co_await stream->next(Clock::now() + 100ms);
                co_return 0;
              });
            }),
            ClientError::Kind::timeout);
}

TEST(HttpClient, CutStreamIsAnErrorNotAnEnd) {
  auto fu = fake({"--cut-stream-after", "2"});
  Client client;
  EXPECT_EQ(error_kind([&] {
              run<int>([&]() -> asio::awaitable<int> {
                auto stream = co_await client.open(chat(fu.port, true));
                while (co_await stream->next()) {}
                co_return 0;
              });
            }),
            ClientError::Kind::closed);
}

TEST(HttpClient, TruncatedBodyIsAnError) {
  auto fu = fake({"--cut-stream-after", "0"});
  Client client;
  EXPECT_EQ(error_kind([&] { run<ClientResponse>([&]() { return client.request(chat(fu.port)); }); }),
            ClientError::Kind::closed);
}

TEST(HttpClient, CancellationClosesTheUpstreamRequest) {
  auto fu = fake({"--ttft-ms", "300", "--answer-tokens", "50", "--tokens-per-s", "20"});
  Client client;
  using namespace asio::experimental::awaitable_operators;
  auto which = run<size_t>([&]() -> asio::awaitable<size_t> {
    auto read_all = [&]() -> asio::awaitable<void> {
      auto stream = co_await client.open(chat(fu.port, true));
      while (co_await stream->next()) {}
    };
    asio::steady_timer t(co_await asio::this_coro::executor, 100ms);
    auto r = co_await (read_all() || t.async_wait(asio::use_awaitable));
    co_return r.index();
  });
  EXPECT_EQ(which, 1u);  // the timer won; the request was cancelled
  EXPECT_TRUE(wait_stat(fu.port, "streams_aborted", 1));
  EXPECT_EQ(fake_stats(fu.port).at("streams_completed").as_int64(), 0);
}

TEST(HttpClient, DroppingAStreamClosesTheConnection) {
  auto fu = fake({"--answer-tokens", "50", "--tokens-per-s", "20"});
  Client client;
  run<int>([&]() -> asio::awaitable<int> {
    auto stream = co_await client.open(chat(fu.port, true));
    co_await stream->next();
    co_return 0;  // stream destroyed before its end
  });
  EXPECT_EQ(client.stats().idle, 0);
  EXPECT_TRUE(wait_stat(fu.port, "streams_aborted", 1));
}

TEST(HttpClient, StalePooledConnectionIsRetriedOnAFreshOne) {
  auto first = std::make_unique<KuaiProcess>(std::vector<std::string>{"fake-upstream", "--port", "0"});
  uint16_t port = first->port;
  Client client;
  EXPECT_EQ(run<ClientResponse>([&]() { return client.request(chat(port)); }).status, 200);
  EXPECT_EQ(client.stats().idle, 1);
  first.reset();  // the pooled connection is now dead
  KuaiProcess second({"fake-upstream", "--port", std::to_string(port)});
  EXPECT_EQ(run<ClientResponse>([&]() { return client.request(chat(port)); }).status, 200);
  EXPECT_EQ(client.stats().connections_opened, 2);
}

// HTTPS: a self-signed certificate for localhost/127.0.0.1 made with the openssl CLI.
class HttpsClient : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("kuai-tls-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    cert_ = (dir_ / "cert.pem").string();
    key_ = (dir_ / "key.pem").string();
    std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -addext "
                      "subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout " + key_ + " -out " + cert_ +
                      " >/dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << "openssl CLI failed";
    fu_ = std::make_unique<KuaiProcess>(
        std::vector<std::string>{"fake-upstream", "--port", "0", "--tls-cert", cert_, "--tls-key", key_});
  }
  void TearDown() override {
    fu_.reset();
    std::filesystem::remove_all(dir_);
  }
  ClientRequest https_chat(const char* host) {
    auto r = chat(fu_->port);
    r.url = url(fu_->port, "/v1/chat/completions", "https", host);
    return r;
  }
  std::filesystem::path dir_;
  std::string cert_, key_;
  std::unique_ptr<KuaiProcess> fu_;
};

TEST_F(HttpsClient, VerifiedWithTheGivenCa) {
  ClientOptions o;
  o.ca_file = cert_;
  Client client(o);
  for (const char* host : {"localhost", "127.0.0.1"}) {
    auto r = run<ClientResponse>([&]() { return client.request(https_chat(host)); });
    EXPECT_EQ(r.status, 200) << host;
    EXPECT_EQ(json::parse(r.body).at("object").as_string(), "chat.completion");
  }
  // keep-alive over TLS too
  run<ClientResponse>([&]() { return client.request(https_chat("localhost")); });
  EXPECT_EQ(client.stats().connections_reused, 1);
}

TEST_F(HttpsClient, UnknownCaIsRejectedByDefault) {
  Client client;  // system store only
  EXPECT_EQ(error_kind([&] { run<ClientResponse>([&]() { return client.request(https_chat("localhost")); }); }),
            ClientError::Kind::tls);
}

TEST_F(HttpsClient, VerificationCanBeTurnedOff) {
  ClientOptions o;
  o.verify_peer = false;
  Client client(o);
  EXPECT_EQ(run<ClientResponse>([&]() { return client.request(https_chat("localhost")); }).status, 200);
}

TEST_F(HttpsClient, StreamingOverTls) {
  ClientOptions o;
  o.ca_file = cert_;
  Client client(o);
  auto body = run<std::string>([&]() -> asio::awaitable<std::string> {
    auto req = https_chat("localhost");
    req.body = R"({"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]})";
    auto stream = co_await client.open(req);
    co_return co_await stream->read_all(1 << 20);
  });
  EXPECT_EQ(test::sse_data(body).back(), "[DONE]");
}

}  // namespace
}  // namespace kuai::http
