// Shared helpers of the upstream tests: fake upstream processes, a Dispatcher from YAML, running
// coroutines to completion on one io_context, and a ChunkSink that records what it got.
#pragma once

#include "api/error.h"
#include "config/config.h"
#include "obs/metrics.h"
#include "support/process.h"
#include "upstream/dispatcher.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kuai::upstream::testing {

namespace asio = boost::asio;
namespace json = boost::json;

inline asio::io_context& io() {
  static asio::io_context ioc;  // outlives every client and pooled socket of the test program
  return ioc;
}

template <class T>
T run(std::function<asio::awaitable<T>()> f) {
  auto& ioc = io();
  ioc.restart();
  std::optional<T> out;
  std::exception_ptr error;
  asio::co_spawn(ioc, f(), [&](std::exception_ptr e, T v) {
    error = e;
    if (!e) out = std::move(v);
  });
  ioc.run();
  if (error) std::rethrow_exception(error);
  return std::move(*out);
}

inline test::KuaiProcess fake(std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"fake-upstream", "--port", "0"};
  args.insert(args.end(), extra.begin(), extra.end());
  return test::KuaiProcess(args);
}

inline std::string base_url(uint16_t port) { return "http://127.0.0.1:" + std::to_string(port); }

inline json::object fake_stats(uint16_t port) {
  test::HttpClient c(port);
  return json::parse(c.get("/stats").body).as_object();
}
inline int64_t model_requests(uint16_t port) { return fake_stats(port).at("model_requests").as_int64(); }

inline bool wait_stat(uint16_t port, const char* key, int64_t want, int tries = 400) {
  for (int i = 0; i < tries; ++i) {
    if (fake_stats(port).at(key).as_int64() >= want) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

inline std::unique_ptr<Dispatcher> dispatcher(const std::string& yaml, obs::Metrics* metrics = nullptr) {
  config::Config cfg;
  auto err = config::Config::load_string(yaml, cfg);
  EXPECT_FALSE(err.has_value()) << *err;
  auto r = Dispatcher::from_config(cfg, io().get_executor(), metrics);
  if (auto* msg = std::get_if<std::string>(&r)) {
    ADD_FAILURE() << *msg;
    return nullptr;
  }
  return std::move(std::get<std::unique_ptr<Dispatcher>>(r));
}

inline api::ChatRequest chat(std::string model, std::string content = "hello there", bool stream = false) {
  api::ChatRequest r;
  r.model = std::move(model);
  api::Message m;
  m.role = "user";
  m.content = std::move(content);
  r.messages.push_back(std::move(m));
  r.stream = stream;
  return r;
}

// Coroutines that own their arguments (a coroutine keeps references, so temporaries would dangle).
// (Arguments go through a shared_ptr: g++ 12 mishandles non-trivial by-value coroutine parameters.)
inline asio::awaitable<api::ChatResponse> complete_shared(std::shared_ptr<Backend> b,
                                                          std::shared_ptr<api::ChatRequest> req) {
  co_return co_await b->complete(*req);
}
inline asio::awaitable<api::ChatResponse> complete_shared(Dispatcher* d, std::shared_ptr<api::ChatRequest> req,
                                                          const api::Tenant* tenant) {
  co_return co_await d->complete(*req, tenant);
}
inline asio::awaitable<api::ChatResponse> complete_owned(std::shared_ptr<Backend> b, api::ChatRequest req) {
  return complete_shared(std::move(b), std::make_shared<api::ChatRequest>(std::move(req)));
}
inline asio::awaitable<api::ChatResponse> complete_owned(Dispatcher& d, api::ChatRequest req,
                                                         const api::Tenant* tenant = nullptr) {
  return complete_shared(&d, std::make_shared<api::ChatRequest>(std::move(req)), tenant);
}

class RecordingSink : public ChunkSink {
 public:
  explicit RecordingSink(int stop_after = -1) : stop_after_(stop_after) {}
  asio::awaitable<bool> on_chunk(const api::ChatChunk& c) override {
    chunks.push_back(c);
    co_return stop_after_ < 0 || static_cast<int>(chunks.size()) < stop_after_;
  }
  std::string text() const {
    std::string t;
    for (const auto& c : chunks) t += c.delta;
    return t;
  }
  std::vector<api::ChatChunk> chunks;

 private:
  int stop_after_;
};

// The api::Error a call throws (status 0 when none).
inline api::Error error_of(std::function<void()> f) {
  try {
    f();
  } catch (const api::Error& e) {
    return e;
  }
  return api::Error(0, "none", "no error");
}

}  // namespace kuai::upstream::testing
