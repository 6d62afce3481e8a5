// Integration fixture for the route and extract tests: two `kuai fake-upstream` processes (a "small"
// and a "large" model) and a `kuai serve` whose model table points at them, all on free loopback ports,
// all killed when the fixture goes away (even when a test fails).
#pragma once

#include "support/process.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>
#include "support/paths.h"

namespace kuai::stages::testing {

using kuai::test::source_dir;

struct FakeModel {
  std::unique_ptr<test::ChildProcess> proc;
  uint16_t port = 0;

  explicit FakeModel(const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"fake-upstream", "--port", "0"};
    args.insert(args.end(), extra.begin(), extra.end());
    proc = std::make_unique<test::ChildProcess>(test::kuai_bin(), args);
    port = proc->wait_listening();
    if (port == 0) throw std::runtime_error("fake-upstream did not start:\n" + proc->output());
  }
  boost::json::object stats() {
    test::HttpClient c(port);
    auto r = c.get("/stats");
    return boost::json::parse(r.body).as_object();
  }
  int64_t model_requests() { return stats().at("model_requests").to_number<int64_t>(); }
};

// `stages_yaml` is the YAML of the `pipeline:` and `stages:` keys (models are added here).
struct TwoModelGateway {
  FakeModel small, large;
  std::unique_ptr<test::KuaiProcess> gateway;
  std::string config_path;

  TwoModelGateway(const std::vector<std::string>& small_args, const std::vector<std::string>& large_args,
                  const std::string& stages_yaml)
      : small(small_args), large(large_args) {
    config_path = ::testing::TempDir() + "kuai_s3_" + std::to_string(::getpid()) + "_" +
                  std::to_string(small.port) + ".yaml";
    std::ofstream(config_path) << "models:\n"
                               << "  small: {backends: [{url: 'http://127.0.0.1:" << small.port << "/v1'}]}\n"
                               << "  large: {backends: [{url: 'http://127.0.0.1:" << large.port << "/v1'}]}\n"
                               << stages_yaml << "\n";
    gateway = std::make_unique<test::KuaiProcess>(
        std::vector<std::string>{"serve", "--config", config_path, "--port", "0"});
  }
  ~TwoModelGateway() { std::remove(config_path.c_str()); }

  test::HttpResponse chat(const std::string& text, const std::string& model = "large", bool stream = false,
                          const boost::json::object& extra = {}) {
    boost::json::object body = extra;
    body["model"] = model;
    body["messages"] = boost::json::array{boost::json::object{{"role", "user"}, {"content", text}}};
    if (stream) body["stream"] = true;
    test::HttpClient c(gateway->port, test::Ms(30000));
    return c.post("/v1/chat/completions", boost::json::serialize(body));
  }
};

inline std::string answer_text(const test::HttpResponse& r) {
  auto v = boost::json::parse(r.body);
  return std::string(v.at("choices").at(0).at("message").at("content").as_string());
}

}  // namespace kuai::stages::testing
