// A real RabbitMQ broker for tests: started once per test executable (by the first test that asks),
// as a child process on free loopback ports with its node name, database, logs and cookie in a
// temporary folder, no plugins; killed (process group) when the executable exits.
//   RabbitMq* mq = RabbitMq::shared();   // nullptr when rabbitmq-server is not installed: skip
//   mq->url()                             // amqp://guest:guest@127.0.0.1:PORT/%2f
// Tests sharing the broker keep apart by queue name (jobs.amqp_queue). Startup takes ~10-20 s.
#pragma once

#include "support/process.h"

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

namespace kuai::test {

class RabbitMq {
 public:
  static constexpr const char* kServer = "/usr/lib/rabbitmq/bin/rabbitmq-server";

  // The broker of this executable, started on first use; nullptr when the server is not installed
  // (a broker that is installed but does not start throws, so the test fails with its log).
  static RabbitMq* shared() {
    if (!std::filesystem::exists(kServer)) return nullptr;
    static std::unique_ptr<RabbitMq> mq(new RabbitMq());
    return mq.get();
  }

  uint16_t port() const { return port_; }
  std::string url() const { return "amqp://guest:guest@127.0.0.1:" + std::to_string(port_) + "/%2f"; }
  std::string log() const { return proc_.output(); }

  ~RabbitMq() {
    proc_.kill();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

 private:
  RabbitMq() {
    port_ = free_port();
    uint16_t dist = free_port();
    dir_ = "/tmp/kuai-rabbitmq-" + std::to_string(::getpid()) + "-" + std::to_string(port_);
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ + "/enabled_plugins") << "[].\n";
    std::ofstream(dir_ + "/rabbitmq.conf") << "";
    std::string node = "kuaitest" + std::to_string(::getpid()) + "x" + std::to_string(port_) + "@localhost";
    proc_.start("/usr/bin/env",
                {"HOME=" + dir_, "RABBITMQ_NODENAME=" + node, "RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
                 "RABBITMQ_NODE_PORT=" + std::to_string(port_), "RABBITMQ_DIST_PORT=" + std::to_string(dist),
                 "RABBITMQ_MNESIA_BASE=" + dir_ + "/mnesia", "RABBITMQ_LOG_BASE=" + dir_ + "/log",
                 "RABBITMQ_ENABLED_PLUGINS_FILE=" + dir_ + "/enabled_plugins",
                 "RABBITMQ_CONFIG_FILE=" + dir_ + "/rabbitmq", "RABBITMQ_ADVANCED_CONFIG_FILE=" + dir_ + "/advanced.config",
                 "RABBITMQ_PID_FILE=" + dir_ + "/pid",
                 "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}", kServer});
    // The AMQP listener opens last, when the broker is ready.
    if (!wait_for_port(port_, Ms(120000)))
      throw std::runtime_error("rabbitmq-server did not open port " + std::to_string(port_) + ":\n" + proc_.output());
  }

  ChildProcess proc_;
  uint16_t port_ = 0;
  std::string dir_;
};

}  // namespace kuai::test
