// The `classifier` decider of the route stage: asks a small model (stages.route.classifier_model) for
// one label. This file holds the pure parts — the prompt and the parsing of the answer — so they can be
// tested without a model; route.cpp sends the request.
//
// The answer is constrained to the label set by parsing, not by trust:
//  - exactly a label (after trimming quotes, punctuation, "label:" prefixes, markdown) → confidence 0.9
//  - one label, and only one, named as a whole word somewhere in the answer            → confidence 0.7
//  - Chinese label names are understood too (问候 天气 提取 翻译 其他 …)
//  - nothing, or two different labels                                                  → unknown (abstain)
// Thread-safety: pure functions.
#pragma once

#include "api/chat.h"
#include "stages/route_intent.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kuai::stages::route {

struct ClassifierPrompt {
  // "{labels}" is replaced by the comma-separated label list.
  std::string system =
      "You are an intent classifier. Classify the user's message into exactly one of these labels: "
      "{labels}. Use 'other' when none fits. Reply with the label only, in lowercase, nothing else.";
  size_t max_query_chars = 2000;  // longer queries are cut (on a UTF-8 boundary) before they are sent
  int64_t max_tokens = 8;
};

// The chat request for the classifier model. `labels` are the configured intents plus "other".
api::ChatRequest classifier_request(const std::string& model, const std::vector<std::string>& labels,
                                    std::string_view query, const ClassifierPrompt& prompt);

std::optional<IntentGuess> parse_classifier_answer(std::string_view answer, const std::vector<std::string>& labels);

}  // namespace kuai::stages::route
