// One accepted connection: reads requests (keep-alive), enforces the header timeout and the body
// limit, hands each request to the handler with a ResponseWriter, and is the error wall.
#include "http/server_impl.h"

#include "api/error.h"

#include <boost/beast/websocket/rfc6455.hpp>
#include <spdlog/spdlog.h>

namespace kuai::http {
namespace bhttp = beast::http;
using namespace std::chrono_literals;

namespace {

constexpr auto kTuple = net::as_tuple(net::use_awaitable);

std::string json_error(const api::Error& e) { return e.body(); }

class ResponseWriterImpl final : public ResponseWriter {
 public:
  ResponseWriterImpl(beast::tcp_stream& stream, ConnectionState& state, unsigned version, bool keep_alive,
                     int write_timeout_ms)
      : stream_(stream), state_(state), version_(version), keep_alive_(keep_alive), write_timeout_(write_timeout_ms) {}

  net::awaitable<void> send(int status, std::string_view content_type, std::string body,
                            const Headers& headers) override {
    if (started_) co_return;
    started_ = true;
    ended_ = true;
    bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(status), version_};
    res.set(bhttp::field::content_type, content_type);
    for (const auto& [k, v] : headers) res.insert(k, v);
    res.keep_alive(keep_alive_);
    res.body() = std::move(body);
    res.prepare_payload();
    state_.expire_after(write_timeout_);
    auto [ec, n] = co_await bhttp::async_write(stream_, res, kTuple);
    state_.expire_never();
    if (ec) gone_ = true;
  }

  net::awaitable<bool> begin_stream(int status, std::string_view content_type, const Headers& headers,
                                    std::string_view trailer_names) override {
    if (started_) co_return !gone_;
    started_ = true;
    streaming_ = true;
    bhttp::response<bhttp::empty_body> res{static_cast<bhttp::status>(status), version_};
    res.set(bhttp::field::content_type, content_type);
    res.set(bhttp::field::cache_control, "no-cache");
    for (const auto& [k, v] : headers) res.insert(k, v);
    if (!trailer_names.empty()) res.set(bhttp::field::trailer, trailer_names);
    res.keep_alive(keep_alive_);
    res.chunked(true);
    bhttp::response_serializer<bhttp::empty_body> sr{res};
    state_.expire_after(write_timeout_);
    auto [ec, n] = co_await bhttp::async_write_header(stream_, sr, kTuple);
    state_.expire_never();
    if (ec) gone_ = true;
    co_return !gone_;
  }

  net::awaitable<bool> write(std::string_view data) override {
    if (gone_ || !streaming_ || ended_) co_return false;
    if (data.empty()) co_return true;  // an empty chunk would end the body
    state_.expire_after(write_timeout_);
    auto [ec, n] = co_await net::async_write(stream_, bhttp::make_chunk(net::const_buffer(data.data(), data.size())),
                                             kTuple);
    state_.expire_never();
    if (ec) gone_ = true;
    co_return !gone_;
  }

  net::awaitable<void> end_stream(const Headers& trailers) override {
    if (gone_ || !streaming_ || ended_) co_return;
    ended_ = true;
    state_.expire_after(write_timeout_);
    if (trailers.empty()) {
      auto [ec, n] = co_await net::async_write(stream_, bhttp::make_chunk_last(), kTuple);
      if (ec) gone_ = true;
    } else {
      bhttp::fields f;
      for (const auto& [k, v] : trailers) f.insert(k, v);
      auto [ec, n] = co_await net::async_write(stream_, bhttp::make_chunk_last(f), kTuple);
      if (ec) gone_ = true;
    }
    state_.expire_never();
  }

  bool started() const override { return started_; }
  bool client_gone() const override { return gone_; }
  bool streaming_unfinished() const { return streaming_ && !ended_; }
  bool keep_alive() const { return keep_alive_; }

 private:
  beast::tcp_stream& stream_;
  ConnectionState& state_;
  unsigned version_;
  bool keep_alive_;
  std::chrono::milliseconds write_timeout_;
  bool started_ = false, streaming_ = false, ended_ = false, gone_ = false;
};

// Answers an error the connection itself detected (before any handler ran), then closes politely:
// half-close, and read (discard) what the client still sends for a moment, so it sees the answer
// instead of a reset.
net::awaitable<void> reply_and_close(beast::tcp_stream& stream, unsigned version, const api::Error& err) {
  bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(err.status()), version ? version : 11};
  res.set(bhttp::field::content_type, "application/json");
  res.keep_alive(false);
  res.body() = json_error(err);
  res.prepare_payload();
  stream.expires_after(5s);
  auto [ec, n] = co_await bhttp::async_write(stream, res, kTuple);
  if (ec) co_return;
  boost::system::error_code ignore;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignore);
  stream.expires_after(1s);
  char sink[16384];
  size_t total = 0;
  while (total < (64u << 20)) {
    auto [rec, got] = co_await stream.async_read_some(net::buffer(sink), kTuple);
    if (rec) break;
    total += got;
  }
}

}  // namespace

net::awaitable<void> watch_connection(std::shared_ptr<ConnectionState> state, std::chrono::milliseconds period) {
  for (;;) {
    if (!state->stream) co_return;
    auto now = ConnectionState::Clock::now();
    if (now >= state->deadline) {
      state->timed_out = true;
      boost::system::error_code ignore;
      state->stream->socket().close(ignore);
      co_return;
    }
    auto next = now + period;
    if (state->deadline < next) next = state->deadline;
    state->watchdog.expires_at(next);
    auto [ec] = co_await state->watchdog.async_wait(kTuple);
    (void)ec;  // cancelled when the connection ends: the loop sees stream == nullptr
  }
}

