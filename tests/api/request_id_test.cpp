#include "api/request_id.h"

#include <gtest/gtest.h>

#include <set>

namespace kuai::api {
namespace {

// The prefix, then exactly 24 lowercase hex digits; ids do not repeat.
TEST(RequestId, PrefixAnd24HexDigits) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = new_request_id("chatcmpl-");
    ASSERT_EQ(id.size(), 9u + 24u) << id;
    ASSERT_EQ(id.rfind("chatcmpl-", 0), 0u) << id;
    for (char c : id.substr(9)) ASSERT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_EQ(new_request_id("cmpl-").rfind("cmpl-", 0), 0u);
}

}  // namespace
}  // namespace kuai::api
