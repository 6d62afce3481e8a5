// The gateway application: config → Services → Dispatcher → Pipeline → http::Server with kuai's routes
// (see docs/ARCHITECTURE.md, "Gateway"). `kuai serve` is a thin CLI around it; tests build one
// in-process with their own stage registry.
// Thread-safety: create/listen/run/shutdown from one thread; stop() from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>

namespace kuai::config { class Config; }
namespace kuai::pipeline { class StageRegistry; }

namespace kuai::server {

class Gateway {
 public:
  // Builds everything from config (server.*, tenants, admin_key, models.*, pipeline, stages.*).
  // A bad config is an error message, never an exception.
  static std::variant<std::unique_ptr<Gateway>, std::string> create(const config::Config& cfg,
                                                                    const pipeline::StageRegistry& stages);
  ~Gateway();

  std::optional<std::string> listen();   // binds server.host:server.port
  uint16_t port() const;
  std::string host() const;
  // Serves until stop() (or a signal registered by stop_on_signals) has drained in-flight requests.
  void run();
  void stop();
  void stop_on_signals();  // SIGINT, SIGTERM → graceful stop

  struct State;

 private:
  Gateway();
  std::unique_ptr<State> state_;
};

}  // namespace kuai::server
