// One accepted connection: reads requests (keep-alive), enforces the header timeout and the body
// limit, hands each request to the handler with a ResponseWriter, and is the error wall.
#include "http/server_impl.h"

#include "http/head_format.h"
#include "http/write_now.h"

#include <boost/beast/websocket/rfc6455.hpp>

namespace kuai::http {
namespace bhttp = beast::http;
using namespace std::chrono_literals;

namespace {

constexpr auto kTuple = net::as_tuple(net::use_awaitable);

// Writes heads formatted by hand (head_format.h) into a buffer the connection reuses, together with
// the body in one gather write that goes out at once when the socket takes it (write_now.h).
class ResponseWriterImpl final : public ResponseWriter {
 public:
  ResponseWriterImpl(beast::tcp_stream& stream, ConnectionState& state, std::string& head, unsigned version,
                     bool keep_alive, int write_timeout_ms)
      : stream_(stream), state_(state), head_(head), version_(version), keep_alive_(keep_alive),
        write_timeout_(write_timeout_ms) {}

  net::awaitable<void> send(int status, std::string_view content_type, std::string body,
                            const Headers& headers) override {
    if (started_) co_return;
    started_ = true;
    ended_ = true;
    start_head(status, content_type, headers);
    bool no_body = head::status_has_no_body(status);
    if (!no_body) head::content_length(head_, body.size());
    head_ += "\r\n";
    std::array<net::const_buffer, 2> bufs{net::buffer(head_), no_body ? net::const_buffer() : net::buffer(body)};
    co_await put(bufs);
  }

  net::awaitable<bool> begin_stream(int status, std::string_view content_type, const Headers& headers,
                                    std::string_view trailer_names) override {
    if (started_) co_return !gone_;
    started_ = true;
    streaming_ = true;
    // HTTP/1.0 knows no chunking: the body ends when the connection closes (no trailer).
    close_delimited_ = version_ < 11;
    if (close_delimited_) keep_alive_ = false;
    start_head(status, content_type, headers, "no-cache");
    if (close_delimited_) {
      head_ += "\r\n";
    } else {
      if (!trailer_names.empty()) head::field(head_, "Trailer", trailer_names);
      head_ += "Transfer-Encoding: chunked\r\n\r\n";
    }
    std::array<net::const_buffer, 1> bufs{net::buffer(head_)};
    co_await put(bufs);
    co_return !gone_;
  }

  net::awaitable<bool> write(std::string_view data) override {
    if (gone_ || !streaming_ || ended_) co_return false;
    if (data.empty()) co_return true;  // an empty chunk would end the body
    if (close_delimited_) {
      std::array<net::const_buffer, 1> raw{net::buffer(data.data(), data.size())};
      co_await put(raw);
      co_return !gone_;
    }
    char size_line[24];
    size_t n = head::chunk_size_line(size_line, data.size());
    std::array<net::const_buffer, 3> bufs{net::buffer(size_line, n), net::buffer(data.data(), data.size()),
                                          net::buffer("\r\n", 2)};
    co_await put(bufs);
    co_return !gone_;
  }

  net::awaitable<void> end_stream(const Headers& trailers) override {
    if (gone_ || !streaming_ || ended_) co_return;
    ended_ = true;
    if (close_delimited_) co_return;  // closing the connection ends the body
    head_.clear();
    head_ += "0\r\n";
    for (const auto& [k, v] : trailers)
      if (!head::is_framing_field(k)) head::field(head_, k, v);
    head_ += "\r\n";
    std::array<net::const_buffer, 1> bufs{net::buffer(head_)};
    co_await put(bufs);
  }

  bool started() const override { return started_; }
  bool client_gone() const override { return gone_; }
  bool streaming_unfinished() const { return streaming_ && !ended_; }
  bool keep_alive() const { return keep_alive_; }

 private:
  // Status line, Content-Type, [Cache-Control], the handler's headers, Connection when needed.
  void start_head(int status, std::string_view content_type, const Headers& headers,
                  std::string_view cache_control = {}) {
    head_.clear();
    head::status_line(head_, version_, status);
    head::field(head_, "Content-Type", content_type);
    if (!cache_control.empty()) head::field(head_, "Cache-Control", cache_control);
    for (const auto& [k, v] : headers)
      if (!head::is_framing_field(k)) head::field(head_, k, v);
    if (!keep_alive_ && version_ >= 11) head_ += "Connection: close\r\n";
    if (keep_alive_ && version_ < 11) head_ += "Connection: keep-alive\r\n";
  }

