#include "http/sse_parser.h"

#include <gtest/gtest.h>

#include <random>

namespace kuai::http {
namespace {

std::vector<SseEvent> parse_all(std::string_view body) {
  SseParser p;
  std::vector<SseEvent> out;
  EXPECT_TRUE(p.feed(body, out));
  return out;
}

TEST(SseParser, DataEventsCommentsAndFields) {
  auto ev = parse_all(": keep-alive\n\ndata: {\"a\":1}\n\nevent: update\nid: 7\nretry: 300\ndata:x\n\n");
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].data, "{\"a\":1}");
  EXPECT_EQ(ev[0].event, "");
  EXPECT_EQ(ev[1].event, "update");
  EXPECT_EQ(ev[1].data, "x");  // no space after the colon: nothing stripped
  EXPECT_EQ(ev[1].id, "7");
  EXPECT_EQ(ev[1].retry_ms, 300);
}

TEST(SseParser, MultiLineDataJoinsWithNewline) {
  auto ev = parse_all("data: one\ndata: two\ndata\n\n");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].data, "one\ntwo\n");
}

TEST(SseParser, CrLfAndLoneCrEndLines) {
  auto ev = parse_all("data: a\r\n\r\ndata: b\r\rdata: c\n\n");
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].data, "a");
  EXPECT_EQ(ev[1].data, "b");
  EXPECT_EQ(ev[2].data, "c");
}

TEST(SseParser, CommentOnlyAndEmptyBlocksDispatchNothing) {
  SseParser p;
  std::vector<SseEvent> out;
  EXPECT_TRUE(p.feed(": ping\n\n: ping\n\n\n\nevent: x\n\n", out));
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(p.comments(), 2);
}

TEST(SseParser, LeadingBomIsSkipped) {
  auto ev = parse_all("\xEF\xBB\xBF" "data: hi\n\n");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].data, "hi");
}

TEST(SseParser, PartialEventIsReported) {
  SseParser p;
  std::vector<SseEvent> out;
  EXPECT_TRUE(p.feed("data: complete\n\ndata: cut", out));
  EXPECT_EQ(out.size(), 1u);
  EXPECT_TRUE(p.has_partial());
}

TEST(SseParser, OversizedEventFails) {
  SseParser p(64);
  std::vector<SseEvent> out;
  EXPECT_FALSE(p.feed("data: " + std::string(100, 'x') + "\n\n", out));
  EXPECT_FALSE(p.feed("data: y\n\n", out));  // stays failed
}

// Every way of cutting the bytes gives the events of the whole body.
TEST(SseParser, FuzzRandomSplitsMatchWholeParse) {
  std::mt19937 rng(42);
  const char* pieces[] = {"data: ", "{\"k\":\"v\"}", "\n", "\r\n", "\r", ": hb", "event: e", "id: 1", "data:", "你好",
                          "retry: 5", "\n\n", "\r\n\r\n", "x"};
  for (int round = 0; round < 300; ++round) {
    std::string body = round % 3 == 0 ? "\xEF\xBB\xBF" : "";
    int n = 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) body += pieces[rng() % (sizeof(pieces) / sizeof(pieces[0]))];
    body += "\n\n";
    SseParser whole;
    std::vector<SseEvent> expected;
    ASSERT_TRUE(whole.feed(body, expected));
    for (int split_round = 0; split_round < 5; ++split_round) {
      SseParser p;
      std::vector<SseEvent> got;
      size_t pos = 0;
      while (pos < body.size()) {
        size_t len = std::min(body.size() - pos, static_cast<size_t>(rng() % 7));
        ASSERT_TRUE(p.feed(std::string_view(body).substr(pos, len), got));
        pos += len;
      }
      ASSERT_EQ(got.size(), expected.size()) << body;
      for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].data, expected[i].data);
        EXPECT_EQ(got[i].event, expected[i].event);
        EXPECT_EQ(got[i].id, expected[i].id);
        EXPECT_EQ(got[i].retry_ms, expected[i].retry_ms);
      }
      EXPECT_EQ(p.comments(), whole.comments());
    }
  }
}

// Byte-by-byte feeding of a CRLF stream never sees a phantom blank line between CR and LF.
TEST(SseParser, CrLfSplitAcrossChunks) {
  SseParser p;
  std::vector<SseEvent> out;
  std::string body = "data: a\r\ndata: b\r\n\r\n";
  for (char c : body) ASSERT_TRUE(p.feed(std::string_view(&c, 1), out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].data, "a\nb");
}

}  // namespace
}  // namespace kuai::http
