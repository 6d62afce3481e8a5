#include "stages/window.h"

#include "obs/metrics.h"

#include <boost/json.hpp>
#include <yaml-cpp/yaml.h>

namespace kuai::stages {

std::string read_window_policy(const YAML::Node& cfg, WindowPolicy& policy) {
  try {
    if (cfg["max_turns"]) policy.max_turns = cfg["max_turns"].as<int64_t>();
    if (cfg["max_tokens"]) policy.max_tokens = cfg["max_tokens"].as<int64_t>();
    if (cfg["message_overhead_tokens"]) policy.message_overhead_tokens = cfg["message_overhead_tokens"].as<int64_t>();
    if (cfg["start_with_user"]) policy.start_with_user = cfg["start_with_user"].as<bool>();
  } catch (const YAML::Exception&) {
    return "max_turns, max_tokens and message_overhead_tokens must be integers, start_with_user a boolean";
  }
  if (policy.max_turns < 0 || policy.max_tokens < 0 || policy.message_overhead_tokens < 0)
    return "max_turns, max_tokens and message_overhead_tokens must not be negative";
  if (!policy.active()) return "set max_turns or max_tokens (or both)";
  return {};
}

WindowStage::WindowStage(WindowPolicy policy, std::unique_ptr<DefaultTokenCounter> own_counter,
                         pipeline::Services& services)
    : policy_(policy), own_counter_(std::move(own_counter)), services_(services) {}

const pipeline::TokenCounter& WindowStage::counter() const {
  if (services_.tokens) return *services_.tokens;
  return *own_counter_;
}

void WindowStage::window_request(pipeline::Context& ctx) {
  WindowPlan plan = plan_window(ctx.request, policy_, counter());
  std::string header = "kept=" + std::to_string(ctx.request.messages.size() - plan.dropped) +
                       "; dropped=" + std::to_string(plan.dropped) + "; tokens=" + std::to_string(plan.tokens_after);
  if (plan.over_budget) header += "; over_budget";
  ctx.add_header("x-kuai-window", header);
  {
    std::lock_guard lock(last_mu_);
    last_.request_id = ctx.request_id;
    last_.roles.clear();
    last_.dropped.clear();
    for (size_t i = 0; i < ctx.request.messages.size(); ++i) {
      const std::string& role = ctx.request.messages[i].role;
      last_.roles += role == "system" ? 's' : role == "developer" ? 'd' : role == "user" ? 'u'
                   : role == "assistant" ? 'a' : role == "tool" ? 't' : 'o';
      last_.dropped.push_back(plan.drops(i, role) ? 1 : 0);
    }
    last_.tokens = plan.tokens;
    last_.tokens_before = plan.tokens_before;
    last_.tokens_after = plan.tokens_after;
    last_.over_budget = plan.over_budget;
  }
  if (plan.dropped == 0) return;
  apply_window(ctx.request, plan);
  const int64_t saved = plan.tokens_before - plan.tokens_after;
  ctx.tokens_saved += saved;
  if (services_.metrics) {
    services_.metrics->counter("kuai_window_dropped_messages_total", "Messages dropped by the window stage")
        .Add({}).Increment(static_cast<double>(plan.dropped));
    services_.metrics->counter("kuai_window_tokens_saved_total", "Input tokens removed by the window stage")
        .Add({}).Increment(static_cast<double>(saved));
  }
}

boost::asio::awaitable<pipeline::Verdict> WindowStage::on_request(pipeline::Context& ctx) {
  window_request(ctx);
  co_return pipeline::Verdict::next();
}

std::optional<pipeline::AdminReply> WindowStage::on_admin(std::string_view method, std::string_view path,
                                                          std::string_view body) {
  (void)body;
  if (method != "GET" || (path != "last" && path != "/last")) return std::nullopt;
  std::lock_guard lock(last_mu_);
  if (last_.request_id.empty() && last_.roles.empty()) return pipeline::AdminReply{200, "{}"};
  boost::json::array messages;
  size_t kept = 0, dropped = 0;
  for (size_t i = 0; i < last_.roles.size(); ++i) {
    const char r = last_.roles[i];
    const char* role = r == 's' ? "system" : r == 'd' ? "developer" : r == 'u' ? "user" : r == 'a' ? "assistant"
                     : r == 't' ? "tool" : "other";
    const bool gone = last_.dropped[i] != 0;
    (gone ? dropped : kept) += 1;
    messages.push_back({{"index", i}, {"role", role}, {"tokens", last_.tokens[i]}, {"kept", !gone}});
  }
  boost::json::object o{{"request_id", last_.request_id}, {"kept", kept}, {"dropped", dropped},
                        {"tokens_before", last_.tokens_before}, {"tokens_after", last_.tokens_after},
                        {"over_budget", last_.over_budget}, {"messages", std::move(messages)}};
  return pipeline::AdminReply{200, boost::json::serialize(o)};
}

std::unique_ptr<pipeline::Stage> make_window_stage(const YAML::Node& cfg, pipeline::Services& services, std::string& error) {
  WindowPolicy policy;
  error = read_window_policy(cfg, policy);
  if (!error.empty()) return nullptr;
  // `tokenizers` is read by the app, which lends the gateway one counter (Services::tokens).
  return std::make_unique<WindowStage>(policy, std::make_unique<DefaultTokenCounter>(), services);
}

}  // namespace kuai::stages
