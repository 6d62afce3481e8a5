#include "http/client.h"

#include "http/head_format.h"
#include "http/write_now.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>

#include <deque>
#include <mutex>
#include <unordered_map>

namespace kuai::http {
namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Kind = ClientError::Kind;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

struct Target {
  bool tls = false;
  std::string host, port, path, key, host_header;
};

Target parse_target(const std::string& url) {
  auto r = boost::urls::parse_uri(url);
  if (!r) throw ClientError(Kind::bad_url, "bad URL '" + url + "': " + r.error().message());
  Target t;
  std::string scheme(r->scheme());
  if (scheme == "https") t.tls = true;
  else if (scheme != "http") throw ClientError(Kind::bad_url, "bad URL '" + url + "': scheme must be http or https");
  t.host = std::string(r->encoded_host());
  if (t.host.size() > 2 && t.host.front() == '[' && t.host.back() == ']') t.host = t.host.substr(1, t.host.size() - 2);
  if (t.host.empty()) throw ClientError(Kind::bad_url, "bad URL '" + url + "': no host");
  t.port = r->has_port() ? std::string(r->port()) : (t.tls ? "443" : "80");
  t.path = std::string(r->encoded_path());
  if (t.path.empty()) t.path = "/";
  if (r->has_query()) t.path += "?" + std::string(r->encoded_query());
  t.host_header = std::string(r->encoded_host());
  if (r->has_port()) t.host_header += ":" + t.port;
  t.key = scheme + "://" + t.host + ":" + t.port;
  return t;
}

// parse_target, remembered per thread: a backend sends every request to the same few URLs, and
// parsing one costs thousands of instructions (a bounded map; cleared when it grows past 64 URLs).
// Shared pointers: a coroutine may resume on another thread, whose cache is not this one.
std::shared_ptr<const Target> cached_target(const std::string& url) {
  thread_local std::unordered_map<std::string, std::shared_ptr<const Target>> cache;
  auto it = cache.find(url);
  if (it != cache.end()) return it->second;
  auto t = std::make_shared<const Target>(parse_target(url));  // throws on a bad URL: nothing is cached
  if (cache.size() >= 64) cache.clear();
  cache.emplace(url, t);
  return t;
}

bool is_ip_literal(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

ClientError map_error(const boost::system::error_code& ec, const std::string& what) {
  if (ec == beast::error::timeout) return ClientError(Kind::timeout, what + ": timed out");
  if (ec == asio::error::operation_aborted) return ClientError(Kind::cancelled, what + ": cancelled");
  if (ec == bhttp::error::body_limit) return ClientError(Kind::too_large, what + ": body too large");
  if (ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
      ec == asio::error::broken_pipe || ec == bhttp::error::partial_message || ec == ssl::error::stream_truncated)
    return ClientError(Kind::closed, what + ": connection closed by the server (" + ec.message() + ")");
  if (ec.category() == bhttp::make_error_code(bhttp::error::bad_version).category())
    return ClientError(Kind::protocol, what + ": malformed HTTP (" + ec.message() + ")");
  return ClientError(Kind::closed, what + ": " + ec.message());
}

bool is_stale(const boost::system::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == ssl::error::stream_truncated;
}

struct Connection {
  std::string key;
  const asio::execution_context* context = nullptr;  // pooled sockets are only reused on their own io_context
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;
  // Body pieces land here (allocated once per connection, never zeroed: not once per request).
  static constexpr size_t kBodyBuf = 16384;
  std::unique_ptr<char[]> body_buf{new char[kBodyBuf]};
  Clock::time_point idle_since;

  beast::tcp_stream& lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
  void close() {
    boost::system::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    lowest().socket().close(ec);
  }
  void expire_at(Clock::time_point t) {
    if (t == Clock::time_point::max()) lowest().expires_never();
    else lowest().expires_at(t);
  }
};

template <class F>
auto visit(Connection& c, F&& f) {
  return c.secure ? f(*c.secure) : f(*c.plain);
}

}  // namespace

const char* ClientError::kind_name(Kind k) {
  switch (k) {
    case Kind::bad_url: return "bad_url";
    case Kind::connect: return "connect";
    case Kind::tls: return "tls";
    case Kind::timeout: return "timeout";
    case Kind::closed: return "closed";
    case Kind::protocol: return "protocol";
    case Kind::too_large: return "too_large";
    case Kind::cancelled: return "cancelled";
  }
  return "unknown";
}

std::string ClientResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return v;
  return {};
}

