// LocalBackend over the real stories260K model, driven from an Asio io_context as the gateway does:
// completions equal the engine's greedy output, a disconnecting client frees its KV blocks at once,
// embeddings are normalised, bad requests get OpenAI errors.
#include "upstream/local_backend.h"

#include "api/error.h"
#include "api/parse.h"
#include "config/config.h"
#include "engine/sched/engine.h"
#include "engine/tokenizer/tokenizer.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <thread>
#include "support/paths.h"

namespace kuai::upstream {
namespace {

namespace net = boost::asio;

std::string model_path() {
  return kuai::test::shared_dir() + "/models/stories260K/stories260K.gguf";
}

std::shared_ptr<LocalBackend> backend() {
  engine::sched::EngineOptions eo;
  eo.kv_memory_bytes = 8ull << 20;
  eo.threads = 2;
  eo.max_batch_tokens = 64;
  LocalModelOptions lo;
  lo.name = "stories";
  lo.path = model_path();
  auto b = LocalBackend::load(lo, eo);
  if (auto* err = std::get_if<std::string>(&b)) {
    ADD_FAILURE() << *err;
    return nullptr;
  }
  return std::get<std::shared_ptr<LocalBackend>>(b);
}

// Runs a coroutine to completion on its own io_context (with 2 I/O threads, like the gateway).
template <typename T>
T run(net::awaitable<T> aw) {
  net::io_context io;
  auto fut = net::co_spawn(io, std::move(aw), net::use_future);
  std::thread t1([&] { io.run(); });
  std::thread t2([&] { io.run(); });
  t1.join();
  t2.join();
  return fut.get();
}

api::ChatRequest completion(std::string prompt, int max_tokens) {
  api::ChatRequest r;
  r.model = "stories";
  r.raw_prompt = prompt;
  api::Message m;
  m.role = "user";
  m.content = prompt;
  r.messages.push_back(m);
  r.max_tokens = max_tokens;
  r.temperature = 0.0;
  return r;
}

class CollectSink : public ChunkSink {
 public:
  explicit CollectSink(int stop_after = -1) : stop_after_(stop_after) {}
  net::awaitable<bool> on_chunk(const api::ChatChunk& c) override {
    chunks.push_back(c);
    text += c.delta;
    co_return stop_after_ < 0 || int(chunks.size()) < stop_after_;
  }
  std::vector<api::ChatChunk> chunks;
  std::string text;

 private:
  int stop_after_;
};

TEST(LocalBackend, CompleteAndStreamGiveTheSameGreedyText) {
  auto b = backend();
  ASSERT_TRUE(b);
  auto req = completion("Once upon a time", 40);
  api::ChatResponse resp = run(b->complete(req));
  ASSERT_EQ(resp.choices.size(), 1u);
  EXPECT_FALSE(resp.choices[0].content.empty());
  ASSERT_TRUE(resp.usage);
  EXPECT_GT(resp.usage->prompt_tokens, 1);
  EXPECT_LE(resp.usage->completion_tokens, 40);
  // The engine's own tokens, decoded, are the same text.
  CollectSink sink;
  req.stream = true;
  req.include_usage = true;
  run(b->stream(req, sink));
  EXPECT_EQ(sink.text, resp.choices[0].content);
  ASSERT_GE(sink.chunks.size(), 2u);
  EXPECT_TRUE(sink.chunks.back().usage.has_value());
  EXPECT_NE(sink.chunks.front().json.find("\"assistant\""), std::string::npos);
  bool finished = false;
  for (const auto& c : sink.chunks) finished |= c.finish_reason.has_value();
  EXPECT_TRUE(finished);
}

TEST(LocalBackend, StopStringCutsTheText) {
  auto b = backend();
  ASSERT_TRUE(b);
  auto req = completion("Once upon a time", 60);
  const std::string full = run(b->complete(req)).choices[0].content;
  ASSERT_GT(full.size(), 20u);
  const std::string stop = full.substr(10, 4);
  req.stop = {stop};
  const auto cut = run(b->complete(req));
  EXPECT_EQ(cut.choices[0].content, full.substr(0, full.find(stop)));
  EXPECT_EQ(cut.choices[0].finish_reason, "stop");
}

TEST(LocalBackend, DisconnectCancelsAndFreesBlocks) {
  auto b = backend();
  ASSERT_TRUE(b);
  CollectSink sink(3);  // the client goes away after 3 chunks
  auto req = completion("Once upon a time", 200);
  req.stream = true;
  run(b->stream(req, sink));
  EXPECT_EQ(sink.chunks.size(), 3u);
  engine::sched::EngineStats s;
  for (int i = 0; i < 1000; ++i) {  // the cancel lands before the engine's next step
    s = b->engine().stats();
    if (s.kv.pool.used_blocks == 0 && s.sched.running == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(s.kv.pool.used_blocks, 0);
  EXPECT_LT(s.tokens_generated, 100);  // it did not run on to max_tokens
}

TEST(LocalBackend, EmbeddingsAreNormalised) {
  auto b = backend();
  ASSERT_TRUE(b);
  api::EmbeddingRequest req;
  req.model = "stories";
  req.input = {"the cat sat", "a dog ran far away", "the cat sat"};
  api::Embeddings e = run(b->embed(req));
  ASSERT_EQ(e.data.size(), 3u);
  for (const auto& v : e.data) {
    double n = 0;
    for (float x : v) n += double(x) * x;
    EXPECT_NEAR(n, 1.0, 1e-5);
  }
  // The same text gives the same vector (up to float rounding: batch composition changes summation order).
  double same = 0, other = 0;
  for (size_t j = 0; j < e.data[0].size(); ++j) {
    same += double(e.data[0][j]) * e.data[2][j];
    other += double(e.data[0][j]) * e.data[1][j];
  }
  EXPECT_GT(same, 0.99999);
  EXPECT_LT(other, 0.999);
  EXPECT_GT(e.usage.prompt_tokens, 6);
}

// The api::Error a request gets (none: a failure naming `what`).
std::optional<api::Error> error_of(LocalBackend& b, api::ChatRequest req, const char* what) {
  try {
    run(b.complete(std::move(req)));
  } catch (const api::Error& e) {
    return e;
  }
  ADD_FAILURE() << "no error for " << what;
  return std::nullopt;
}

TEST(LocalBackend, BadRequestsGetOpenAiErrors) {
  auto b = backend();
  ASSERT_TRUE(b);
  std::string longp;
  for (int i = 0; i < 2000; ++i) longp += "cat ";
  if (auto e = error_of(*b, completion(longp, 5), "a prompt over the context")) {
    EXPECT_EQ(e->status(), 400);
    EXPECT_EQ(e->code(), "context_length_exceeded");
  }
  if (auto e = error_of(*b, completion("hello", 0), "max_tokens 0")) {
    EXPECT_EQ(e->status(), 400);
    EXPECT_EQ(e->param(), "max_tokens");
  }
  // A text-only engine refuses what it would silently get wrong: an image, a demanded tool call.
  const char* image = R"({"model":"stories","max_tokens":3,"messages":[{"role":"user","content":[
      {"type":"text","text":"What is in it?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AA=="}}]}]})";
  if (auto e = error_of(*b, api::parse_chat_request(image), "an image part")) {
    EXPECT_EQ(e->status(), 400);
    EXPECT_EQ(e->param(), "messages[0].content");
    EXPECT_NE(std::string(e->what()).find("image_url"), std::string::npos) << e->what();
  }
  const char* required = R"({"model":"stories","max_tokens":3,"tool_choice":"required","messages":[{"role":"user","content":"hi"}],
      "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]})";
  if (auto e = error_of(*b, api::parse_chat_request(required), "tool_choice required")) {
    EXPECT_EQ(e->status(), 400);
    EXPECT_EQ(e->param(), "tool_choice");
  }
  // Tools offered with tool_choice "auto": a text answer is a valid choice.
  const char* offered = R"({"model":"stories","max_tokens":3,"temperature":0,"messages":[{"role":"user","content":"hi"}],
      "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]})";
  EXPECT_EQ(run(b->complete(api::parse_chat_request(offered))).choices.size(), 1u);
}

