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
struct ConnectionState {
  net::any_io_executor strand;
  beast::tcp_stream* stream = nullptr;  // null once the connection is gone
  bool idle = false;                    // waiting for the next request / WebSocket message
};

struct Server::Impl {
  ServerOptions options;
  Handler handler;
  std::vector<std::string> ws_paths;
  WsHandler ws_handler;

  OwnedIoContext ioc;
  tcp::acceptor acceptor;
  std::optional<net::signal_set> signals;
  uint16_t bound_port = 0;
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
