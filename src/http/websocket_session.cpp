// The WebSocket side of a connection: accepts the upgrade and adapts beast::websocket::stream to the
// Beast-free http::WebSocket interface for the handler.
#include "http/server_impl.h"

#include "api/error.h"

#include <boost/beast/websocket.hpp>
#include <spdlog/spdlog.h>

namespace kuai::http {
namespace websocket = beast::websocket;

namespace {

constexpr auto kTuple = net::as_tuple(net::use_awaitable);

class WebSocketImpl final : public WebSocket {
 public:
  WebSocketImpl(websocket::stream<beast::tcp_stream&>& ws, ConnectionState& state, Server::Impl& server)
      : ws_(ws), state_(state), server_(server) {}

  net::awaitable<std::optional<std::string>> read() override {
    if (closed_ || server_.stopping.load()) co_return std::nullopt;
    beast::flat_buffer buf;
    state_.idle = true;
    auto [ec, n] = co_await ws_.async_read(buf, kTuple);
    state_.idle = false;
    if (ec) {
      closed_ = true;
      co_return std::nullopt;
    }
    co_return beast::buffers_to_string(buf.data());
  }

  net::awaitable<bool> write(std::string_view text) override {
    if (closed_) co_return false;
    ws_.text(true);
    auto [ec, n] = co_await ws_.async_write(net::const_buffer(text.data(), text.size()), kTuple);
    if (ec) closed_ = true;
    co_return !closed_;
  }

  bool closed() const { return closed_; }

 private:
  websocket::stream<beast::tcp_stream&>& ws_;
  ConnectionState& state_;
  Server::Impl& server_;
  bool closed_ = false;
};

}  // namespace

net::awaitable<void> serve_websocket(Server::Impl& server, ConnectionState& state, beast::tcp_stream& stream,
                                     beast::http::request<beast::http::string_body> req, Request request) {
  state.expire_never();  // the websocket stream runs its own timeouts (pings, idle)
  websocket::stream<beast::tcp_stream&> ws(stream);
  ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  ws.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(beast::http::field::server, "kuai"); }));
  ws.read_message_max(server.options.max_body_bytes);
  auto [ec] = co_await ws.async_accept(req, kTuple);
  if (ec) co_return;
  WebSocketImpl socket(ws, state, server);
  std::string failure;  // the error wall: an escaped error becomes an error message, then a close
  try {
    co_await server.ws_handler(request, socket);
  } catch (const api::Error& e) {
    failure = e.body();
  } catch (const std::exception& e) {
    spdlog::error("websocket {}: unhandled error: {}", request.target, e.what());
    failure = api::Error::internal(std::string("internal error: ") + e.what()).body();
  }
  if (!failure.empty()) co_await socket.write(failure);
  if (!socket.closed()) {
    auto [cec] = co_await ws.async_close(websocket::close_code::normal, kTuple);
    (void)cec;
  }
}

}  // namespace kuai::http