net::awaitable<void> serve_connection(Server::Impl& server, tcp::socket socket) {
  const ServerOptions& opt = server.options;
  auto state = std::make_shared<ConnectionState>(socket.get_executor());
  beast::tcp_stream stream(std::move(socket));
  state->stream = &stream;
  auto reg = server.add_conn(state);
  {
    auto period = std::chrono::milliseconds(
        std::max(10, std::min({opt.idle_timeout_ms, opt.header_timeout_ms, opt.body_timeout_ms})));
    net::co_spawn(state->strand, watch_connection(state, period), net::detached);
  }
  std::string remote;
  {
    boost::system::error_code ec;
    auto ep = stream.socket().remote_endpoint(ec);
    if (!ec) remote = ep.address().to_string() + ":" + std::to_string(ep.port());
  }
  beast::flat_buffer buffer;
  bool ws_taken = false;

  for (;;) {
    // Idle between requests: wait for the first byte under the idle timeout.
    if (buffer.size() == 0) {
      state->idle = true;
      if (server.stopping.load()) break;
      state->expire_after(std::chrono::milliseconds(opt.idle_timeout_ms));
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(16384), kTuple);
      state->idle = false;
      if (ec) break;
      buffer.commit(n);
    }

    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(64 * 1024);
    parser.body_limit(opt.max_body_bytes);
    state->expire_after(std::chrono::milliseconds(opt.header_timeout_ms));
    {
      auto [ec, n] = co_await bhttp::async_read_header(stream, buffer, parser, kTuple);
      if (ec == bhttp::error::body_limit) {
        co_await reply_and_close(stream, 11, api::Error::too_large(
            "Request body is larger than the limit of " + std::to_string(opt.max_body_bytes) + " bytes."));
        break;
      }
      if (ec == bhttp::error::header_limit) {
        co_await reply_and_close(stream, 11, api::Error(431, "invalid_request_error", "Request headers are too large."));
        break;
      }
      if (state->timed_out || ec == beast::error::timeout || ec == net::error::eof ||
          ec == bhttp::error::end_of_stream || ec == net::error::connection_reset ||
          ec == net::error::operation_aborted || ec == net::error::bad_descriptor) {
        break;  // slow or vanished client: clean close
      }
      if (ec) {
        co_await reply_and_close(stream, 11, api::Error::bad_request("Malformed HTTP request: " + ec.message()));
        break;
      }
    }

    const auto& head = parser.get();
    unsigned version = head.version();
    if (!parser.is_done()) {
      if (beast::iequals(head[bhttp::field::expect], "100-continue")) {
        bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, version};
        state->expire_after(std::chrono::milliseconds(opt.body_timeout_ms));
        auto [ec, n] = co_await bhttp::async_write(stream, cont, kTuple);
        if (ec) break;
      }
      state->expire_after(std::chrono::milliseconds(opt.body_timeout_ms));
      auto [ec, n] = co_await bhttp::async_read(stream, buffer, parser, kTuple);
      if (ec == bhttp::error::body_limit) {
        co_await reply_and_close(stream, version, api::Error::too_large(
            "Request body is larger than the limit of " + std::to_string(opt.max_body_bytes) + " bytes."));
        break;
      }
      if (state->timed_out || ec == beast::error::timeout || ec == net::error::eof ||
          ec == bhttp::error::partial_message || ec == net::error::connection_reset ||
          ec == net::error::operation_aborted || ec == net::error::bad_descriptor) {
        break;
      }
      if (ec) {
        co_await reply_and_close(stream, version, api::Error::bad_request("Malformed HTTP request body: " + ec.message()));
        break;
      }
    }
    state->expire_never();

    auto msg = parser.release();
    Request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    req.remote = remote;
    req.headers.reserve(16);
    for (const auto& f : msg) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      req.headers.emplace_back(std::move(name), std::string(f.value()));
    }

    if (beast::websocket::is_upgrade(msg) && server.is_ws_path(req.path())) {
      req.body.clear();
      ws_taken = true;
      co_await serve_websocket(server, *state, stream, std::move(msg), std::move(req));
      break;
    }
    req.body = std::move(msg.body());

    bool keep_alive = msg.keep_alive() && !server.stopping.load();
    ResponseWriterImpl writer(stream, *state, version, keep_alive, opt.body_timeout_ms);
    std::optional<api::Error> failure;
    try {
      co_await server.handler(req, writer);
    } catch (const api::Error& e) {
      failure = e;
    } catch (const std::exception& e) {
      spdlog::error("{} {}: unhandled error: {}", req.method, req.target, e.what());
      failure = api::Error::internal(std::string("internal error: ") + e.what());
    }
    if (failure && !writer.started()) {
      co_await writer.send(failure->status(), "application/json", json_error(*failure), {});
    } else if (!writer.started()) {
      co_await writer.send(500, "application/json",
                           json_error(api::Error::internal("the handler produced no response")), {});
    } else if (writer.streaming_unfinished()) {
      if (failure || writer.client_gone()) break;  // cut stream: closing tells the client it is incomplete
      co_await writer.end_stream({});
    }
    if (!writer.keep_alive() || writer.client_gone() || server.stopping.load()) break;
  }

  boost::system::error_code ignore;
  if (!ws_taken) stream.socket().shutdown(tcp::socket::shutdown_send, ignore);
  stream.socket().close(ignore);
  state->stream = nullptr;
  state->watchdog.cancel();
  server.remove_conn(reg);
}

}  // namespace kuai::http
