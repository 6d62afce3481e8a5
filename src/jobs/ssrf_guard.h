// Which addresses a webhook may be delivered to: loopback, link-local, private (RFC 1918, RFC 4193),
// CGNAT, unspecified and IPv4-mapped forms of those are refused unless an `allow_private` entry
// (an address, or an address/prefix) covers them. Thread-safety: immutable after construction.
#pragma once

#include <boost/asio/ip/address.hpp>

#include <optional>
#include <variant>
#include <string>
#include <vector>

namespace kuai::jobs {

class SsrfGuard {
 public:
  // Entries like "127.0.0.1", "10.0.0.0/8", "::1"; an error message names a bad one.
  static std::variant<SsrfGuard, std::string> from_list(const std::vector<std::string>& allow_private);

  static bool is_private(const boost::asio::ip::address& a);
  // True when a delivery to `a` may go out.
  bool allowed(const boost::asio::ip::address& a) const;

 private:
  struct Net {
    boost::asio::ip::address base;
    int prefix;
  };
  std::vector<Net> allow_;
};

}  // namespace kuai::jobs
