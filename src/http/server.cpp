#include "http/server.h"

#include "http/server_impl.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace kuai::http {

std::string_view Request::path() const {
  std::string_view t(target);
  auto q = t.find('?');
  return q == std::string_view::npos ? t : t.substr(0, q);
}

const std::string* Request::header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers)
    if (k == lower_name) return &v;
  return nullptr;
}

namespace {
// Default: one thread per core, 1..8, except on a machine of two cores or fewer, where kuai shares
// the cores with its clients and upstreams: one thread (no strands, no cross-thread wake-ups) costs
// ~25% less CPU per request there (bench/gateway_overhead, measured with /proc CPU time per request).
int thread_count(int requested) {
  if (requested > 0) return requested;
  int hw = static_cast<int>(std::thread::hardware_concurrency());
  if (hw <= 2) return 1;
  return std::clamp(hw, 1, 8);
}
}  // namespace

Server::Impl::Impl(ServerOptions o, Handler h)
    : options(std::move(o)), handler(std::move(h)), ioc(thread_count(options.io_threads)), acceptor(ioc),
      single_thread(thread_count(options.io_threads) == 1) {}

bool Server::Impl::is_ws_path(std::string_view path) const {
  if (!ws_handler) return false;
  return std::find(ws_paths.begin(), ws_paths.end(), path) != ws_paths.end();
}

std::list<std::shared_ptr<ConnectionState>>::iterator Server::Impl::add_conn(std::shared_ptr<ConnectionState> c) {
  std::lock_guard lock(conns_mu);
  n_conns.fetch_add(1, std::memory_order_relaxed);
  return conns.insert(conns.end(), std::move(c));
}

void Server::Impl::remove_conn(std::list<std::shared_ptr<ConnectionState>>::iterator it) {
  std::lock_guard lock(conns_mu);
  conns.erase(it);
  n_conns.fetch_sub(1, std::memory_order_relaxed);
}

net::awaitable<void> Server::Impl::accept_loop() {
  for (;;) {
    // One thread: no strand needed (and none of its extra hops). Several: one strand per connection.
    net::any_io_executor ex = single_thread ? net::any_io_executor(ioc.get_executor())
                                            : net::any_io_executor(net::make_strand(ioc));
    auto [ec, socket] = co_await acceptor.async_accept(ex, net::as_tuple(net::use_awaitable));
    if (ec) {
      if (stopping || ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
      // EMFILE and friends: log, back off a little, keep accepting.
      spdlog::warn("accept failed: {}", ec.message());
      net::steady_timer t(ioc, std::chrono::milliseconds(10));
      co_await t.async_wait(net::as_tuple(net::use_awaitable));
      continue;
    }
    boost::system::error_code ignore;
    socket.set_option(tcp::no_delay(true), ignore);
    auto conn_ex = socket.get_executor();
    net::co_spawn(conn_ex, serve_connection(*this, std::move(socket)), net::detached);
  }
}

net::awaitable<void> Server::Impl::drain() {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options.drain_timeout_ms);
  net::steady_timer t(ioc);
  while (n_conns.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    t.expires_after(std::chrono::milliseconds(10));
    co_await t.async_wait(net::as_tuple(net::use_awaitable));
  }
  if (n_conns.load() > 0) spdlog::warn("drain timeout: cutting {} connection(s)", n_conns.load());
  ioc.stop();
}

Server::Server(ServerOptions options, Handler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {}

Server::~Server() = default;

void Server::set_error_formatter(ErrorFormatter formatter) { impl_->error_formatter = std::move(formatter); }

ErrorReply Server::Impl::format_error(const std::exception_ptr& error) const {
  if (error_formatter) {
    try {
      return error_formatter(error);
    } catch (const std::exception& e) {
      spdlog::error("error formatter failed: {}", e.what());
    }
  }
  ErrorReply r;
  try {
    std::rethrow_exception(error);
  } catch (const ProtocolError& e) {
    r.status = e.status();
    r.body = e.what();
  } catch (const std::exception& e) {
    r.body = e.what();
  } catch (...) {
    r.body = "internal error";
  }
  return r;
}

void Server::set_websocket(std::vector<std::string> paths, WsHandler handler) {
  impl_->ws_paths = std::move(paths);
  impl_->ws_handler = std::move(handler);
}

boost::asio::any_io_executor Server::executor() const { return impl_->ioc.get_executor(); }
uint16_t Server::port() const { return impl_->bound_port; }
const ServerOptions& Server::options() const { return impl_->options; }
int64_t Server::open_connections() const { return impl_->n_conns.load(); }

std::optional<std::string> Server::listen() {
  auto& acc = impl_->acceptor;
  boost::system::error_code ec;
  auto addr = net::ip::make_address(impl_->options.host, ec);
  if (ec) return "invalid listen address '" + impl_->options.host + "'";
  tcp::endpoint ep(addr, impl_->options.port);
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    acc.close(ec);
    return "cannot listen on " + impl_->options.host + ":" + std::to_string(impl_->options.port) + ": " +
           ec.message();
  }
  impl_->bound_port = acc.local_endpoint().port();
  net::co_spawn(impl_->ioc, impl_->accept_loop(), net::detached);
  return std::nullopt;
}

void Server::run() {
  int n = thread_count(impl_->options.io_threads);
  std::vector<std::thread> threads;
  threads.reserve(n - 1);
  auto work = [this] {
    for (;;) {
      try {
        impl_->ioc.run();
        return;
      } catch (const std::exception& e) {  // a handler escaped the error wall: log and keep serving
        spdlog::error("I/O thread: unhandled exception: {}", e.what());
      }
    }
  };
  for (int i = 1; i < n; ++i) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
}

void Server::stop() {
  Impl* s = impl_.get();
  if (s->stopping.exchange(true)) return;
  net::post(s->ioc, [s] {
    boost::system::error_code ec;
    s->acceptor.close(ec);
    if (s->signals) s->signals->cancel(ec);
    std::lock_guard lock(s->conns_mu);
    for (auto& c : s->conns) {
      net::post(c->strand, [c] {
        if (c->stream && c->idle) c->stream->socket().close();
      });
    }
    net::co_spawn(s->ioc, s->drain(), net::detached);
  });
}

void Server::stop_on_signals(std::vector<int> sigs, std::function<void(int)> on_signal) {
  Impl* s = impl_.get();
  s->signals.emplace(s->ioc);
  for (int sig : sigs) s->signals->add(sig);
  s->signals->async_wait([this, on_signal](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    if (on_signal) on_signal(sig);
    stop();
  });
}

void Server::shutdown_io() { impl_->ioc.shutdown(); }

}  // namespace kuai::http
