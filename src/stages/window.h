// Stage `window`: context window (rules in window_plan.h). Drops the oldest non-system messages that
// fall outside `max_turns` / `max_tokens`, counting tokens with Services::tokens (the counter the app
// wires: the model's tokenizer when known, from `stages.window.tokenizers` and `engine.models`) or, when
// the gateway lends none, the per-script estimate. Adds the removed tokens to ctx.tokens_saved and reports
//   header  x-kuai-window: kept=K; dropped=D; tokens=T[; over_budget]
//   metrics kuai_window_dropped_messages_total, kuai_window_tokens_saved_total
//   admin   GET /v1/admin/stages/window/last → the last request's audit (JSON): request_id, tokens
//           before/after, over_budget, and every message with its index (in the request the window
//           saw), role, tokens and whether it was kept or dropped
// Thread-safety: on_request from any I/O thread; the only state is the last request's audit (locked).
#pragma once

#include "pipeline/pipeline.h"
#include "stages/token_counter.h"
#include "stages/window_plan.h"

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace kuai::stages {

// Reads a window policy from a `stages.window`-shaped node; empty string on success.
std::string read_window_policy(const YAML::Node& cfg, WindowPolicy& policy);

class WindowStage : public pipeline::Stage {
 public:
  WindowStage(WindowPolicy policy, std::unique_ptr<DefaultTokenCounter> own_counter, pipeline::Services& services);
  std::string_view name() const override { return "window"; }
  boost::asio::awaitable<pipeline::Verdict> on_request(pipeline::Context& ctx) override;
  std::optional<pipeline::AdminReply> on_admin(std::string_view method, std::string_view path,
                                               std::string_view body) override;

  // The synchronous body of on_request (also used by benchmarks).
  void window_request(pipeline::Context& ctx);
  const pipeline::TokenCounter& counter() const;

 private:
  WindowPolicy policy_;
  std::unique_ptr<DefaultTokenCounter> own_counter_;
  pipeline::Services& services_;
  struct Last {
    std::string request_id;
    std::string roles;              // one letter per message: s(ystem) d(eveloper) u(ser) a(ssistant) t(ool) o(ther)
    std::vector<int64_t> tokens;    // per message
    std::vector<uint8_t> dropped;   // per message
    int64_t tokens_before = 0, tokens_after = 0;
    bool over_budget = false;
  };
  std::mutex last_mu_;
  Last last_;
};

std::unique_ptr<pipeline::Stage> make_window_stage(const YAML::Node& cfg, pipeline::Services& services, std::string& error);

}  // namespace kuai::stages
