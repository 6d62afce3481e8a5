// head_format: hand-formatted HTTP heads (status/request lines, fields, chunk sizes, framing names).
#include "http/head_format.h"

#include <gtest/gtest.h>

namespace kuai::http {
namespace {

TEST(HeadFormat, StatusLineHasTheStandardReason) {
  std::string out;
  head::status_line(out, 11, 200);
  head::status_line(out, 10, 404);
  head::status_line(out, 11, 299);  // not a standard status
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nHTTP/1.0 404 Not Found\r\nHTTP/1.1 299 Unknown\r\n");
}

TEST(HeadFormat, RequestLineAndFields) {
  std::string out;
  head::request_line(out, "POST", "/v1/chat/completions?x=1");
  head::field(out, "Host", "127.0.0.1:8080");
  head::content_length(out, 1234567);
  EXPECT_EQ(out, "POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Length: 1234567\r\n");
}

TEST(HeadFormat, LineBreaksInOutsideValuesCannotStartAHeader) {
  std::string out;
  head::field(out, "X-Id", "abc\r\nSet-Cookie: evil");
  head::field(out, "Bad\nName", "v");
  EXPECT_EQ(out, "X-Id: abc  Set-Cookie: evil\r\nBad Name: v\r\n");
}

TEST(HeadFormat, FramingFieldsAnyCase) {
  EXPECT_TRUE(head::is_framing_field("Content-Length"));
  EXPECT_TRUE(head::is_framing_field("TRANSFER-ENCODING"));
  EXPECT_TRUE(head::is_framing_field("connection"));
  EXPECT_FALSE(head::is_framing_field("Content-Type"));
  EXPECT_FALSE(head::is_framing_field("connections"));
  EXPECT_TRUE(head::iequals("User-Agent", "user-agent"));
  EXPECT_FALSE(head::iequals("User-Agent", "host"));
  EXPECT_TRUE(head::iequals("Application/JSON", "application/json"));
}

TEST(HeadFormat, BodylessStatuses) {
  EXPECT_TRUE(head::status_has_no_body(100));
  EXPECT_TRUE(head::status_has_no_body(204));
  EXPECT_TRUE(head::status_has_no_body(304));
  EXPECT_FALSE(head::status_has_no_body(200));
  EXPECT_FALSE(head::status_has_no_body(404));
}

TEST(HeadFormat, ChunkSizeLineIsHex) {
  char buf[24];
  EXPECT_EQ(std::string(buf, head::chunk_size_line(buf, 0)), "0\r\n");
  EXPECT_EQ(std::string(buf, head::chunk_size_line(buf, 255)), "ff\r\n");
  EXPECT_EQ(std::string(buf, head::chunk_size_line(buf, 0x10000)), "10000\r\n");
  EXPECT_EQ(std::string(buf, head::chunk_size_line(buf, ~size_t{0})), "ffffffffffffffff\r\n");
}

}  // namespace
}  // namespace kuai::http
