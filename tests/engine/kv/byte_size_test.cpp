#include "engine/kv/byte_size.h"

#include <gtest/gtest.h>

namespace kuai::engine::kv {
namespace {

TEST(ByteSize, ParsesBinaryAndDecimalUnits) {
  EXPECT_EQ(parse_byte_size("4096"), 4096u);
  EXPECT_EQ(parse_byte_size("512MiB"), 512ull << 20);
  EXPECT_EQ(parse_byte_size("512 mib"), 512ull << 20);
  EXPECT_EQ(parse_byte_size("2GiB"), 2ull << 30);
  EXPECT_EQ(parse_byte_size("1.5KiB"), 1536u);
  EXPECT_EQ(parse_byte_size("64MB"), 64000000u);
  EXPECT_EQ(parse_byte_size("8k"), 8192u);
}

TEST(ByteSize, RejectsMalformed) {
  std::string err;
  EXPECT_FALSE(parse_byte_size("", &err));
  EXPECT_FALSE(parse_byte_size("-5MiB", &err));
  EXPECT_FALSE(parse_byte_size("12 parsecs", &err));
  EXPECT_NE(err.find("unknown byte-size unit"), std::string::npos);
  EXPECT_FALSE(parse_byte_size("1e30", &err));
  EXPECT_FALSE(parse_byte_size("99999999999TiB", &err));
}

}  // namespace
}  // namespace kuai::engine::kv
