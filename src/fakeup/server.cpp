#include "fakeup/server.h"

#include "fakeup/responder.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

namespace kuai::fakeup {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

struct ActiveGuard {
  std::atomic<int64_t>& n;
  explicit ActiveGuard(std::atomic<int64_t>& c) : n(c) { ++n; }
  ~ActiveGuard() { --n; }
};

asio::awaitable<void> sleep_for(std::chrono::microseconds d) {
  if (d.count() <= 0) co_return;
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(kTuple);
}

template <class Stream>
void close_lowest(Stream& stream) {
  beast::error_code ec;
  beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ec);
  beast::get_lowest_layer(stream).socket().close(ec);
}

template <class Response>
void add_headers(Response& res, const Reply& r, bool keep_alive) {
  res.set(http::field::server, "kuai-fake-upstream");
  res.set(http::field::content_type, r.content_type);
  for (const auto& [k, v] : r.headers) res.set(k, v);
  res.keep_alive(keep_alive);
}

// Counts a model request in flight from its reply's start to the end of its answer.
class ModelInFlight {
 public:
  ModelInFlight(Stats& stats, bool model) : stats_(model ? &stats : nullptr) {
    if (!stats_) return;
    const int64_t now = ++stats_->model_in_flight;
    for (int64_t max = stats_->model_in_flight_max.load(); now > max && !stats_->model_in_flight_max.compare_exchange_weak(max, now);) {
    }
  }
  ~ModelInFlight() {
    if (stats_) --stats_->model_in_flight;
  }
  ModelInFlight(const ModelInFlight&) = delete;
  ModelInFlight& operator=(const ModelInFlight&) = delete;

 private:
  Stats* stats_;
};

// Serves HTTP requests on one connection until the peer closes, an error, or Connection: close.
template <class Stream>
asio::awaitable<void> serve_connection(Stream& stream, Responder& responder) {
  Stats& stats = responder.stats();
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(300));
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, kTuple);
    if (ec) co_return;
    beast::get_lowest_layer(stream).expires_never();
    const auto& req = parser.get();
    Incoming in{std::string_view(req.method_string().data(), req.method_string().size()),
                std::string_view(req.target().data(), req.target().size()),
                std::string_view(req[http::field::authorization].data(), req[http::field::authorization].size()),
                req.body()};
    Reply r = responder.handle(in);
    ModelInFlight counted(stats, r.model_request);
    bool keep = req.keep_alive() && !r.close_connection;

    if (!r.stream) {
      co_await sleep_for(r.first_delay);
      http::response<http::string_body> res{static_cast<http::status>(r.status), req.version()};
      add_headers(res, r, keep);
      if (r.cut_after_events >= 0) {
        // A truncated body: the full Content-Length, half the bytes, then a closed connection.
        http::response<http::empty_body> head{static_cast<http::status>(r.status), req.version()};
        add_headers(head, r, true);
        head.content_length(r.body.size());
        http::response_serializer<http::empty_body> sr{head};
        auto [wec, wn] = co_await http::async_write_header(stream, sr, kTuple);
        if (!wec) co_await asio::async_write(stream, asio::buffer(r.body.data(), r.body.size() / 2), kTuple);
        close_lowest(stream);
        co_return;
      }
      res.body() = std::move(r.body);
      res.prepare_payload();
      auto [wec, wn] = co_await http::async_write(stream, res, kTuple);
      if (wec || !keep) break;
      continue;
    }

    ++stats.streams_started;
    http::response<http::empty_body> head{static_cast<http::status>(r.status), req.version()};
    add_headers(head, r, keep);
    head.set(http::field::cache_control, "no-cache");
    head.chunked(true);
    http::response_serializer<http::empty_body> sr{head};
    auto [hec, hn] = co_await http::async_write_header(stream, sr, kTuple);
    if (hec) {
      ++stats.streams_aborted;
      co_return;
    }
    co_await sleep_for(r.first_delay);
    std::string frame;
    for (size_t i = 0; i < r.events.size(); ++i) {
      if (r.cut_after_events >= 0 && i == static_cast<size_t>(r.cut_after_events)) {
        ++stats.streams_cut;
        close_lowest(stream);
        co_return;
      }
      if (r.events[i].paced) co_await sleep_for(r.token_delay);
      frame.assign("data: ").append(r.events[i].data).append("\n\n");
      auto [wec, wn] = co_await asio::async_write(stream, http::make_chunk(asio::buffer(frame)), kTuple);
      if (wec) {
        ++stats.streams_aborted;
        co_return;
      }
    }
    auto [lec, ln] = co_await asio::async_write(stream, http::make_chunk_last(), kTuple);
    if (lec) {
      ++stats.streams_aborted;
      co_return;
    }
    ++stats.streams_completed;
    if (!keep) break;
  }
  close_lowest(stream);
}

asio::awaitable<void> plain_session(tcp::socket socket, Responder& responder) {
  ActiveGuard active(responder.stats().connections_active);
  beast::tcp_stream stream(std::move(socket));
  co_await serve_connection(stream, responder);
}

asio::awaitable<void> tls_session(tcp::socket socket, asio::ssl::context& ctx, Responder& responder) {
  ActiveGuard active(responder.stats().connections_active);
  beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), ctx);
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
  auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, kTuple);
  if (ec) co_return;
  co_await serve_connection(stream, responder);
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, Responder& responder, asio::ssl::context* tls) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(kTuple);
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      continue;  // e.g. EMFILE: keep serving the connections we have
    }
    socket.set_option(tcp::no_delay(true), ec);
    ++responder.stats().connections_accepted;
    auto exec = acceptor.get_executor();
    if (tls)
      asio::co_spawn(exec, tls_session(std::move(socket), *tls, responder), asio::detached);
    else
      asio::co_spawn(exec, plain_session(std::move(socket), responder), asio::detached);
  }
}

}  // namespace

int run_server(const Options& opts, std::string& error) {
  asio::io_context ioc(opts.threads);
  std::unique_ptr<asio::ssl::context> tls;
  if (!opts.tls_cert.empty()) {
    tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    boost::system::error_code ec;
    tls->use_certificate_chain_file(opts.tls_cert, ec);
    if (!ec) tls->use_private_key_file(opts.tls_key, asio::ssl::context::pem, ec);
    if (ec) {
      error = "cannot load TLS certificate/key: " + ec.message();
      return 2;
    }
  }
  Responder responder(opts);
  tcp::acceptor acceptor(ioc);
  boost::system::error_code ec;
  auto address = asio::ip::make_address(opts.host, ec);
  if (ec) {
    error = "bad host '" + opts.host + "': " + ec.message();
    return 2;
  }
  tcp::endpoint ep(address, opts.port);
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    error = "cannot listen on " + opts.host + ":" + std::to_string(opts.port) + ": " + ec.message();
    return 2;
  }
  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) { ioc.stop(); });
  asio::co_spawn(ioc, accept_loop(acceptor, responder, tls.get()), asio::detached);
  std::fprintf(stderr, "listening on %s:%u\n", opts.host.c_str(), acceptor.local_endpoint().port());
  std::fflush(stderr);
  std::vector<std::thread> extra;
  for (int i = 1; i < opts.threads; ++i) extra.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : extra) t.join();
  return 0;
}

}  // namespace kuai::fakeup