TEST(LocalBackend, ChatUsesTheTemplateAndCompletionsTheRawPrompt) {
  engine::sched::EngineOptions eo;
  eo.kv_memory_bytes = 4ull << 20;
  eo.threads = 1;
  LocalModelOptions lo;
  lo.name = "stories";
  lo.path = model_path();
  lo.chat_template = "chatml";
  auto made = LocalBackend::load(lo, eo);
  ASSERT_TRUE(std::holds_alternative<std::shared_ptr<LocalBackend>>(made));
  auto b = std::get<std::shared_ptr<LocalBackend>>(made);
  api::ChatRequest chat;
  api::Message sys, user;
  sys.role = "system";
  sys.content = "Be brief.";
  user.role = "user";
  user.content = "Hello";
  chat.messages = {sys, user};
  const std::string p = b->render_prompt(chat);
  EXPECT_NE(p.find("<|im_start|>system\nBe brief."), std::string::npos) << p;
  EXPECT_NE(p.find("<|im_start|>user\nHello"), std::string::npos) << p;
  EXPECT_EQ(b->render_prompt(completion("Once upon", 5)), "Once upon");
  // stories260K has no template of its own: raw (contents one per line).
  auto plain = backend();
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->render_prompt(chat), "Be brief.\nHello");
  lo.chat_template = "no-such-family";
  auto bad = LocalBackend::load(lo, eo);
  ASSERT_TRUE(std::holds_alternative<std::string>(bad));
  EXPECT_NE(std::get<std::string>(bad).find("engine.chat_template"), std::string::npos);
}

TEST(LocalBackend, ConfigErrorsNameTheKey) {
  config::Config cfg;
  ASSERT_FALSE(config::Config::load_string("engine:\n  kv_memory: 12 bananas\n", cfg));
  auto o = engine_options_from_config(cfg);
  ASSERT_TRUE(std::holds_alternative<std::string>(o));
  EXPECT_NE(std::get<std::string>(o).find("engine.kv_memory"), std::string::npos);
  ASSERT_FALSE(config::Config::load_string("engine:\n  kv_memory: 64MiB\n  kv_type: q8_0\n  max_seqs: 8\n", cfg));
  auto ok = engine_options_from_config(cfg);
  ASSERT_TRUE(std::holds_alternative<engine::sched::EngineOptions>(ok));
  EXPECT_EQ(std::get<engine::sched::EngineOptions>(ok).kv_memory_bytes, 64ull << 20);
  EXPECT_EQ(std::get<engine::sched::EngineOptions>(ok).max_seqs, 8);
}

}  // namespace
}  // namespace kuai::upstream
