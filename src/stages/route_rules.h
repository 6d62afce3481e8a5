// The `rules` decider of the route stage: keywords and regular expressions per intent (English and
// Chinese). No model, no I/O: microseconds per query.
//
// Scoring (per intent; the best intent wins, a tie lowers the confidence):
//  - any pattern matches → 0.9
//  - keyword hits: 1 → 0.6, 2 or more → 0.75
//  - an `exclude` keyword or a query longer than `max_chars` rules the intent out.
// Keywords are case-insensitive; an ASCII keyword must match at word boundaries ("hi" does not match
// "this"), a keyword with other scripts matches as a substring ("天气"). Patterns are PCRE2 (UTF,
// caseless, Unicode properties), run with a match limit so no query can make them backtrack forever.
// Thread-safety: built once; classify() is const and safe from any thread.
#pragma once

#include "stages/route_intent.h"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace YAML { class Node; }

namespace kuai::stages::route {

struct IntentRule {
  std::string intent;
  std::vector<std::string> keywords;
  std::vector<std::string> patterns;  // PCRE2 syntax
  std::vector<std::string> exclude;   // keywords that veto this intent
  size_t max_chars = 0;               // 0: no limit; else the intent needs a query of at most this many bytes
};

class RuleDecider {
 public:
  RuleDecider();
  ~RuleDecider();
  RuleDecider(RuleDecider&&) noexcept;
  RuleDecider& operator=(RuleDecider&&) noexcept;

  // Compiles the rules; a bad pattern is an error message naming the intent and the pattern.
  static std::variant<RuleDecider, std::string> build(std::vector<IntentRule> rules);
  // `stages.route.rules`: {intent: {keywords: [..], patterns: [..], exclude: [..], max_chars: N}}.
  static std::variant<std::vector<IntentRule>, std::string> parse(const YAML::Node& node);
  // The built-in rules used when stages.route.rules is absent (greeting, weather, extraction, translation).
  static std::vector<IntentRule> default_rules();

  std::optional<IntentGuess> classify(std::string_view text) const;
  size_t size() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kuai::stages::route