  template <size_t N>
  net::awaitable<void> put(std::array<net::const_buffer, N>& bufs) {
    state_.expire_after(write_timeout_);
    boost::system::error_code ec = co_await write_now(stream_.socket(), stream_.socket(), bufs);
    state_.expire_never();
    if (ec) gone_ = true;
  }

  beast::tcp_stream& stream_;
  ConnectionState& state_;
  std::string& head_;
  unsigned version_;
  bool keep_alive_;
  std::chrono::milliseconds write_timeout_;
  bool started_ = false, streaming_ = false, ended_ = false, gone_ = false, close_delimited_ = false;
};

// Answers an error the connection itself detected (before any handler ran), then closes politely:
// half-close, and read (discard) what the client still sends for a moment, so it sees the answer
// instead of a reset.
net::awaitable<void> reply_and_close(const Server::Impl& server, beast::tcp_stream& stream, unsigned version,
                                     ProtocolError err) {
  ErrorReply reply = server.format_error(std::make_exception_ptr(std::move(err)));
  bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(reply.status), version ? version : 11};
  res.set(bhttp::field::content_type, reply.content_type);
  res.keep_alive(false);
  res.body() = std::move(reply.body);
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

// What a failed request read means: nullopt for a slow or vanished client (close quietly), else the
// error to answer before closing. `in_body`: the headers were complete.
ProtocolError too_large(size_t limit) {
  return ProtocolError(413, "Request body is larger than the limit of " + std::to_string(limit) + " bytes.");
}

// The body limit of a request target: its path's own (ServerOptions::body_limit_by_path) or the default.
size_t body_limit_for(const ServerOptions& opt, std::string_view target) {
  if (opt.body_limit_by_path.empty()) return opt.max_body_bytes;
  auto it = opt.body_limit_by_path.find(target.substr(0, target.find('?')));
  return it == opt.body_limit_by_path.end() ? opt.max_body_bytes : it->second;
}

size_t largest_body_limit(const ServerOptions& opt) {
  size_t most = opt.max_body_bytes;
  for (const auto& [path, limit] : opt.body_limit_by_path) most = std::max(most, limit);
  return most;
}

std::optional<ProtocolError> read_error(const boost::system::error_code& ec, bool timed_out, bool in_body,
                                        size_t max_body_bytes) {
  if (ec == bhttp::error::body_limit) return too_large(max_body_bytes);
  if (ec == bhttp::error::header_limit) return ProtocolError(431, "Request headers are too large.");
  if (timed_out || ec == beast::error::timeout || ec == net::error::eof || ec == bhttp::error::end_of_stream ||
      ec == net::error::connection_reset || ec == net::error::operation_aborted || ec == net::error::bad_descriptor ||
      (in_body && ec == bhttp::error::partial_message))
    return std::nullopt;
  return ProtocolError(400, (in_body ? "Malformed HTTP request body: " : "Malformed HTTP request: ") + ec.message());
}

// RFC 9112 §6.1/§6.3: a request body is framed by Content-Length or by a final `chunked` coding,
// never both, and no other coding is accepted. Anything else would let the bytes after the head be
// read as a second (smuggled) request, so it is refused and the connection closes.
std::optional<ProtocolError> framing_error(const bhttp::request_parser<bhttp::string_body>::value_type& msg) {
  auto te = msg.find(bhttp::field::transfer_encoding);
  if (te == msg.end()) return std::nullopt;
  if (msg.find(bhttp::field::content_length) != msg.end())
    return ProtocolError(400, "A request must not carry both Transfer-Encoding and Content-Length.");
  std::string_view coding = te->value();
  while (!coding.empty() && (coding.front() == ' ' || coding.front() == '\t')) coding.remove_prefix(1);
  while (!coding.empty() && (coding.back() == ' ' || coding.back() == '\t')) coding.remove_suffix(1);
  int n_te = 0;
  for (const auto& f : msg) n_te += f.name() == bhttp::field::transfer_encoding;
  if (n_te != 1 || !beast::iequals(coding, "chunked"))
    return ProtocolError(501, "Transfer-Encoding '" + std::string(te->value()) + "' is not supported: send chunked or a Content-Length.");
  return std::nullopt;
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
  make_nonblocking(stream.socket());
  beast::flat_buffer buffer;
  std::string head_buf;  // response heads, reused by every request on this connection
  bool ws_taken = false;
  const size_t largest_body = largest_body_limit(opt);

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
    parser.body_limit(largest_body);
    state->expire_after(std::chrono::milliseconds(opt.header_timeout_ms));
    // Most requests are already whole in the buffer or the socket: parse them synchronously (the
    // socket is non-blocking), and wait asynchronously only for what has not arrived yet.
    boost::system::error_code ec;
    bhttp::read(stream.socket(), buffer, parser, ec);
    if (ec == net::error::would_block || ec == net::error::try_again) {
      ec = {};
      if (!parser.is_header_done()) {
        auto [hec, n] = co_await bhttp::async_read_header(stream, buffer, parser, kTuple);
        ec = hec;
      }
    }
    unsigned version = parser.is_header_done() ? parser.get().version() : 11;
    if (ec) {
      if (auto err = read_error(ec, state->timed_out, parser.is_header_done(), largest_body))
        co_await reply_and_close(server, stream, version, *err);
      break;
    }
    if (auto err = framing_error(parser.get())) {
      co_await reply_and_close(server, stream, version, *err);
      break;
    }
    // The parser took the largest limit of any route; this route's own applies from here (a
    // Content-Length over it is refused before its body is read).
    size_t body_limit = body_limit_for(opt, parser.get().target());
    if (auto len = parser.content_length(); len && *len > body_limit) {
      co_await reply_and_close(server, stream, version, too_large(body_limit));
      break;
    }
    if (body_limit < largest_body && !parser.is_done()) parser.body_limit(body_limit);
    if (!parser.is_done()) {
      if (beast::iequals(parser.get()[bhttp::field::expect], "100-continue")) {
        bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, version};
        state->expire_after(std::chrono::milliseconds(opt.body_timeout_ms));
        auto [cec, n] = co_await bhttp::async_write(stream, cont, kTuple);
        if (cec) break;
      }
      state->expire_after(std::chrono::milliseconds(opt.body_timeout_ms));
      auto [bec, n] = co_await bhttp::async_read(stream, buffer, parser, kTuple);
      if (bec) {
        if (auto err = read_error(bec, state->timed_out, true, body_limit))
          co_await reply_and_close(server, stream, version, *err);
        break;
      }
    }
    if (parser.get().body().size() > body_limit) {  // a chunked body read whole under the larger limit
      co_await reply_and_close(server, stream, version, too_large(body_limit));
      break;
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
      for (auto& c : name) if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      req.headers.emplace_back(std::move(name), std::string(f.value()));
    }