struct Client::Pool {
  ClientOptions opts;
  ssl::context ssl_ctx{ssl::context::tls_client};
  std::mutex mu;
  std::unordered_map<std::string, std::deque<std::unique_ptr<Connection>>> idle;
  std::atomic<int64_t> opened{0}, reused{0}, idle_count{0};

  std::unique_ptr<Connection> take(const std::string& key, const asio::execution_context* context) {
    std::lock_guard lock(mu);
    auto it = idle.find(key);
    if (it == idle.end()) return nullptr;
    auto now = Clock::now();
    while (!it->second.empty()) {
      auto c = std::move(it->second.back());  // most recently used first: least likely to be stale
      it->second.pop_back();
      --idle_count;
      if (now - c->idle_since < opts.max_idle_age && c->context == context) return c;
      c->close();
    }
    return nullptr;
  }

  void give(std::unique_ptr<Connection> c) {
    c->idle_since = Clock::now();
    c->lowest().expires_never();
    std::lock_guard lock(mu);
    auto& q = idle[c->key];
    if (q.size() >= opts.max_idle_per_host) {
      c->close();
      return;
    }
    q.push_back(std::move(c));
    ++idle_count;
  }
};

struct ResponseStream::Impl {
  std::shared_ptr<Client::Pool> pool;
  std::unique_ptr<Connection> conn;
  std::unique_ptr<bhttp::response_parser<bhttp::buffer_body>> parser;
  Clock::time_point total_deadline;
  int status = 0;
  ClientHeaders headers;
  bool done = false;

  ~Impl() {
    if (conn) conn->close();
  }
  void finish() {
    done = true;
    if (conn && parser->keep_alive()) pool->give(std::move(conn));
    else if (conn) conn->close();
    conn.reset();
  }
};

ResponseStream::ResponseStream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ResponseStream::~ResponseStream() = default;
int ResponseStream::status() const { return impl_->status; }
const ClientHeaders& ResponseStream::headers() const { return impl_->headers; }
bool ResponseStream::done() const { return impl_->done; }

std::string ResponseStream::header(std::string_view name) const {
  for (const auto& [k, v] : impl_->headers)
    if (k == name) return v;
  return {};
}

void ResponseStream::close() {
  if (impl_->conn) impl_->conn->close();
  impl_->conn.reset();
  impl_->done = true;
}

asio::awaitable<std::optional<std::string_view>> ResponseStream::next(Clock::time_point deadline) {
  Impl& s = *impl_;
  if (s.done) co_return std::nullopt;
  if (!s.conn) throw ClientError(Kind::closed, "response stream was closed");
  // A synchronous parse is tried only while it makes progress: once the socket says would_block, the
  // buffered bytes are an incomplete piece (say the CRLF after a chunk) and the next read must wait on
  // the io_context. Without this, a paced upstream stream spun a core on EAGAIN reads and starved the
  // thread's other connections and timers (issue 14, B1).
  bool parse_buffered = true;
  for (;;) {
    if (s.parser->is_done()) {
      s.finish();
      co_return std::nullopt;
    }
    auto& body = s.parser->get().body();
    char* buf = s.conn->body_buf.get();
    body.data = buf;
    body.size = Connection::kBodyBuf;
    boost::system::error_code ec;
    if (parse_buffered && s.conn->plain && s.conn->buffer.size() > 0) {
      // Bytes already received (usually the whole body came with the headers): parse them now, no
      // trip through the io_context. The socket is non-blocking: would_block means "wait for more".
      bhttp::read_some(s.conn->plain->socket(), s.conn->buffer, *s.parser, ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        ec = {};
        parse_buffered = false;
      }
    } else {
      parse_buffered = true;
      s.conn->expire_at(std::min(deadline, s.total_deadline));
      auto [rec, n] = co_await visit(*s.conn, [&](auto& stream) {
        return bhttp::async_read_some(stream, s.conn->buffer, *s.parser, kTuple);
      });
      ec = rec;
    }
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) {
      s.conn->close();
      s.conn.reset();
      s.done = true;
      throw map_error(ec, "reading the response body");
    }
    size_t got = Connection::kBodyBuf - s.parser->get().body().size;
    if (got > 0) co_return std::string_view(buf, got);
  }
}

