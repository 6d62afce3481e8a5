#include "jobs/ssrf_guard.h"

#include <charconv>

namespace kuai::jobs {
namespace ip = boost::asio::ip;

namespace {

// The first `prefix` bits of a and b are equal (same family).
bool same_prefix(const ip::address& a, const ip::address& b, int prefix) {
  if (a.is_v4() != b.is_v4()) return false;
  auto bytes = [](const ip::address& x) {
    std::vector<unsigned char> v;
    if (x.is_v4()) {
      auto b4 = x.to_v4().to_bytes();
      v.assign(b4.begin(), b4.end());
    } else {
      auto b6 = x.to_v6().to_bytes();
      v.assign(b6.begin(), b6.end());
    }
    return v;
  };
  auto x = bytes(a), y = bytes(b);
  for (int i = 0; i < prefix; ++i) {
    int bit = 7 - i % 8;
    if (((x[static_cast<size_t>(i / 8)] >> bit) & 1) != ((y[static_cast<size_t>(i / 8)] >> bit) & 1)) return false;
  }
  return true;
}

ip::address unmapped(const ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return ip::make_address_v4(ip::v4_mapped, a.to_v6());
  return a;
}

}  // namespace

std::variant<SsrfGuard, std::string> SsrfGuard::from_list(const std::vector<std::string>& list) {
  SsrfGuard g;
  for (const auto& entry : list) {
    auto slash = entry.find('/');
    boost::system::error_code ec;
    ip::address base = ip::make_address(entry.substr(0, slash), ec);
    if (ec) return "config 'jobs.webhooks.allow_private': '" + entry + "' is not an address or address/prefix";
    int max = base.is_v4() ? 32 : 128, prefix = max;
    if (slash != std::string::npos) {
      std::string_view p(entry);
      p.remove_prefix(slash + 1);
      auto [end, err] = std::from_chars(p.data(), p.data() + p.size(), prefix);
      if (err != std::errc() || end != p.data() + p.size() || prefix < 0 || prefix > max)
        return "config 'jobs.webhooks.allow_private': bad prefix length in '" + entry + "'";
    }
    g.allow_.push_back(Net{base, prefix});
  }
  return g;
}

bool SsrfGuard::is_private(const ip::address& raw) {
  ip::address a = unmapped(raw);
  if (a.is_unspecified() || a.is_loopback()) return true;
  if (a.is_v4()) {
    static const std::pair<const char*, int> kRanges[] = {{"10.0.0.0", 8},    {"172.16.0.0", 12}, {"192.168.0.0", 16},
                                                          {"169.254.0.0", 16}, {"100.64.0.0", 10}, {"0.0.0.0", 8},
                                                          {"127.0.0.0", 8}};
    for (const auto& [net, len] : kRanges)
      if (same_prefix(a, ip::make_address(net), len)) return true;
    return false;
  }
  return a.to_v6().is_link_local() || same_prefix(a, ip::make_address("fc00::"), 7);
}

bool SsrfGuard::allowed(const ip::address& raw) const {
  ip::address a = unmapped(raw);
  if (!is_private(a)) return true;
  for (const auto& n : allow_)
    if (same_prefix(a, n.base, n.prefix)) return true;
  return false;
}

}  // namespace kuai::jobs
