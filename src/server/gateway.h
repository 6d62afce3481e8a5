// The gateway application: config → Services → Dispatcher → Pipeline → http::Server with kuai's routes
// (see docs/ARCHITECTURE.md, "Gateway"). `kuai serve` is a thin CLI around it; tests build one
// in-process with their own stage registry.
// Thread-safety: create/listen/run/shutdown from one thread; stop() from any thread.
#pragma once

#include "flows/executor.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>

namespace kuai::config { class Config; }
namespace kuai::pipeline { class StageRegistry; class TokenCounter; }

namespace kuai::server {

// Builds the token counter the stages share (pipeline::Services::tokens) from the validated config;
// nullptr with `error` set on a bad tokenizer file. The app wires the engine's (app/token_counter.h).
using TokenCounterFactory =
    std::function<std::unique_ptr<pipeline::TokenCounter>(const config::Config& cfg, std::string& error)>;

class Gateway {
 public:
  // Builds everything from config (server.*, tenants, admin_key, models.*, pipeline, stages.*).
  // A bad config is an error message, never an exception. Without `tokens`, stages count tokens with
  // the per-script estimate.
  // Role::worker (`kuai worker`): the same models, stages and tenants, no HTTP listener; only job lines
  // run (from jobs.dir's store, or from RabbitMQ), then run_worker().
  enum class Role { serve, worker };
  static std::variant<std::unique_ptr<Gateway>, std::string> create(const config::Config& cfg,
                                                                    const pipeline::StageRegistry& stages,
                                                                    const TokenCounterFactory& tokens = {},
                                                                    Role role = Role::serve);
  ~Gateway();

  std::optional<std::string> listen();   // binds server.host:server.port
  uint16_t port() const;
  std::string host() const;
  // Serves until stop() (or a signal registered by stop_on_signals) has drained in-flight requests.
  void run();
  void stop();
  void stop_on_signals();  // SIGINT, SIGTERM → graceful stop

  // `kuai flow run`: runs one flow in this process (no listening socket), each step a live request of
  // an anonymous tenant, and returns when it finished (or nullopt when a signal stopped it). `on_event`
  // is called on the I/O thread. Call instead of listen()/run().
  std::optional<flows::RunResult> run_flow(const flows::Flow& flow, boost::json::object inputs,
                                           flows::EventFn on_event);
  // Role::worker: runs job lines until SIGINT/SIGTERM, then lets the running ones finish within
  // jobs.stop_grace_ms and hands the rest back to the queue. Call instead of listen()/run().
  void run_worker();
  bool has_model(std::string_view public_name) const;
  const flows::Flow* find_flow(std::string_view name) const;  // config flows and flows.dir

  struct State;

 private:
  Gateway();
  std::unique_ptr<State> state_;
};

}  // namespace kuai::server
