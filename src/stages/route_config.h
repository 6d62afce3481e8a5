// The route stage's settings, read from `stages.route` (every key in docs/CONFIG.md, "stages.route").
#pragma once

#include "stages/route_classifier.h"
#include "stages/route_escalation.h"
#include "stages/route_rules.h"

#include <map>
#include <string>
#include <variant>
#include <vector>

namespace YAML { class Node; }

namespace kuai::stages::route {

enum class StreamEscalation {
  Buffer,       // ask the small model without streaming, check, replay the answer as SSE (or escalate)
  Passthrough,  // stream straight from the small model; no check, no escalation
};

struct RouteConfig {
  std::string default_model;                       // "" → the model the client asked for
  std::map<std::string, std::string> targets;      // intent → public model name
  std::vector<std::string> only_models;            // route only requests for these models ([]: all)
  std::vector<std::string> precedence = {"rules", "knn", "classifier"};
  std::map<std::string, double> thresholds = {{"rules", 0.5}, {"knn", 0.55}, {"classifier", 0.5}};
  std::vector<IntentRule> rules;                   // RuleDecider::default_rules() when the key is absent
  std::string examples_file = "data/route/examples.jsonl";
  bool examples_file_explicit = false;             // a missing explicit file is an error, a missing default a warning
  size_t knn_k = 5;
  double knn_min_similarity = 0.35;
  std::string embedder = "hash";                   // embedder for the examples and queries (cache.embedder kinds)
  std::string classifier_model;                    // "" → the classifier decider is off
  ClassifierPrompt classifier_prompt;
  EscalationPolicy escalation;
  StreamEscalation stream_escalation = StreamEscalation::Buffer;

  // The labels deciders choose from: the intents of `targets` and of `rules`, plus "other".
  std::vector<std::string> labels() const;
};

std::variant<RouteConfig, std::string> parse_route_config(const YAML::Node& node);

}  // namespace kuai::stages::route
