// Stage `route`: small/large model routing. Decides per request which public model serves it:
// the intent of the last user message (deciders: rules, knn, classifier, tried in
// stages.route.precedence order; the first whose confidence reaches its threshold decides), then
// stages.route.targets[intent] or stages.route.default.
//
// When the target is a small model (any target other than the default) and escalation is on, the
// stage asks the small model itself (ctx.services->models) and checks the answer (route_escalation.h):
// a good answer is returned (Verdict::respond — later stages and the large model never run; a
// streaming client gets it replayed as SSE), a bad one is counted and the request continues to the
// default model. Streaming requests do the same with escalation.stream = buffer (default); with
// passthrough they stream straight from the small model, unchecked.
//
// Sets ctx.route and the header
//   x-kuai-route: <intent>; target=<model>; by=<rules|knn|classifier|default>; confidence=<0..1>[; escalated=<reason>]
// Metrics: kuai_route_decisions_total{intent,target,decider}, kuai_route_escalations_total{intent,reason},
// kuai_route_small_answers_total{intent,target}, kuai_route_classifier_failures_total{reason}.
// Thread-safety: built once; on_request may run concurrently on any I/O thread.
#pragma once

#include "pipeline/pipeline.h"
#include "stages/route_config.h"
#include "stages/route_knn.h"
#include "stages/route_rules.h"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace YAML { class Node; }

namespace kuai::stages {

// A synchronous text → vector function (the hash embedder and the embedded engine are both CPU work of
// microseconds to milliseconds). Empty vector: could not embed.
using RouteEmbedFn = std::function<std::vector<float>(std::string_view)>;

class RouteStage : public pipeline::Stage {
 public:
  struct Decision {
    std::string intent;
    std::string decided_by;  // "rules" | "knn" | "classifier" | "default"
    double confidence = 0;
  };

  RouteStage(route::RouteConfig cfg, route::RuleDecider rules, std::unique_ptr<route::KnnIndex> knn,
             RouteEmbedFn embed);

  std::string_view name() const override { return "route"; }
  boost::asio::awaitable<pipeline::Verdict> on_request(pipeline::Context& ctx) override;

  // The deciders one by one (nullopt: abstained), for tests and reports.
  std::optional<route::IntentGuess> by_rules(std::string_view query) const;
  std::optional<route::IntentGuess> by_knn(std::string_view query) const;
  // The combination without the model-backed classifier (no I/O).
  Decision decide_offline(std::string_view query) const;
  // The combination, asking the classifier model when its turn comes (needs services->models).
  boost::asio::awaitable<Decision> decide(std::string_view query, pipeline::Services* services,
                                          const api::Tenant& tenant) const;

  const route::RouteConfig& config() const { return cfg_; }
  bool knn_ready() const { return knn_ && knn_->size() > 0 && embed_; }

 private:
  boost::asio::awaitable<std::optional<route::IntentGuess>> by_classifier(std::string_view query,
                                                                          pipeline::Services* services,
                                                                          const api::Tenant& tenant) const;
  bool accept(const std::string& decider, const std::optional<route::IntentGuess>& g) const;
  std::string target_for(const std::string& intent, const std::string& requested) const;

  route::RouteConfig cfg_;
  route::RuleDecider rules_;
  std::unique_ptr<route::KnnIndex> knn_;
  RouteEmbedFn embed_;
  std::vector<std::string> labels_;
};

// StageFactory for registry.cpp: parses stages.route, compiles the rules, loads and embeds the examples.
std::unique_ptr<pipeline::Stage> make_route_stage(const YAML::Node& cfg, pipeline::Services& services,
                                                  std::string& error);

// The embedder the route stage uses for `kind` ("hash"; empty function when the kind is unknown).
RouteEmbedFn make_route_embedder(const std::string& kind, std::string& error);

}  // namespace kuai::stages
