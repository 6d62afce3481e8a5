// The check a small model's answer must pass before the route stage returns it; a failed check sends
// the request on to the large model (stages.route.default) and is counted
// (kuai_route_escalations_total{intent, reason}).
//
// Reasons, checked in this order:
//  - "error":   the small model failed (api::Error from the dispatcher) — decided by the caller
//  - "filtered": finish_reason is content_filter
//  - "empty":   no visible text (only whitespace)
//  - "refusal": the first 200 bytes read like a refusal ("I'm sorry, but I can't", "As an AI",
//               "抱歉，我无法", "作为一个AI" …; extra phrases from stages.route.escalation.refusals)
//  - "short":   fewer answer tokens than clamp(min_ratio × question tokens, min_tokens, max_required)
// Thread-safety: pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kuai::stages::route {

struct EscalationPolicy {
  bool enabled = true;
  int64_t min_tokens = 1;        // an answer always needs at least this many tokens
  double min_ratio = 0.05;       // … and this share of the question's tokens
  int64_t max_required = 16;     // … but never more than this many
  std::vector<std::string> refusals;  // extra refusal phrases (case-insensitive, matched in the first 200 bytes)
};

// nullopt: the answer passes; otherwise the reason it fails.
std::optional<std::string> check_answer(std::string_view answer, std::string_view finish_reason,
                                        int64_t question_tokens, int64_t answer_tokens,
                                        const EscalationPolicy& policy);

}  // namespace kuai::stages::route
