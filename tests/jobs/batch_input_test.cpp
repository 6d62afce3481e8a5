// Batch input validation: every structural fault names its line; bodies are not judged here.
#include "jobs/batch_input.h"

#include <gtest/gtest.h>

namespace kuai::jobs {
namespace {

constexpr std::string_view kChat = "/v1/chat/completions";

std::string line(std::string_view id, std::string_view url = kChat) {
  return R"({"custom_id":")" + std::string(id) + R"(","method":"POST","url":")" + std::string(url) +
         R"(","body":{"model":"m","messages":[]}})" + "\n";
}

TEST(BatchInput, GoodLinesKeepTheirBodyAndBlankLinesAreSkipped) {
  auto in = parse_batch_input(line("a") + "\n" + line("b"), kChat, 10);
  ASSERT_TRUE(in.errors.empty()) << in.errors[0].message;
  ASSERT_EQ(in.lines.size(), 2u);
  EXPECT_EQ(in.lines[1].custom_id, "b");
  EXPECT_EQ(in.lines[0].body, R"({"model":"m","messages":[]})");
}

TEST(BatchInput, EachFaultNamesItsLine) {
  std::string file = line("a") + "{not json\n" + line("b", "/v1/images") + line("c", "/v1/embeddings") + line("a") +
                     R"({"custom_id":"d","method":"GET","url":"/v1/chat/completions","body":{}})" "\n" +
                     R"({"method":"POST","url":"/v1/chat/completions","body":{}})" "\n" +
                     R"({"custom_id":"e","method":"POST","url":"/v1/chat/completions","body":[]})" "\n";
  auto in = parse_batch_input(file, kChat, 100);
  ASSERT_EQ(in.errors.size(), 7u);
  std::vector<std::pair<int64_t, std::string>> want{{2, "invalid_json_line"}, {3, "invalid_url"},
                                                    {4, "mismatched_url"},    {5, "duplicate_custom_id"},
                                                    {6, "invalid_method"},    {7, "missing_required_parameter"},
                                                    {8, "invalid_body"}};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(in.errors[i].line, want[i].first) << i;
    EXPECT_EQ(in.errors[i].code, want[i].second) << i;
  }
}

TEST(BatchInput, TooManyLinesAndEmptyFiles) {
  auto in = parse_batch_input(line("a") + line("b") + line("c"), kChat, 2);
  ASSERT_EQ(in.errors.size(), 1u);
  EXPECT_EQ(in.errors[0].code, "too_many_lines");
  EXPECT_EQ(in.errors[0].line, 3);
  auto empty = parse_batch_input("\n\n", kChat, 2);
  ASSERT_EQ(empty.errors.size(), 1u);
  EXPECT_EQ(empty.errors[0].code, "empty_file");
}

}  // namespace
}  // namespace kuai::jobs