asio::awaitable<std::string> ResponseStream::read_all(size_t limit) {
  std::string out;
  while (auto piece = co_await next()) {
    if (out.size() + piece->size() > limit) {
      close();
      throw ClientError(Kind::too_large, "response body over " + std::to_string(limit) + " bytes");
    }
    out.append(*piece);
  }
  co_return out;
}

Client::Client(ClientOptions options) : pool_(std::make_shared<Pool>()) {
  pool_->opts = std::move(options);
  boost::system::error_code ec;
  pool_->ssl_ctx.set_default_verify_paths(ec);
  if (!pool_->opts.ca_file.empty()) pool_->ssl_ctx.load_verify_file(pool_->opts.ca_file, ec);
  pool_->ssl_ctx.set_verify_mode(pool_->opts.verify_peer ? ssl::verify_peer : ssl::verify_none);
}

Client::~Client() = default;

Client::Stats Client::stats() const {
  return {pool_->opened.load(), pool_->reused.load(), pool_->idle_count.load()};
}

const ClientOptions& Client::options() const { return pool_->opts; }

namespace {

asio::awaitable<std::unique_ptr<Connection>> connect(Client::Pool& pool, const Target& t, Clock::time_point total_deadline) {
  auto ex = co_await asio::this_coro::executor;
  std::string where = t.host + ":" + t.port;
  auto deadline = std::min(Clock::now() + pool.opts.connect_timeout, total_deadline);
  tcp::resolver resolver(ex);
  auto [rec, results] = co_await resolver.async_resolve(t.host, t.port, kTuple);
  if (rec == asio::error::operation_aborted) throw ClientError(Kind::cancelled, "resolving " + where + ": cancelled");
  if (rec) throw ClientError(Kind::connect, "cannot resolve " + where + ": " + rec.message());
  auto conn = std::make_unique<Connection>();
  conn->buffer.reserve(Connection::kBodyBuf);  // a typical answer arrives in one read, not 512-byte pieces
  conn->key = t.key;
  conn->context = &asio::query(ex, asio::execution::context);
  if (t.tls) conn->secure = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ex, pool.ssl_ctx);
  else conn->plain = std::make_unique<beast::tcp_stream>(ex);
  conn->expire_at(deadline);
  auto [cec, ep] = co_await conn->lowest().async_connect(results, kTuple);
  if (cec == beast::error::timeout) throw ClientError(Kind::timeout, "connecting to " + where + ": timed out");
  if (cec == asio::error::operation_aborted) throw ClientError(Kind::cancelled, "connecting to " + where + ": cancelled");
  if (cec) throw ClientError(Kind::connect, "cannot connect to " + where + ": " + cec.message());
  boost::system::error_code ignore;
  conn->lowest().socket().set_option(tcp::no_delay(true), ignore);
  make_nonblocking(conn->lowest().socket());
  if (t.tls) {
    auto& s = *conn->secure;
    if (!is_ip_literal(t.host) && !SSL_set_tlsext_host_name(s.native_handle(), t.host.c_str()))
      throw ClientError(Kind::tls, "cannot set SNI for " + t.host);
    if (pool.opts.verify_peer) s.set_verify_callback(ssl::host_name_verification(t.host));
    auto [hec] = co_await s.async_handshake(ssl::stream_base::client, kTuple);
    if (hec == beast::error::timeout) throw ClientError(Kind::timeout, "TLS handshake with " + where + ": timed out");
    if (hec == asio::error::operation_aborted) throw ClientError(Kind::cancelled, "TLS handshake with " + where + ": cancelled");
    if (hec) throw ClientError(Kind::tls, "TLS handshake with " + where + " failed: " + hec.message());
  }
  ++pool.opened;
  co_return conn;
}

}  // namespace

