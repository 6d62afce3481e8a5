// The gateway's HTTP/1.1 + WebSocket server (Boost.Beast, C++20 coroutines), behind a Beast-free
// interface: the rest of kuai sees Request, ResponseWriter and WebSocket only.
//
// - One io_context run by a small fixed set of I/O threads (ServerOptions::io_threads); every
//   connection is one coroutine on its own strand. Handlers run on I/O threads and must never block.
// - Keep-alive; a request body limit (413 with an OpenAI error body); a header timeout (a client that
//   sends its headers too slowly is closed cleanly); an idle timeout between requests.
// - Streaming: chunked transfer, every write() is flushed to the socket at once (TCP_NODELAY), with
//   optional trailers (Server-Timing at the end of an SSE stream).
// - WebSocket: upgrade requests on registered paths go to the WebSocket handler.
// - The error wall: anything a handler throws, and every error the server detects itself
//   (ProtocolError), is worded by the ErrorFormatter the application gives (the gateway's words OpenAI
//   error bodies); the server keeps serving. This layer knows statuses, not any API's error format.
// - Graceful stop: stop accepting, close idle connections, let in-flight requests finish within
//   drain_timeout_ms, then run() returns.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <exception>
#include <optional>
#include <stdexcept>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kuai::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;   // as sent, e.g. "GET", "POST"
  std::string target;   // as sent, e.g. "/v1/models?x=1"
  Headers headers;      // names lower-cased, in arrival order
  std::string body;
  std::string remote;   // peer "ip:port"

  std::string_view path() const;  // target without the query string
  // The first header with this (lower-case) name, or nullptr.
  const std::string* header(std::string_view lower_name) const;
};

// One request's response: either send() once, or begin_stream(), write()*, end_stream().
// Only the coroutine that handles the request may call it.
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  // A whole response with Content-Length.
  virtual boost::asio::awaitable<void> send(int status, std::string_view content_type, std::string body,
                                            const Headers& headers = {}) = 0;
  // Sends the status line and headers of a chunked response (e.g. text/event-stream) at once.
  // `trailer_names` announces trailers given to end_stream (e.g. "Server-Timing"). False: client gone.
  virtual boost::asio::awaitable<bool> begin_stream(int status, std::string_view content_type,
                                                    const Headers& headers, std::string_view trailer_names = {}) = 0;
  // One chunk, written to the socket before returning. False when the client is gone (stop producing).
  virtual boost::asio::awaitable<bool> write(std::string_view data) = 0;
  // The terminating chunk with optional trailers.
  virtual boost::asio::awaitable<void> end_stream(const Headers& trailers = {}) = 0;
  virtual bool started() const = 0;      // status line already sent
  virtual bool client_gone() const = 0;  // a write failed
};

// An accepted WebSocket connection (text messages). Only its handler coroutine may call it.
class WebSocket {
 public:
  virtual ~WebSocket() = default;
  // The next message, or nullopt when the peer closed (or the server is stopping).
  virtual boost::asio::awaitable<std::optional<std::string>> read() = 0;
  // Sends one text message; false when the peer is gone.
  virtual boost::asio::awaitable<bool> write(std::string_view text) = 0;
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;             // 0: pick a free port (see Server::port())
  int io_threads = 0;               // 0: hardware threads, clamped to [1, 8]; 1 on a machine of <= 2 cores
  size_t max_body_bytes = 8u << 20;  // larger bodies get 413
  // Request paths (exact, without the query) with their own body limit instead (an upload route).
  std::map<std::string, size_t, std::less<>> body_limit_by_path;
  int header_timeout_ms = 10000;    // from the first byte of a request to the end of its headers
  int idle_timeout_ms = 60000;      // a kept-alive connection with no new request is closed
  int body_timeout_ms = 60000;      // reading a body, and each write to a slow reader
  int drain_timeout_ms = 10000;     // graceful stop: how long in-flight requests may still run
  int ws_idle_timeout_ms = 60000;   // a WebSocket with no message from the client for this long is closed
};

// An error the server detects itself, with the status it answers: a malformed request (400), a body
// over the limit (413), headers too large (431), an unsupported Transfer-Encoding (501), a bad WebSocket
// handshake (400), a handler that sent no response (500). Given to the ErrorFormatter.
class ProtocolError : public std::runtime_error {
 public:
  ProtocolError(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

// What the client gets for an error: status, content type and body (a WebSocket gets the body as a
// text message).
struct ErrorReply {
  int status = 500;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Words an error for the client: `error` is what a handler threw, or a ProtocolError. Called on an
// I/O thread; must not throw. Without one set, the reply is the status and the message as plain text.
using ErrorFormatter = std::function<ErrorReply(const std::exception_ptr& error)>;

using Handler = std::function<boost::asio::awaitable<void>(Request&, ResponseWriter&)>;
using WsHandler = std::function<boost::asio::awaitable<void>(Request&, WebSocket&)>;

class Server {
 public:
  Server(ServerOptions options, Handler handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // How errors are worded for clients (before listen()); see ErrorFormatter.
  void set_error_formatter(ErrorFormatter formatter);
  // Upgrade requests whose path is in `paths` go to `handler` (before listen()).
  void set_websocket(std::vector<std::string> paths, WsHandler handler);
  // The executor connections run on; valid from construction (for upstream clients, timers).
  boost::asio::any_io_executor executor() const;
  // Binds and listens. Returns an error message (e.g. port in use) instead of throwing.
  std::optional<std::string> listen();
  uint16_t port() const;  // the bound port (after listen)
  const ServerOptions& options() const;

  // Runs the I/O threads (the calling thread is one of them) until a graceful stop has drained.
  void run();
  // Graceful stop; thread-safe, returns at once (run() returns when drained).
  void stop();
  // Calls stop() when one of `signals` arrives (first call `on_signal(sig)` if given). Before run().
  void stop_on_signals(std::vector<int> signals, std::function<void(int)> on_signal = {});
  // Destroys every pending operation (suspended coroutines) while the objects they use still exist.
  // Call after run() returned, before destroying objects that own sockets on executor().
  void shutdown_io();

  int64_t open_connections() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace kuai::http