    if (beast::websocket::is_upgrade(msg) && server.is_ws_path(req.path())) {
      // Beast would answer a bad handshake in plain text: answer it here, as every other error.
      if (msg[bhttp::field::sec_websocket_key].empty() || msg[bhttp::field::sec_websocket_version] != "13") {
        co_await reply_and_close(server, stream, version,
                                 ProtocolError(400, "A WebSocket upgrade needs Sec-WebSocket-Key and "
                                                    "Sec-WebSocket-Version: 13."));
        break;
      }
      req.body.clear();
      ws_taken = true;
      co_await serve_websocket(server, *state, stream, std::move(msg), std::move(req));
      break;
    }
    req.body = std::move(msg.body());

    bool keep_alive = msg.keep_alive() && !server.stopping.load();
    ResponseWriterImpl writer(stream, *state, head_buf, version, keep_alive, opt.body_timeout_ms);
    std::exception_ptr failure;  // the error wall: the application's formatter words it
    try {
      co_await server.handler(req, writer);
    } catch (...) {
      failure = std::current_exception();
    }
    if (!writer.started()) {
      if (!failure) failure = std::make_exception_ptr(ProtocolError(500, "the handler produced no response"));
      ErrorReply reply = server.format_error(failure);
      co_await writer.send(reply.status, reply.content_type, std::move(reply.body), {});
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
