// Internals of http::Server shared by server.cpp, connection.cpp and websocket_session.cpp.
// Includes Beast: never include this outside src/http/.
#pragma once

#include "http/server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <list>
#include <memory>
#include <mutex>
#include <thread>

namespace kuai::http {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

// io_context whose shutdown() (destroy pending handlers and coroutine frames) is callable.
struct OwnedIoContext : net::io_context {
  explicit OwnedIoContext(int hint) : net::io_context(hint) {}
  using net::io_context::shutdown;
};

// One live connection, known to the server so a graceful stop can close it while it is idle.
// Fields are only touched on the connection's strand (stream, idle), except the shared_ptr itself.
//
// Timeouts use a lazy deadline instead of beast::tcp_stream expiries: the connection only stores
// `deadline` (no syscall), and one watchdog timer per connection wakes at most every `watch_period`
// to close the socket once the deadline passed. Re-arming a timer on every read and write costs a
// timerfd syscall each time, which is a visible part of the gateway's per-request overhead.
struct ConnectionState {
  using Clock = std::chrono::steady_clock;
  explicit ConnectionState(net::any_io_executor ex) : strand(ex), watchdog(ex) {}

  net::any_io_executor strand;
  beast::tcp_stream* stream = nullptr;  // null once the connection is gone
  bool idle = false;                    // waiting for the next request / WebSocket message
  Clock::time_point deadline = Clock::time_point::max();  // close the connection after this
  bool timed_out = false;               // the watchdog closed it
  net::steady_timer watchdog;

  void expire_after(std::chrono::milliseconds d) { deadline = Clock::now() + d; }
  void expire_never() { deadline = Clock::time_point::max(); }
};

// Closes `state`'s socket when its deadline passes; ends when the connection is gone.
net::awaitable<void> watch_connection(std::shared_ptr<ConnectionState> state, std::chrono::milliseconds period);

struct Server::Impl {
  ServerOptions options;
  Handler handler;
  std::vector<std::string> ws_paths;
  WsHandler ws_handler;
  ErrorFormatter error_formatter;

  // The reply for `error` (error_formatter's, or the plain-text default). Never throws.
  ErrorReply format_error(const std::exception_ptr& error) const;

  OwnedIoContext ioc;
  tcp::acceptor acceptor;
  std::optional<net::signal_set> signals;
  uint16_t bound_port = 0;
  bool single_thread = false;
  std::atomic<bool> stopping{false};

  std::mutex conns_mu;
  std::list<std::shared_ptr<ConnectionState>> conns;
  std::atomic<int64_t> n_conns{0};

  Impl(ServerOptions o, Handler h);

  net::awaitable<void> accept_loop();
  net::awaitable<void> drain();
  std::list<std::shared_ptr<ConnectionState>>::iterator add_conn(std::shared_ptr<ConnectionState> c);
  void remove_conn(std::list<std::shared_ptr<ConnectionState>>::iterator it);
  bool is_ws_path(std::string_view path) const;
};

// connection.cpp: serves one accepted connection (HTTP requests, then maybe a WebSocket).
net::awaitable<void> serve_connection(Server::Impl& server, tcp::socket socket);

// websocket_session.cpp: accepts the upgrade `req` on `stream` and runs the WebSocket handler.
net::awaitable<void> serve_websocket(Server::Impl& server, ConnectionState& state, beast::tcp_stream& stream,
                                     beast::http::request<beast::http::string_body> req, Request request);

}  // namespace kuai::http
