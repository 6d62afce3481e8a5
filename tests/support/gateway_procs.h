// Test helpers for the real gateway: `kuai fake-upstream` (Fake) and `kuai serve` (Serve) as child
// processes on free loopback ports, OpenAI error-body checks, and polling with a deadline.
#pragma once

#include "support/process.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace kuai::test {

inline boost::json::object parse_obj(const std::string& s) {
  boost::system::error_code ec;
  auto v = boost::json::parse(s, ec);
  if (ec || !v.is_object()) {
    ADD_FAILURE() << "not a JSON object: " << s;
    return {};
  }
  return v.as_object();
}

// Asserts an OpenAI error body: {"error": {"message", "type", "param", "code"}}.
inline boost::json::object expect_error(const HttpResponse& r, int status) {
  EXPECT_EQ(r.status, status) << r.body;
  auto o = parse_obj(r.body);
  auto* e = o.if_contains("error");
  EXPECT_TRUE(e && e->is_object()) << r.body;
  if (!e || !e->is_object()) return {};
  auto& err = e->as_object();
  EXPECT_TRUE(err.contains("message") && err.at("message").is_string());
  EXPECT_TRUE(err.contains("type"));
  EXPECT_TRUE(err.contains("param"));
  EXPECT_TRUE(err.contains("code"));
  return err;
}

struct Fake {
  ChildProcess proc;
  uint16_t port = 0;
  explicit Fake(std::vector<std::string> args) {
    std::vector<std::string> all{"fake-upstream", "--port", "0"};
    all.insert(all.end(), args.begin(), args.end());
    proc.start(kuai_bin(), all);
    port = proc.wait_listening();
    if (port == 0) throw std::runtime_error("fake-upstream did not start:\n" + proc.output());
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
  boost::json::object stats() {
    HttpClient c(port);
    return parse_obj(c.get("/stats").body);
  }
};

struct Serve {
  ChildProcess proc;
  uint16_t port = 0;
  explicit Serve(std::vector<std::string> args) {
    std::vector<std::string> all{"serve", "--port", "0", "--threads", "2"};
    all.insert(all.end(), args.begin(), args.end());
    proc.start(kuai_bin(), all);
    port = proc.wait_listening();
    if (port == 0) throw std::runtime_error("kuai serve did not start:\n" + proc.output());
  }
  void expect_healthy() {
    HttpClient c(port);
    auto r = c.get("/healthz");
    EXPECT_EQ(r.status, 200) << proc.output();
  }
};

inline bool wait_until(const std::function<bool()>& pred, Ms timeout = Ms(10000)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(Ms(10));
  }
  return pred();
}

}  // namespace kuai::test
