// Stage `window`: context window (rules in window_plan.h). Drops the oldest non-system messages that
// fall outside `max_turns` / `max_tokens`, counting tokens with Services::tokens (the counter the app
// wires: the model's tokenizer when known, from `stages.window.tokenizers` and `engine.models`) or, when
// the gateway lends none, the per-script estimate. Adds the removed tokens to ctx.tokens_saved and reports
//   header  x-kuai-window: kept=K; dropped=D; tokens=T[; over_budget]
//   metrics kuai_window_dropped_messages_total, kuai_window_tokens_saved_total
// Thread-safety: on_request from any I/O thread; the stage holds no per-request state.
#pragma once

#include "pipeline/pipeline.h"
#include "stages/token_counter.h"
#include "stages/window_plan.h"

#include <memory>
#include <string>

namespace kuai::stages {

// Reads a window policy from a `stages.window`-shaped node; empty string on success.
std::string read_window_policy(const YAML::Node& cfg, WindowPolicy& policy);

class WindowStage : public pipeline::Stage {
 public:
  WindowStage(WindowPolicy policy, std::unique_ptr<DefaultTokenCounter> own_counter, pipeline::Services& services);
  std::string_view name() const override { return "window"; }
  boost::asio::awaitable<pipeline::Verdict> on_request(pipeline::Context& ctx) override;

  // The synchronous body of on_request (also used by benchmarks).
  void window_request(pipeline::Context& ctx);
  const pipeline::TokenCounter& counter() const;

 private:
  WindowPolicy policy_;
  std::unique_ptr<DefaultTokenCounter> own_counter_;
  pipeline::Services& services_;
};

std::unique_ptr<pipeline::Stage> make_window_stage(const YAML::Node& cfg, pipeline::Services& services, std::string& error);

}  // namespace kuai::stages
