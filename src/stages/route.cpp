#include "stages/route.h"

#include "api/error.h"
#include "config/config.h"
#include "obs/metrics.h"
#include "text/estimate.h"

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

namespace kuai::stages {
namespace {

using route::IntentGuess;

const api::Message* last_user_message(const api::ChatRequest& req) {
  for (auto it = req.messages.rbegin(); it != req.messages.rend(); ++it)
    if (it->role == "user") return &*it;
  return nullptr;
}

int64_t count_tokens(const pipeline::Services* s, std::string_view model, std::string_view text) {
  return s ? s->count_tokens(model, text) : text::estimate_tokens(text);
}

void bump(pipeline::Services* s, const char* name, const char* help, const std::map<std::string, std::string>& labels) {
  if (s && s->metrics) s->metrics->counter(name, help).Add(labels).Increment();
}

std::string route_header(const pipeline::RouteDecision& d, const std::string& escalated) {
  char conf[16];
  std::snprintf(conf, sizeof conf, "%.2f", d.confidence);
  std::string h = d.intent + "; target=" + d.target + "; by=" + d.decided_by + "; confidence=" + conf;
  if (!escalated.empty()) h += "; escalated=" + escalated;
  return h;
}

}  // namespace

RouteStage::RouteStage(route::RouteConfig cfg, route::RuleDecider rules, std::unique_ptr<route::KnnIndex> knn,
                       RouteEmbedFn embed)
    : cfg_(std::move(cfg)), rules_(std::move(rules)), knn_(std::move(knn)), embed_(std::move(embed)),
      labels_(cfg_.labels()) {}

std::optional<IntentGuess> RouteStage::by_rules(std::string_view query) const { return rules_.classify(query); }

std::optional<IntentGuess> RouteStage::by_knn(std::string_view query) const {
  if (!knn_ready()) return std::nullopt;
  std::vector<float> v = embed_(query);
  if (v.empty()) return std::nullopt;
  return knn_->classify(v);
}

bool RouteStage::accept(const std::string& decider, const std::optional<IntentGuess>& g) const {
  if (!g) return false;
  auto it = cfg_.thresholds.find(decider);
  double threshold = it == cfg_.thresholds.end() ? 0.5 : it->second;
  return g->confidence >= threshold;
}

RouteStage::Decision RouteStage::decide_offline(std::string_view query) const {
  for (const auto& d : cfg_.precedence) {
    std::optional<IntentGuess> g;
    if (d == "rules") g = by_rules(query);
    else if (d == "knn") g = by_knn(query);
    else continue;
    if (accept(d, g)) return {g->intent, d, g->confidence};
  }
  return {std::string(route::kOtherIntent), "default", 0};
}

boost::asio::awaitable<RouteStage::Decision> RouteStage::decide(std::string_view query, pipeline::Services* services,
                                                                const api::Tenant& tenant) const {
  for (const auto& d : cfg_.precedence) {
    std::optional<IntentGuess> g;
    if (d == "rules") g = by_rules(query);
    else if (d == "knn") g = by_knn(query);
    else if (d == "classifier") g = co_await by_classifier(query, services, tenant);
    if (accept(d, g)) co_return Decision{g->intent, d, g->confidence};
  }
  co_return Decision{std::string(route::kOtherIntent), "default", 0};
}

boost::asio::awaitable<std::optional<IntentGuess>> RouteStage::by_classifier(std::string_view query,
                                                                             pipeline::Services* services,
                                                                             const api::Tenant& tenant) const {
  if (cfg_.classifier_model.empty() || !services || !services->models) co_return std::nullopt;
  api::ChatRequest req = route::classifier_request(cfg_.classifier_model, labels_, query, cfg_.classifier_prompt);
  std::string answer;
  try {
    api::ChatResponse resp = co_await services->models->complete(req, tenant);
    answer = resp.text();
  } catch (const std::exception& e) {
    // A failed classifier is not a failed request: the next decider (or the default) takes over.
    spdlog::debug("route: classifier model '{}' failed: {}", cfg_.classifier_model, e.what());
    bump(services, "kuai_route_classifier_failures_total", "Classifier calls that gave no label", {{"reason", "error"}});
    co_return std::nullopt;
  }
  auto guess = route::parse_classifier_answer(answer, labels_);
  if (!guess)
    bump(services, "kuai_route_classifier_failures_total", "Classifier calls that gave no label", {{"reason", "unknown"}});
  co_return guess;
}

std::string RouteStage::target_for(const std::string& intent, const std::string& requested) const {
  auto it = cfg_.targets.find(intent);
  if (it != cfg_.targets.end()) return it->second;
  return cfg_.default_model.empty() ? requested : cfg_.default_model;
}

boost::asio::awaitable<pipeline::Verdict> RouteStage::on_request(pipeline::Context& ctx) {
  pipeline::Services* services = ctx.services;
  if (!cfg_.only_models.empty() &&
      std::find(cfg_.only_models.begin(), cfg_.only_models.end(), ctx.request.model) == cfg_.only_models.end())
    co_return pipeline::Verdict::next();
  const api::Message* user = last_user_message(ctx.request);
  if (!user) co_return pipeline::Verdict::next();
  const std::string query = user->content;

  Decision d = co_await decide(query, services, ctx.tenant);
  const std::string requested = ctx.request.model;
  const std::string large = cfg_.default_model.empty() ? requested : cfg_.default_model;
  ctx.route.intent = d.intent;
  ctx.route.decided_by = d.decided_by;
  ctx.route.confidence = d.confidence;
  ctx.route.target = target_for(d.intent, requested);
  bump(services, "kuai_route_decisions_total", "Route decisions",
       {{"intent", d.intent}, {"target", ctx.route.target}, {"decider", d.decided_by}});

  const bool small = ctx.route.target != large;
  const bool check = small && cfg_.escalation.enabled && services && services->models &&
                     (!ctx.request.stream || cfg_.stream_escalation == route::StreamEscalation::Buffer);
  if (!check) {
    ctx.request.model = ctx.route.target;
    ctx.add_header("x-kuai-route", route_header(ctx.route, ""));
    co_return pipeline::Verdict::next();
  }

  // Ask the small model ourselves, check its answer, and either return it or escalate.
  api::ChatRequest small_req = ctx.request;
  small_req.model = ctx.route.target;
  small_req.stream = false;
  small_req.include_usage = false;
  small_req.raw.erase("stream_options");
  std::string reason;
  std::optional<api::ChatResponse> answer;
  try {
    answer = co_await services->models->complete(small_req, ctx.tenant);
  } catch (const std::exception& e) {
    spdlog::debug("route: small model '{}' failed, escalating: {}", small_req.model, e.what());
    reason = "error";
  }
  if (answer) {
    const std::string& text = answer->text();
    const std::string finish = answer->choices.empty() ? std::string("stop") : answer->choices.front().finish_reason;
    int64_t answer_tokens = answer->usage && answer->usage->completion_tokens > 0
                                ? answer->usage->completion_tokens
                                : count_tokens(services, small_req.model, text);
    int64_t question_tokens = count_tokens(services, small_req.model, query);
    if (auto why = route::check_answer(text, finish, question_tokens, answer_tokens, cfg_.escalation)) reason = *why;
  }
  if (reason.empty()) {
    bump(services, "kuai_route_small_answers_total", "Requests answered by a small model",
         {{"intent", d.intent}, {"target", ctx.route.target}});
    ctx.add_header("x-kuai-route", route_header(ctx.route, ""));
    answer->model = ctx.route.target;
    if (answer->id.empty()) answer->id = ctx.request_id;
    co_return pipeline::Verdict::respond(std::move(*answer));
  }
  bump(services, "kuai_route_escalations_total", "Small-model answers that failed the check and went to the large model",
       {{"intent", d.intent}, {"reason", reason}});
  ctx.route.target = large;
  ctx.request.model = large;
  ctx.add_header("x-kuai-route", route_header(ctx.route, reason));
  co_return pipeline::Verdict::next();
}

std::unique_ptr<pipeline::Stage> make_route_stage(const YAML::Node& node, pipeline::Services& services,
                                                  std::string& error) {
  auto parsed = route::parse_route_config(node);
  if (auto* err = std::get_if<std::string>(&parsed)) {
    error = *err;
    return nullptr;
  }
  route::RouteConfig cfg = std::get<route::RouteConfig>(std::move(parsed));
  auto built = route::RuleDecider::build(cfg.rules);
  if (auto* err = std::get_if<std::string>(&built)) {
    error = *err;
    return nullptr;
  }
  if (services.models) {
    for (const auto& [intent, model] : cfg.targets)
      if (!services.models->has_model(model))
        spdlog::warn("route: target '{}' of intent '{}' is not a configured model", model, intent);
  }

  // k-NN: only when it is in the precedence list and the examples can be read and embedded.
  std::unique_ptr<route::KnnIndex> knn;
  RouteEmbedFn embed;
  const bool want_knn = std::find(cfg.precedence.begin(), cfg.precedence.end(), "knn") != cfg.precedence.end();
  if (want_knn) {
    if (!cfg.examples_file_explicit && !std::filesystem::exists(cfg.examples_file)) {
      spdlog::warn("route: default examples file '{}' not found; the knn decider is off", cfg.examples_file);
    } else {
      auto loaded = route::load_examples(cfg.examples_file);
      if (auto* err = std::get_if<std::string>(&loaded)) {
        error = *err;
        return nullptr;
      }
      std::string embed_error;
      embed = make_route_embedder(cfg.embedder, embed_error);
      if (!embed) {
        error = embed_error.empty() ? "unknown embedder '" + cfg.embedder + "'" : embed_error;
        return nullptr;
      }
      knn = std::make_unique<route::KnnIndex>(cfg.knn_k, cfg.knn_min_similarity);
      for (auto& ex : std::get<std::vector<route::LabelledExample>>(loaded)) knn->add(ex.intent, embed(ex.text));
      spdlog::info("route: {} labelled examples from {}", knn->size(), cfg.examples_file);
    }
  }
  return std::make_unique<RouteStage>(std::move(cfg), std::get<route::RuleDecider>(std::move(built)), std::move(knn),
                                      std::move(embed));
}

}  // namespace kuai::stages
