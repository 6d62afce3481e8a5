#include "stages/window_plan.h"

#include <boost/json/serialize.hpp>

namespace kuai::stages {

bool is_system_role(std::string_view role) { return role == "system" || role == "developer"; }

int64_t message_tokens(const api::Message& m, std::string_view model, const pipeline::TokenCounter& counter,
                       int64_t overhead) {
  int64_t t = overhead + counter.count(model, m.content);
  if (auto it = m.raw.find("tool_calls"); it != m.raw.end()) t += counter.count(model, boost::json::serialize(it->value()));
  return t;
}

WindowPlan plan_window(const api::ChatRequest& req, const WindowPolicy& policy,
                       const pipeline::TokenCounter& counter, int64_t reserve_tokens) {
  const auto& msgs = req.messages;
  const size_t n = msgs.size();
  WindowPlan plan;
  plan.cut = 0;
  plan.tokens.resize(n);
  int64_t system_tokens = 0;
  for (size_t i = 0; i < n; ++i) {
    plan.tokens[i] = message_tokens(msgs[i], req.model, counter, policy.message_overhead_tokens);
    plan.tokens_before += plan.tokens[i];
    if (is_system_role(msgs[i].role)) system_tokens += plan.tokens[i];
  }
  if (!policy.active() || n == 0) {
    plan.tokens_after = plan.tokens_before;
    return plan;
  }
  const int64_t budget = policy.max_tokens > 0 ? policy.max_tokens - reserve_tokens : 0;
  int64_t used = system_tokens;
  int64_t turns = 0;
  size_t cut = n;
  bool kept_any = false;
  for (size_t i = n; i-- > 0;) {
    if (is_system_role(msgs[i].role)) continue;
    // The unit ending at i: tool results reach back to the assistant message that called them.
    size_t g = i;
    if (msgs[g].is_tool_result()) {
      while (g > 0 && (msgs[g - 1].is_tool_result() || is_system_role(msgs[g - 1].role))) --g;
      if (g > 0 && msgs[g - 1].role == "assistant" && msgs[g - 1].has_tool_calls()) --g;
    }
    int64_t t = 0, users = 0;
    for (size_t k = g; k <= i; ++k) {
      if (is_system_role(msgs[k].role)) continue;
      t += plan.tokens[k];
      users += msgs[k].role == "user";
    }
    bool fits = true;
    if (policy.max_turns > 0 && users > 0 && turns + users > policy.max_turns) fits = false;
    if (policy.max_tokens > 0 && used + t > budget) fits = false;
    if (!fits && kept_any) break;
    if (!fits) plan.over_budget = policy.max_tokens > 0 && used + t > budget;
    cut = g;
    used += t;
    turns += users;
    kept_any = true;
    if (!fits) break;  // the last unit, kept although it does not fit
    i = g;
  }
  if (policy.start_with_user) {
    // Drop leading non-user units of the kept suffix when a user message follows in it.
    size_t first_user = n;
    for (size_t k = cut; k < n; ++k)
      if (msgs[k].role == "user") { first_user = k; break; }
    if (first_user < n) cut = first_user;
  }
  plan.cut = cut;
  for (size_t i = 0; i < n; ++i) {
    if (plan.drops(i, msgs[i].role)) ++plan.dropped;
    else plan.tokens_after += plan.tokens[i];
  }
  return plan;
}

void apply_window(api::ChatRequest& req, const WindowPlan& plan) {
  if (plan.dropped == 0) return;
  std::vector<api::Message> kept;
  kept.reserve(req.messages.size() - plan.dropped);
  for (size_t i = 0; i < req.messages.size(); ++i)
    if (!plan.drops(i, req.messages[i].role)) kept.push_back(std::move(req.messages[i]));
  req.messages = std::move(kept);
}

}  // namespace kuai::stages
