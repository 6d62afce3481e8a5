// The SSRF guard: private ranges refused unless listed.
#include "jobs/ssrf_guard.h"

#include <gtest/gtest.h>

namespace kuai::jobs {
namespace {
namespace ip = boost::asio::ip;

TEST(SsrfGuard, PrivateRangesAreRefusedUnlessListed) {
  auto g = std::get<SsrfGuard>(SsrfGuard::from_list({"127.0.0.1", "10.1.0.0/16"}));
  for (const char* a : {"127.0.0.2", "10.2.0.1", "192.168.1.1", "172.20.0.1", "169.254.169.254", "100.64.0.1",
                        "0.0.0.0", "::1", "fe80::1", "fd00::1", "::ffff:192.168.0.1"})
    EXPECT_FALSE(g.allowed(ip::make_address(a))) << a;
  for (const char* a : {"127.0.0.1", "10.1.2.3", "8.8.8.8", "2001:4860::1", "::ffff:127.0.0.1"})
    EXPECT_TRUE(g.allowed(ip::make_address(a))) << a;
}

TEST(SsrfGuard, BadEntriesAreConfigErrors) {
  EXPECT_TRUE(std::holds_alternative<std::string>(SsrfGuard::from_list({"localhost"})));
  EXPECT_TRUE(std::holds_alternative<std::string>(SsrfGuard::from_list({"10.0.0.0/33"})));
  EXPECT_TRUE(std::holds_alternative<std::string>(SsrfGuard::from_list({"10.0.0.0/x"})));
}

}  // namespace
}  // namespace kuai::jobs