asio::awaitable<std::unique_ptr<ResponseStream>> Client::open(ClientRequest req) {
  Pool& pool = *pool_;
  const std::shared_ptr<const Target> target = cached_target(req.url);
  const Target& t = *target;
  auto now = Clock::now();
  auto total = req.total_timeout.count() > 0 ? req.total_timeout : pool.opts.total_timeout;
  auto first_byte = req.first_byte_timeout.count() > 0 ? req.first_byte_timeout : pool.opts.first_byte_timeout;
  auto total_deadline = now + total;

  if (bhttp::string_to_verb(req.method) == bhttp::verb::unknown)
    throw ClientError(Kind::bad_url, "unknown HTTP method " + req.method);
  // The head, formatted by hand (head_format.h); sent with the body in one gather write.
  std::string head_text;
  head_text.reserve(256);
  head::request_line(head_text, req.method, t.path);
  bool has_host = false, has_agent = false;
  for (const auto& [k, v] : req.headers) {
    has_host = has_host || head::iequals(k, "host");
    has_agent = has_agent || head::iequals(k, "user-agent");
  }
  if (!has_host) head::field(head_text, "Host", t.host_header);
  if (!has_agent) head::field(head_text, "User-Agent", "kuai");
  for (const auto& [k, v] : req.headers)
    if (!head::is_framing_field(k)) head::field(head_text, k, v);
  head::content_length(head_text, req.body.size());
  head_text += "\r\n";
  std::array<asio::const_buffer, 2> request_bufs{asio::buffer(head_text), asio::buffer(req.body)};

  auto ex = co_await asio::this_coro::executor;
  const asio::execution_context* context = &asio::query(ex, asio::execution::context);
  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<Connection> conn = attempt == 0 ? pool.take(t.key, context) : nullptr;
    bool reused = conn != nullptr;
    if (reused) ++pool.reused;
    else conn = co_await connect(pool, t, total_deadline);
    conn->expire_at(std::min(Clock::now() + first_byte, total_deadline));
    boost::system::error_code wec;
    if (conn->plain) {
      wec = co_await write_now(conn->plain->socket(), *conn->plain, request_bufs);
    } else {
      auto [ec, n] = co_await asio::async_write(*conn->secure, request_bufs, kTuple);
      wec = ec;
    }
    if (wec) {
      conn->close();
      if (reused && is_stale(wec)) continue;
      throw map_error(wec, "sending the request to " + t.key);
    }
    auto parser = std::make_unique<bhttp::response_parser<bhttp::buffer_body>>();
    parser->body_limit(boost::none);
    auto [rec, rn] = co_await visit(*conn, [&](auto& s) {
      return bhttp::async_read_header(s, conn->buffer, *parser, kTuple);
    });
    if (rec) {
      conn->close();
      if (reused && is_stale(rec) && rn == 0) continue;
      throw map_error(rec, "waiting for the response of " + t.key);
    }
    auto impl = std::make_unique<ResponseStream::Impl>();
    impl->pool = pool_;
    impl->status = static_cast<int>(parser->get().result_int());
    for (const auto& f : parser->get()) {
      std::string name(f.name_string());
      for (auto& c : name) if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      impl->headers.emplace_back(std::move(name), std::string(f.value()));
    }
    impl->conn = std::move(conn);
    impl->parser = std::move(parser);
    impl->total_deadline = total_deadline;
    co_return std::make_unique<ResponseStream>(std::move(impl));
  }
}

asio::awaitable<ClientResponse> Client::request(ClientRequest req) {
  auto stream = co_await open(std::move(req));
  ClientResponse out;
  out.status = stream->status();
  out.headers = stream->headers();
  out.body = co_await stream->read_all(pool_->opts.max_body_bytes);
  co_return out;
}

}  // namespace kuai::http
