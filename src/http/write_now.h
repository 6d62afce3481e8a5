// "Write now, else wait": a gather write that first tries the socket synchronously (the socket is in
// non-blocking mode) and only falls back to an asynchronous write for what the kernel did not take.
// A small response or request almost always goes out in that first sendmsg, so it costs no completion
// handler, no trip through the io_context queue and no extra epoll_wait (bench/gateway_overhead).
// Plain TCP sockets only (a TLS stream cannot be written synchronously without blocking).
// Internal to src/http/ (includes Asio). Call from the coroutine that owns the socket's writes.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>

namespace kuai::http {

// Puts `socket` in non-blocking mode for synchronous calls (asynchronous operations are unaffected).
inline void make_nonblocking(boost::asio::ip::tcp::socket& socket) {
  boost::system::error_code ignore;
  socket.non_blocking(true, ignore);
}

// Writes all of `bufs` to `socket` (see the file comment); what does not go out at once is written
// asynchronously to `rest_to`: the socket itself, or the stream that wraps it (a beast::tcp_stream
// whose expiry then bounds the wait). Returns the error, empty on success.
template <class AsyncStream, size_t N>
boost::asio::awaitable<boost::system::error_code> write_now(boost::asio::ip::tcp::socket& socket, AsyncStream& rest_to,
                                                            std::array<boost::asio::const_buffer, N> bufs) {
  boost::system::error_code ec;
  size_t sent = socket.write_some(bufs, ec);
  if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
    ec = {};
    sent = 0;
  }
  if (ec) co_return ec;
  size_t first = 0;
  for (; first < N; ++first) {  // skip what went out already
    if (sent < bufs[first].size()) {
      bufs[first] += sent;
      break;
    }
    sent -= bufs[first].size();
  }
  bool rest = false;
  for (size_t i = first; i < N; ++i) rest = rest || bufs[i].size() > 0;
  if (!rest) co_return ec;
  std::array<boost::asio::const_buffer, N> tail{};
  for (size_t i = first; i < N; ++i) tail[i - first] = bufs[i];
  auto [wec, n] = co_await boost::asio::async_write(rest_to, tail, boost::asio::as_tuple(boost::asio::use_awaitable));
  (void)n;
  co_return wec;
}

}  // namespace kuai::http
