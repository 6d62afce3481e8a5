// multipart/form-data as clients send uploads, and malformed bodies as errors.
#include "jobs/multipart.h"

#include <gtest/gtest.h>

namespace kuai::jobs {
namespace {

TEST(Multipart, BoundaryFromContentType) {
  EXPECT_EQ(multipart_boundary("multipart/form-data; boundary=abc").value_or(""), "abc");
  EXPECT_EQ(multipart_boundary(R"(Multipart/Form-Data; boundary="a b")").value_or(""), "a b");
  EXPECT_FALSE(multipart_boundary("application/json"));
  EXPECT_FALSE(multipart_boundary("multipart/form-data"));
}

TEST(Multipart, FieldsAndFiles) {
  std::string body =
      "--XX\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
      "--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\nContent-Type: "
      "application/jsonl\r\n\r\nline1\r\nline2\n\r\n--XX--\r\n";
  auto r = parse_multipart(body, "XX");
  ASSERT_TRUE(std::holds_alternative<std::vector<FormPart>>(r)) << std::get<std::string>(r);
  auto& parts = std::get<std::vector<FormPart>>(r);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].name, "purpose");
  EXPECT_EQ(parts[0].data, "batch");
  EXPECT_EQ(parts[1].filename, "in.jsonl");
  EXPECT_EQ(parts[1].content_type, "application/jsonl");
  EXPECT_EQ(parts[1].data, "line1\r\nline2\n");
}

TEST(Multipart, MalformedBodiesAreErrors) {
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_multipart("no boundary here", "XX")));
  EXPECT_TRUE(std::holds_alternative<std::string>(
      parse_multipart("--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated", "XX")));
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_multipart("--XX\r\nno-headers-end", "XX")));
  EXPECT_TRUE(std::holds_alternative<std::string>(
      parse_multipart("--XX\r\nContent-Type: text/plain\r\n\r\nx\r\n--XX--", "XX")));
}

}  // namespace
}  // namespace kuai::jobs
