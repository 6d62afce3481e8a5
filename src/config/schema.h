// Every configuration key kuai reads, with its type and range (docs/CONFIG.md documents each one with
// its default). `validate` checks a whole configuration at start-up, so a misspelt key or a value of
// the wrong type is an error naming the key, never a silent default.
#pragma once

#include "config/config.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kuai::config {

enum class KeyType { integer, number, boolean, string, list, map, any };

struct KeyRule {
  KeyRule(std::string_view path_, KeyType type_, double min_ = -1e300, double max_ = 1e300,
          std::vector<std::string_view> one_of_ = {})
      : path(path_), type(type_), min(min_), max(max_), one_of(std::move(one_of_)) {}

  // Dotted path; `*` matches any map key, `[]` any list item ("models.*.backends[].url").
  std::string_view path;
  KeyType type;
  double min, max;                        // integer and number
  std::vector<std::string_view> one_of;   // string: the allowed values (empty: any)
};

// The schema: one rule per key (docs/CONFIG.md lists the same keys; a test keeps the two equal).
const std::vector<KeyRule>& key_rules();

// The first problem found: "unknown key 'sever' (kuai.yaml line 2); did you mean 'server'?",
// "'server.port' (from --set) must be an integer, got 'eighty'". `free_subtrees` are paths whose
// contents are not checked (a registered stage kuai does not know the keys of: "stages.mystage").
std::optional<std::string> validate(const Config& cfg, const std::vector<std::string>& free_subtrees = {});

}  // namespace kuai::config
