// Which messages a context window keeps (pure; shared by the `window` and `summarize` stages, so both
// agree on what is "dropped"). Rules:
//   - every system/developer message is kept, always, where it is;
//   - the window is the newest suffix of the other messages, grown unit by unit from the end: a unit is
//     one message, or an assistant message with tool_calls together with the tool results after it
//     (never split); a message is never cut inside;
//   - `max_turns` N: the suffix starts at the N-th last user message (older turns are dropped);
//   - `max_tokens` N: the suffix holds the newest units whose tokens, plus every system message's,
//     fit in N - reserve_tokens (sliding window). Both set: the stricter wins;
//   - the last unit is always kept (a request with no question makes no sense): when it alone does
//     not fit, `over_budget` is set and the budget is exceeded by that unit only;
//   - `start_with_user`: the kept suffix starts at a user message when one is in it (chat templates
//     of many models reject a conversation that opens with an assistant turn).
// Tokens of a message: counter(content) + tool_calls JSON + `message_overhead_tokens` (role, separators).
#pragma once

#include "api/chat.h"
#include "pipeline/services.h"

#include <cstdint>
#include <string_view>
#include <vector>

namespace kuai::stages {

struct WindowPolicy {
  int64_t max_turns = 0;   // 0: no turn limit
  int64_t max_tokens = 0;  // 0: no token limit
  int64_t message_overhead_tokens = 4;
  bool start_with_user = true;
  bool active() const { return max_turns > 0 || max_tokens > 0; }
};

bool is_system_role(std::string_view role);

int64_t message_tokens(const api::Message& m, std::string_view model, const pipeline::TokenCounter& counter,
                       int64_t overhead);

struct WindowPlan {
  size_t cut = 0;                    // non-system messages with index < cut are dropped
  size_t dropped = 0;                // how many messages that is
  int64_t tokens_before = 0;         // all messages
  int64_t tokens_after = 0;          // kept messages
  bool over_budget = false;
  std::vector<int64_t> tokens;       // per message, same order as the request
  bool drops(size_t i, std::string_view role) const { return i < cut && !is_system_role(role); }
};

// `reserve_tokens` is taken off max_tokens (room the summarize stage keeps for its summary).
WindowPlan plan_window(const api::ChatRequest& req, const WindowPolicy& policy,
                       const pipeline::TokenCounter& counter, int64_t reserve_tokens = 0);

// The request with the plan's dropped messages removed.
void apply_window(api::ChatRequest& req, const WindowPlan& plan);

}  // namespace kuai::stages
