#include "stages/route_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>

namespace kuai::stages::route {
namespace {

std::vector<std::string> string_list(const YAML::Node& n) {
  std::vector<std::string> out;
  if (!n) return out;
  if (n.IsScalar()) out.push_back(n.as<std::string>());
  if (n.IsSequence())
    for (const auto& item : n) out.push_back(item.as<std::string>());
  return out;
}

}  // namespace

std::vector<std::string> RouteConfig::labels() const {
  std::vector<std::string> out;
  auto add = [&](const std::string& l) {
    if (std::find(out.begin(), out.end(), l) == out.end()) out.push_back(l);
  };
  for (const auto& [intent, _] : targets) add(intent);
  for (const auto& r : rules) add(r.intent);
  add(std::string(kOtherIntent));
  return out;
}

std::variant<RouteConfig, std::string> parse_route_config(const YAML::Node& node) {
  RouteConfig c;
  try {
    if (node["default"]) c.default_model = node["default"].as<std::string>();
    if (const YAML::Node t = node["targets"]) {
      if (!t.IsMap()) return std::string("stages.route.targets must be a map intent → model");
      for (const auto& kv : t) c.targets[kv.first.as<std::string>()] = kv.second.as<std::string>();
    }
    c.only_models = string_list(node["models"]);
    if (node["precedence"]) {
      c.precedence = string_list(node["precedence"]);
      for (const auto& d : c.precedence)
        if (d != "rules" && d != "knn" && d != "classifier")
          return "stages.route.precedence: unknown decider '" + d + "' (rules, knn, classifier)";
    }
    if (const YAML::Node th = node["thresholds"]) {
      if (!th.IsMap()) return std::string("stages.route.thresholds must be a map decider → confidence");
      for (const auto& kv : th) {
        std::string d = kv.first.as<std::string>();
        if (d != "rules" && d != "knn" && d != "classifier")
          return "stages.route.thresholds: unknown decider '" + d + "'";
        double v = kv.second.as<double>();
        if (v < 0 || v > 1) return "stages.route.thresholds." + d + " must be in [0, 1]";
        c.thresholds[d] = v;
      }
    }
    if (node["rules"]) {
      auto parsed = RuleDecider::parse(node["rules"]);
      if (auto* err = std::get_if<std::string>(&parsed)) return *err;
      c.rules = std::get<std::vector<IntentRule>>(std::move(parsed));
    } else {
      c.rules = RuleDecider::default_rules();
    }
    if (node["examples_file"]) {
      c.examples_file = node["examples_file"].as<std::string>();
      c.examples_file_explicit = true;
    }
    if (const YAML::Node k = node["knn"]) {
      if (k["k"]) c.knn_k = k["k"].as<size_t>();
      if (k["min_similarity"]) c.knn_min_similarity = k["min_similarity"].as<double>();
    }
    if (node["embedder"]) c.embedder = node["embedder"].IsMap() ? node["embedder"]["kind"].as<std::string>("hash")
                                                                : node["embedder"].as<std::string>();
    if (node["classifier_model"]) c.classifier_model = node["classifier_model"].as<std::string>();
    if (node["classifier_prompt"]) c.classifier_prompt.system = node["classifier_prompt"].as<std::string>();
    if (const YAML::Node e = node["escalation"]) {
      if (e.IsScalar()) {
        c.escalation.enabled = e.as<bool>();
      } else if (e.IsMap()) {
        if (e["enabled"]) c.escalation.enabled = e["enabled"].as<bool>();
        if (e["min_tokens"]) c.escalation.min_tokens = e["min_tokens"].as<int64_t>();
        if (e["min_ratio"]) c.escalation.min_ratio = e["min_ratio"].as<double>();
        if (e["max_required"]) c.escalation.max_required = e["max_required"].as<int64_t>();
        c.escalation.refusals = string_list(e["refusals"]);
        if (e["stream"]) {
          std::string s = e["stream"].as<std::string>();
          if (s == "buffer") c.stream_escalation = StreamEscalation::Buffer;
          else if (s == "passthrough") c.stream_escalation = StreamEscalation::Passthrough;
          else return "stages.route.escalation.stream must be buffer or passthrough, not '" + s + "'";
        }
      }
    }
  } catch (const YAML::Exception& e) {
    return std::string("stages.route: ") + e.what();
  }
  return c;
}

}  // namespace kuai::stages::route
