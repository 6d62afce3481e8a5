// Async HTTP/1.1 client for upstream calls (Boost.Beast + Asio C++20 coroutines) behind a Beast-free
// interface. One Client per process (or per backend set) holds a keep-alive connection pool per
// host (scheme://host:port), bounded by ClientOptions::max_idle_per_host.
//
// - HTTP and HTTPS (OpenSSL): SNI, peer verification with the system CA store by default (plus
//   `ca_file`), host name check; `verify_peer = false` turns verification off.
// - Timeouts: connect (resolve + TCP + TLS handshake), first byte (request written → response
//   headers), total (the whole exchange); ResponseStream::next takes a per-read deadline on top.
// - Streaming: open() returns once the headers are in; the body then arrives piece by piece, as the
//   server sends it (never buffered whole).
// - Cancellation: every operation honours Asio per-operation cancellation (terminal) of the calling
//   coroutine (e.g. `||` of awaitable operators, bind_cancellation_slot) and throws
//   ClientError{cancelled}; destroying a ResponseStream before its body ended closes the connection,
//   so the server sees the request go away. A connection goes back to the pool only when its response
//   was read to the end and both sides allow keep-alive.
// - A request on a reused connection that fails before any response byte (the server closed the idle
//   connection) is retried once on a fresh connection.
// Threads: call from a coroutine running on a strand (or a single-threaded io_context); the pool is
// shared by all threads (mutex). A ResponseStream belongs to the coroutine that opened it.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kuai::http {

using Clock = std::chrono::steady_clock;
using ClientHeaders = std::vector<std::pair<std::string, std::string>>;

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds first_byte_timeout{60000};
  std::chrono::milliseconds total_timeout{600000};
  std::chrono::milliseconds max_idle_age{30000};  // pooled connections idle longer are dropped
  size_t max_idle_per_host = 64;
  size_t max_body_bytes = 64u << 20;               // request(): larger bodies → too_large
  bool verify_peer = true;
  std::string ca_file;                             // extra trusted CAs (PEM); empty: system store only
};

struct ClientRequest {
  std::string method = "POST";
  std::string url;            // http://host[:port]/path?query or https://…
  ClientHeaders headers;      // Host, Content-Length and Connection are set by the client
  std::string body;
  // Per-request overrides; zero: ClientOptions.
  std::chrono::milliseconds first_byte_timeout{0};
  std::chrono::milliseconds total_timeout{0};
};

class ClientError : public std::runtime_error {
 public:
  enum class Kind {
    bad_url,    // the URL cannot be used
    connect,    // resolve or TCP connect failed (nothing was sent)
    tls,        // TLS handshake or verification failed (nothing was sent)
    timeout,    // a connect / first byte / total / per-read deadline passed
    closed,     // the server closed the connection before the response ended
    protocol,   // not HTTP/1.x, or a malformed message
    too_large,  // body over max_body_bytes
    cancelled,  // the calling coroutine was cancelled
  };
  ClientError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  Kind kind() const { return kind_; }
  static const char* kind_name(Kind k);

 private:
  Kind kind_;
};

struct ClientResponse {
  int status = 0;
  ClientHeaders headers;  // names lower-cased
  std::string body;
  // The first header with this lower-case name, or an empty string.
  std::string header(std::string_view lower_name) const;
};

class Client;

// A response whose body is still arriving. Owned by one coroutine.
class ResponseStream {
 public:
  struct Impl;
  explicit ResponseStream(std::unique_ptr<Impl> impl);
  ~ResponseStream();  // an unfinished body closes the connection; a finished one is pooled
  ResponseStream(const ResponseStream&) = delete;
  ResponseStream& operator=(const ResponseStream&) = delete;

  int status() const;
  const ClientHeaders& headers() const;
  std::string header(std::string_view lower_name) const;

  // The next piece of the body as it arrived (valid until the next call), or nullopt at its end.
  // `deadline` bounds this read on top of the total timeout. Throws ClientError.
  boost::asio::awaitable<std::optional<std::string_view>> next(Clock::time_point deadline = Clock::time_point::max());
  // The rest of the body (at most `limit` bytes, else too_large).
  boost::asio::awaitable<std::string> read_all(size_t limit);
  bool done() const;
  // Closes the connection now (the server sees the request go away).
  void close();

 private:
  std::unique_ptr<Impl> impl_;
};

class Client {
 public:
  explicit Client(ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends the request and returns once the response headers arrived. Throws ClientError.
  boost::asio::awaitable<std::unique_ptr<ResponseStream>> open(ClientRequest req);
  // Sends the request and reads the whole response (up to max_body_bytes). Throws ClientError.
  boost::asio::awaitable<ClientResponse> request(ClientRequest req);

  struct Stats {
    int64_t connections_opened = 0;  // new TCP (and TLS) connections
    int64_t connections_reused = 0;  // requests sent on a pooled connection
    int64_t idle = 0;                // connections in the pool now
  };
  Stats stats() const;
  const ClientOptions& options() const;

  struct Pool;

 private:
  std::shared_ptr<Pool> pool_;
};

}  // namespace kuai::http
