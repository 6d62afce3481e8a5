// The WebSocket side of a connection: accepts the upgrade and adapts beast::websocket::stream to the
// Beast-free http::WebSocket interface for the handler.
#include "http/server_impl.h"


#include <boost/beast/websocket.hpp>

#include <deque>

namespace kuai::http {
namespace websocket = beast::websocket;

namespace {

constexpr auto kTuple = net::as_tuple(net::use_awaitable);

// A reader runs beside the handler for the whole session, so a Close frame (or a vanished peer) is
// seen while an answer is still streaming: writes then fail, the handler stops, its upstream call is
// cancelled, and Beast answers the Close. Messages the reader gets wait in `inbox_` for read(), which
// closes the socket after `idle_timeout` without a message (server.ws_idle_timeout_ms).
class WebSocketImpl final : public WebSocket {
 public:
  WebSocketImpl(websocket::stream<beast::tcp_stream&>& ws, ConnectionState& state, Server::Impl& server,
                net::any_io_executor ex)
      : ws_(ws), state_(state), server_(server), wake_(ex), reader_gone_(ex) {
    wake_.expires_at(net::steady_timer::time_point::max());
    reader_gone_.expires_at(net::steady_timer::time_point::max());
  }

  net::awaitable<void> run_reader() {
    for (;;) {
      beast::flat_buffer buf;
      auto [ec, n] = co_await ws_.async_read(buf, kTuple);
      if (ec) break;
      inbox_.push_back(beast::buffers_to_string(buf.data()));
      wake_.cancel();
    }
    closed_ = true;
    reader_done_ = true;
    wake_.cancel();
    reader_gone_.cancel();
  }

  net::awaitable<std::optional<std::string>> read() override {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(server_.options.ws_idle_timeout_ms);
    state_.idle = true;
    while (inbox_.empty() && !reader_done_ && !server_.stopping.load()) {
      if (std::chrono::steady_clock::now() >= deadline) {
        idle_timed_out_ = true;
        break;
      }
      wake_.expires_at(deadline);  // a message, the reader's end or a stop (it closes idle sockets) wakes it sooner
      co_await wake_.async_wait(kTuple);
    }
    state_.idle = false;
    if (inbox_.empty() || idle_timed_out_) co_return std::nullopt;
    std::string msg = std::move(inbox_.front());
    inbox_.pop_front();
    co_return msg;
  }

  net::awaitable<bool> write(std::string_view text) override {
    if (closed_) co_return false;
    ws_.text(true);
    auto [ec, n] = co_await ws_.async_write(net::const_buffer(text.data(), text.size()), kTuple);
    if (ec) closed_ = true;
    co_return !closed_;
  }

  // Ends the session: a Close frame unless the peer's Close was already answered, then waits for the
  // reader (it holds a reference to the stream, which dies with the caller's frame).
  net::awaitable<void> finish() {
    if (!reader_done_) {
      auto code = idle_timed_out_ ? websocket::close_reason(websocket::close_code::going_away, "idle timeout")
                                  : websocket::close_reason(websocket::close_code::normal);
      auto [cec] = co_await ws_.async_close(code, kTuple);
      if (cec) {
        boost::system::error_code ignore;
        beast::get_lowest_layer(ws_).socket().close(ignore);
      }
    }
    while (!reader_done_) {
      reader_gone_.expires_after(std::chrono::seconds(1));
      auto [ec] = co_await reader_gone_.async_wait(kTuple);
      if (!ec && !reader_done_) {  // the peer never completed the closing handshake
        boost::system::error_code ignore;
        beast::get_lowest_layer(ws_).socket().close(ignore);
      }
    }
  }

 private:
  websocket::stream<beast::tcp_stream&>& ws_;
  ConnectionState& state_;
  Server::Impl& server_;
  net::steady_timer wake_, reader_gone_;
  std::deque<std::string> inbox_;
  bool closed_ = false, reader_done_ = false, idle_timed_out_ = false;
};

}  // namespace

net::awaitable<void> serve_websocket(Server::Impl& server, ConnectionState& state, beast::tcp_stream& stream,
                                     beast::http::request<beast::http::string_body> req, Request request) {
  state.expire_never();  // the websocket stream runs its own timeouts (pings, idle)
  websocket::stream<beast::tcp_stream&> ws(stream);
  // Beast pings a quiet peer and drops one that stops answering; read() closes a session idle for
  // ws_idle_timeout_ms (no message) even when its pings are answered.
  auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
  timeouts.idle_timeout = std::chrono::milliseconds(std::max(1000, server.options.ws_idle_timeout_ms));
  timeouts.keep_alive_pings = true;
  ws.set_option(timeouts);
  ws.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(beast::http::field::server, "kuai"); }));
  ws.read_message_max(server.options.max_body_bytes);
  auto [ec] = co_await ws.async_accept(req, kTuple);
  if (ec) co_return;
  auto ex = co_await net::this_coro::executor;
  WebSocketImpl socket(ws, state, server, ex);
  net::co_spawn(ex, socket.run_reader(), net::detached);
  // The error wall: an escaped error becomes one message (worded by the application's formatter),
  // then a close.
  std::exception_ptr failure;
  try {
    co_await server.ws_handler(request, socket);
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure) {
    std::string message = server.format_error(failure).body;
    co_await socket.write(message);
  }
  co_await socket.finish();
}

}  // namespace kuai::http
