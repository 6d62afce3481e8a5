// Reliability (issue 14, B8 and B10): a client's Close mid-stream stops the answer, cancels the upstream
// call and is answered; an idle WebSocket is closed; a bad handshake gets an OpenAI JSON error.
#include "support/gateway_procs.h"

#include <gtest/gtest.h>

using namespace kuai::test;

namespace {

const char* kChat = R"({"model":"m","messages":[{"role":"user","content":"Tell me a long story"}]})";

}  // namespace

TEST(WebSocketLifecycle, ClientCloseMidStreamCancelsTheUpstreamAndIsAnswered) {
  Fake fake({"--tokens-per-s", "50", "--answer-tokens", "500"});
  Serve serve({"--upstream", fake.url()});
  WsClient ws;
  ASSERT_EQ(ws.connect(serve.port, "/v1/chat/ws"), 101);
  ASSERT_TRUE(ws.send_text(kChat));
  ASSERT_TRUE(ws.recv_text().has_value());
  ASSERT_TRUE(ws.recv_text().has_value());  // the answer is streaming
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(ws.send_close());
  int after = 0;
  while (ws.recv_text()) ++after;
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE(ws.got_close()) << "no Close frame came back";
  EXPECT_LT(took, 1.0);
  EXPECT_LT(after, 25) << "frames kept coming after the client's Close";
  EXPECT_TRUE(wait_until([&] {
    auto st = fake.stats();
    auto* a = st.if_contains("streams_aborted");
    return a && a->to_number<int64_t>() >= 1;
  })) << "the upstream stream ran on";
  serve.expect_healthy();
}

TEST(WebSocketLifecycle, IdleSocketIsClosed) {
  Fake fake({});
  Serve serve({"--upstream", fake.url(), "--set", "server.ws_idle_timeout_ms=500"});
  WsClient ws;
  ASSERT_EQ(ws.connect(serve.port, "/v1/chat/ws"), 101);
  // One exchange works, then silence closes the socket.
  ASSERT_TRUE(ws.send_text(kChat));
  std::optional<std::string> msg;
  while ((msg = ws.recv_text()) && msg->find("kuai.done") == std::string::npos) {}
  ASSERT_TRUE(msg.has_value());
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(ws.recv_text().has_value());
  EXPECT_TRUE(ws.got_close()) << "the idle socket was not closed with a Close frame";
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GT(took, 0.3);
  EXPECT_LT(took, 2.0);
}

TEST(WebSocketLifecycle, BadHandshakeIsAnOpenAiJsonError) {
  Fake fake({});
  Serve serve({"--upstream", fake.url()});
  RawConnection conn(serve.port);
  ASSERT_TRUE(conn.send_all("GET /v1/chat/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                            "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"));
  std::string got;
  while (conn.recv_some(got, Ms(3000)) > 0) {}
  EXPECT_EQ(got.rfind("HTTP/1.1 400", 0), 0u) << got;
  auto body = got.substr(got.find("\r\n\r\n") + 4);
  auto o = parse_obj(body);
  EXPECT_TRUE(o.contains("error")) << got;
}
