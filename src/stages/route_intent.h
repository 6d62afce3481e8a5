// Shared shapes of the route stage's deciders (rules, k-NN, classifier): each looks at the query text
// and either abstains or guesses one intent label with a confidence in [0, 1].
#pragma once

#include <string>
#include <string_view>

namespace kuai::stages::route {

// The label every decider uses for "none of the configured intents": it maps to stages.route.default.
inline constexpr std::string_view kOtherIntent = "other";

struct IntentGuess {
  std::string intent;
  double confidence = 0;  // [0, 1]; compared with stages.route.thresholds.<decider>
};

// ASCII-only lowercase (Chinese and other scripts pass through unchanged).
std::string ascii_lower(std::string_view text);

}  // namespace kuai::stages::route
