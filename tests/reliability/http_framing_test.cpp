// Reliability (issue 14, B2 and B9): request framing that could smuggle a second request is refused
// and the connection closed; an HTTP/1.0 client gets a close-delimited stream without chunking.
#include "support/gateway_procs.h"

#include <gtest/gtest.h>

using namespace kuai::test;

namespace {

// Sends `raw`, reads until the server closes (or 5 s pass), returns everything it answered.
std::string send_and_read(uint16_t port, const std::string& raw, bool* closed = nullptr) {
  RawConnection conn(port);
  EXPECT_TRUE(conn.send_all(raw));
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + Ms(5000);
  bool was_closed = false;
  while (!was_closed && std::chrono::steady_clock::now() < deadline) was_closed = conn.recv_some(got, Ms(500)) == 0;
  if (closed) *closed = was_closed;
  return got;
}

int count_responses(const std::string& text) {
  int n = 0;
  for (size_t p = text.find("HTTP/1."); p != std::string::npos; p = text.find("HTTP/1.", p + 1)) ++n;
  return n;
}

}  // namespace

TEST(HttpFraming, TransferEncodingThatCouldSmuggleIsRefusedAndCloses) {
  Fake fake({});
  Serve serve({"--upstream", fake.url()});
  const std::string smuggled = "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n";
  struct Case {
    const char* name;
    std::string framing;
  };
  const Case cases[] = {
      {"gzip", "Transfer-Encoding: gzip\r\n"},
      {"identity", "Transfer-Encoding: identity\r\n"},
      {"chunked, gzip", "Transfer-Encoding: chunked, gzip\r\n"},
      {"gzip with Content-Length", "Transfer-Encoding: gzip\r\nContent-Length: " + std::to_string(smuggled.size()) + "\r\n"},
      {"xchunked with Content-Length", "Transfer-Encoding: xchunked\r\nContent-Length: " + std::to_string(smuggled.size()) + "\r\n"},
      {"chunked with Content-Length", "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"},
  };
  for (const auto& c : cases) {
    bool closed = false;
    std::string got = send_and_read(serve.port, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
                                               c.framing + "\r\n" + smuggled,
                               &closed);
    EXPECT_EQ(count_responses(got), 1) << c.name << ": " << got;
    EXPECT_TRUE(got.rfind("HTTP/1.1 400", 0) == 0 || got.rfind("HTTP/1.1 501", 0) == 0) << c.name << ": " << got;
    EXPECT_EQ(got.find("\"object\":\"list\""), std::string::npos) << c.name << ": the smuggled request was answered";
    EXPECT_NE(got.find("\"error\""), std::string::npos) << c.name << ": " << got;
    EXPECT_TRUE(closed) << c.name;
  }
  serve.expect_healthy();
}

TEST(HttpFraming, ChunkedRequestBodiesStillWork) {
  Fake fake({});
  Serve serve({"--upstream", fake.url()});
  const std::string body = R"({"model":"m","messages":[{"role":"user","content":"hi"}]})";
  char size[16];
  std::snprintf(size, sizeof size, "%zx", body.size());
  std::string got = send_and_read(serve.port, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                         "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
                                             std::string(size) + "\r\n" + body + "\r\n0\r\n\r\n");
  EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got;
}

TEST(HttpFraming, Http10StreamIsCloseDelimitedWithoutChunks) {
  Fake fake({"--answer-tokens", "5"});
  Serve serve({"--upstream", fake.url()});
  const std::string body = R"({"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]})";
  bool closed = false;
  std::string got = send_and_read(serve.port, "POST /v1/chat/completions HTTP/1.0\r\nContent-Type: application/json\r\n"
                                         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body,
                             &closed);
  auto head_end = got.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos) << got;
  std::string head = lower(got.substr(0, head_end));
  std::string payload = got.substr(head_end + 4);
  EXPECT_EQ(head.rfind("http/1.0 200", 0), 0u) << head;
  EXPECT_EQ(head.find("transfer-encoding"), std::string::npos) << head;
  EXPECT_EQ(head.find("trailer"), std::string::npos) << head;
  EXPECT_EQ(payload.rfind("data: ", 0), 0u) << "chunk-size lines inside the SSE: " << payload;
  EXPECT_NE(payload.find("data: [DONE]"), std::string::npos) << payload;
  EXPECT_TRUE(closed);
}
