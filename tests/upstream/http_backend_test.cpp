// HttpBackend against `kuai fake-upstream`: what goes on the wire (model substituted, Authorization,
// unknown fields untouched), stream pass-through, and each upstream failure as the right api::Error.
#include "upstream/http_backend.h"

#include "http/client.h"
#include "upstream_fixture.h"

namespace kuai::upstream {
namespace {
using namespace testing;

std::shared_ptr<HttpBackend> backend(uint16_t port, std::string model = "upstream-model", std::string key = "sk-test",
                                     std::chrono::milliseconds first_token = std::chrono::milliseconds(10000)) {
  HttpBackendOptions o;
  o.url = base_url(port) + "/v1/";
  o.model = std::move(model);
  o.api_key = std::move(key);
  o.first_token_timeout = first_token;
  return std::make_shared<HttpBackend>(std::make_shared<http::Client>(), o);
}

TEST(HttpBackend, SubstitutesModelAddsKeyAndPassesUnknownFields) {
  auto fu = fake();
  auto b = backend(fu.port);
  auto req = chat("public-name");
  req.raw["custom_field"] = json::object{{"nested", json::array{1, 2}}};
  req.raw["temperature"] = 0.25;
  auto resp = run<api::ChatResponse>([&]() { return b->complete(req); });
  EXPECT_FALSE(resp.text().empty());
  ASSERT_TRUE(resp.usage.has_value());
  EXPECT_EQ(resp.usage->prompt_tokens, 2);
  auto s = fake_stats(fu.port);
  EXPECT_EQ(s.at("last_authorization").as_string(), "Bearer sk-test");
  auto sent = json::parse(s.at("last_body").as_string()).as_object();
  EXPECT_EQ(sent.at("model").as_string(), "upstream-model");
  EXPECT_EQ(sent.at("custom_field"), (json::value(json::object{{"nested", json::array{1, 2}}})));
  EXPECT_EQ(sent.at("temperature").as_double(), 0.25);
  EXPECT_FALSE(sent.contains("stream"));
}

TEST(HttpBackend, EmptyModelKeepsTheRequestsAndNoKeyNoHeader) {
  auto fu = fake();
  auto b = backend(fu.port, "", "");
  run<api::ChatResponse>([&]() { return complete_owned(b, chat("as-sent")); });
  auto s = fake_stats(fu.port);
  EXPECT_EQ(s.at("last_authorization").as_string(), "");
  EXPECT_EQ(s.at("by_model").at("as-sent").as_int64(), 1);
}

TEST(HttpBackend, StreamPassesChunksThroughUntouched) {
  auto fu = fake({"--answer-tokens", "6"});
  auto b = backend(fu.port);
  RecordingSink sink;
  auto req = chat("m", "hi", true);
  req.include_usage = true;
  req.raw["stream_options"] = json::object{{"include_usage", true}};
  run<int>([&]() -> asio::awaitable<int> {
    co_await b->stream(req, sink);
    co_return 0;
  });
  ASSERT_EQ(sink.chunks.size(), 1u + 6u + 1u + 1u);  // role, tokens, finish, usage ([DONE] is not a chunk)
  EXPECT_EQ(json::parse(sink.chunks[1].json).at("object").as_string(), "chat.completion.chunk");
  EXPECT_EQ(json::parse(sink.chunks[1].json).at("model").as_string(), "upstream-model");
  EXPECT_EQ(sink.chunks[7].finish_reason, "stop");
  ASSERT_TRUE(sink.chunks[8].usage.has_value());
  EXPECT_EQ(sink.chunks[8].usage->completion_tokens, 6);
  // Same text as the non-stream answer for the same request.
  auto whole = run<api::ChatResponse>([&]() { return complete_owned(b, chat("m", "hi")); });
  EXPECT_EQ(sink.text(), whole.text());
}

TEST(HttpBackend, DeadUpstreamIs503) {
  auto b = backend(test::free_port());
  auto e = error_of([&] { run<api::ChatResponse>([&]() { return complete_owned(b, chat("m")); }); });
  EXPECT_EQ(e.status(), 503);
  EXPECT_EQ(e.code(), "upstream_unreachable");
}

TEST(HttpBackend, GarbageIs502) {
  auto fu = fake({"--garbage"});
  auto b = backend(fu.port);
  EXPECT_EQ(error_of([&] { run<api::ChatResponse>([&]() { return complete_owned(b, chat("m")); }); }).status(), 502);
  RecordingSink sink;
  auto e = error_of([&] {
    run<int>([&]() -> asio::awaitable<int> {
      auto req = chat("m", "x", true);
    co_await b->stream(req, sink);
      co_return 0;
    });
  });
  EXPECT_EQ(e.status(), 502);
  EXPECT_TRUE(sink.chunks.empty());
}

TEST(HttpBackend, ForwardedAnswerIsTheUpstreamsBytesCheckedNotParsed) {
  auto fu = fake();
  auto b = backend(fu.port);
  auto parsed = run<api::ChatResponse>([&]() { return complete_owned(b, chat("m", "same question")); });
  auto req = chat("m", "same question");
  req.forward_answer_bytes = true;
  auto fwd = run<api::ChatResponse>([&]() { return complete_owned(b, req); });
  auto body = json::parse(fwd.wire_body).as_object();  // the upstream's answer as it came (fields kuai never models)
  EXPECT_EQ(body.at("choices").at(0).at("message").at("content").as_string(), parsed.text());
  EXPECT_EQ(body.at("system_fingerprint").as_string(), parsed.raw.at("system_fingerprint").as_string());
  EXPECT_TRUE(fwd.choices.empty());  // nothing was built
  auto g = fake({"--garbage"});
  auto gb = backend(g.port);
  auto e = error_of([&] { run<api::ChatResponse>([&]() { return complete_owned(gb, req); }); });
  EXPECT_EQ(e.status(), 502);
  EXPECT_EQ(e.code(), "bad_upstream_response");
}

TEST(HttpBackend, CutStreamIsAnErrorAfterTheChunksSoFar) {
  auto fu = fake({"--cut-stream-after", "3", "--answer-tokens", "10"});
  auto b = backend(fu.port);
  RecordingSink sink;
  auto e = error_of([&] {
    run<int>([&]() -> asio::awaitable<int> {
      auto req = chat("m", "x", true);
    co_await b->stream(req, sink);
      co_return 0;
    });
  });
  EXPECT_EQ(e.status(), 502);
  EXPECT_EQ(sink.chunks.size(), 4u);  // role + 3 tokens, then the cut
}

TEST(HttpBackend, UpstreamErrorsMapToStatuses) {
  auto f500 = fake({"--error-rate", "1"});
  EXPECT_EQ(error_of([&] { run<api::ChatResponse>([&]() { return complete_owned(backend(f500.port), chat("m")); }); }).status(), 502);
  auto f429 = fake({"--rate-limit-every", "1", "--retry-after-s", "2"});
  auto e = error_of([&] { run<api::ChatResponse>([&]() { return complete_owned(backend(f429.port), chat("m")); }); });
  EXPECT_EQ(e.status(), 429);
  EXPECT_EQ(e.retry_after_ms, 2000);
  auto ok = fake();
  auto b = backend(ok.port);
  api::EmbeddingRequest r;  // no input: the upstream says 400, and that is the client's fault
  r.model = "m";
  auto bad = error_of([&] { run<api::Embeddings>([&]() { return b->embed(r); }); });
  EXPECT_EQ(bad.status(), 400);
}

TEST(HttpBackend, FirstTokenTimeoutIs504) {
  auto fu = fake({"--ttft-ms", "3000"});
  auto b = backend(fu.port, "m", "", std::chrono::milliseconds(150));
  EXPECT_EQ(error_of([&] { run<api::ChatResponse>([&]() { return complete_owned(b, chat("m")); }); }).status(), 504);
  RecordingSink sink;
  EXPECT_EQ(error_of([&] {
              run<int>([&]() -> asio::awaitable<int> {
                auto req = chat("m", "x", true);
    co_await b->stream(req, sink);
                co_return 0;
              });
            }).status(),
            504);
}

TEST(HttpBackend, ClientGoneClosesTheUpstreamStream) {
  auto fu = fake({"--answer-tokens", "40", "--tokens-per-s", "20"});
  auto b = backend(fu.port);
  RecordingSink sink(2);  // the "client" leaves after two chunks
  run<int>([&]() -> asio::awaitable<int> {
    auto req = chat("m", "x", true);
    co_await b->stream(req, sink);
    co_return 0;
  });
  EXPECT_EQ(sink.chunks.size(), 2u);
  EXPECT_TRUE(wait_stat(fu.port, "streams_aborted", 1));
  EXPECT_EQ(fake_stats(fu.port).at("streams_completed").as_int64(), 0);
}

TEST(HttpBackend, Embeddings) {
  auto fu = fake({"--embedding-dim", "8"});
  auto b = backend(fu.port, "embed-model");
  api::EmbeddingRequest req;
  req.model = "public-embed";
  req.input = {"one", "two words"};
  auto e = run<api::Embeddings>([&]() { return b->embed(req); });
  ASSERT_EQ(e.data.size(), 2u);
  EXPECT_EQ(e.data[0].size(), 8u);
  EXPECT_EQ(e.usage.prompt_tokens, 3);
  EXPECT_EQ(fake_stats(fu.port).at("by_model").at("embed-model").as_int64(), 1);
}

TEST(HttpBackend, EndpointJoinsBaseUrls) {
  auto c = std::make_shared<http::Client>();
  auto at = [&](std::string url, std::string_view path) {
    HttpBackendOptions o;
    o.url = std::move(url);
    return HttpBackend(c, o).endpoint(path);
  };
  EXPECT_EQ(at("http://h:1", "chat/completions"), "http://h:1/v1/chat/completions");
  EXPECT_EQ(at("http://h:1/v1/", "embeddings"), "http://h:1/v1/embeddings");
  EXPECT_EQ(at("https://h/openai/v1", "models"), "https://h/openai/v1/models");
}

}  // namespace
}  // namespace kuai::upstream
