#include "pipeline/pipeline.h"

#include "api/error.h"
#include "config/config.h"
#include "obs/metrics.h"

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <chrono>

namespace kuai::pipeline {
namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

void append_server_timing(std::string& out, std::string_view name, double ms, std::string_view desc) {
  if (!out.empty()) out += ", ";
  out += name;
  out += ";dur=";
  char buf[48];  // "%.3f" without printf (whose float path allocates)
  auto r = std::to_chars(buf, buf + sizeof buf, ms, std::chars_format::fixed, 3);
  if (r.ec == std::errc()) out.append(buf, r.ptr);
  else out += '0';
  if (!desc.empty()) {
    out += ";desc=\"";
    out += desc;
    out += '"';
  }
}

std::string Trace::server_timing() const {
  std::string out;
  for (const auto& s : stages)
    append_server_timing(out, s.name, s.duration_ms, s.outcome == "continue" ? std::string_view() : s.outcome);
  return out;
}

Pipeline::Pipeline(std::vector<Entry> stages, obs::Metrics* metrics)
    : stages_(std::move(stages)), metrics_(metrics) {}

boost::asio::awaitable<std::optional<api::ChatResponse>> Pipeline::run_request(Context& ctx) const {
  for (const auto& entry : stages_) {
    if (!entry.enabled) continue;
    const std::string name(entry.stage->name());
    auto t0 = std::chrono::steady_clock::now();
    Verdict verdict;
    std::string outcome = "continue";
    try {
      verdict = co_await entry.stage->on_request(ctx);
    } catch (const api::Error& e) {
      ctx.trace.stages.push_back({name, ms_since(t0), "error"});
      throw;
    } catch (const std::exception& e) {
      ctx.trace.stages.push_back({name, ms_since(t0), "error"});
      throw api::Error(500, "server_error", "stage '" + name + "' failed: " + e.what(), "stage_error");
    }
    if (verdict.kind == Verdict::Kind::Answer) outcome = "answer";
    double dur = ms_since(t0);
    ctx.trace.stages.push_back({name, dur, outcome});
    if (metrics_) {
      metrics_->histogram("kuai_stage_duration_seconds", "Time spent in each pipeline stage")
          .Add({{"stage", name}}, obs::Metrics::latency_buckets())
          .Observe(dur / 1000.0);
    }
    if (verdict.kind == Verdict::Kind::Answer) {
      if (!verdict.answer) throw api::Error::internal("stage '" + name + "' answered without a response");
      co_return std::move(verdict.answer);
    }
  }
  co_return std::nullopt;
}

void Pipeline::run_response(Context& ctx, const api::ChatResponse& response) const {
  // Only stages that ran for this request get the hook (a stage after an answering one never ran).
  for (auto it = stages_.rbegin(); it != stages_.rend(); ++it) {
    if (!it->enabled) continue;
    bool ran = false;
    for (const auto& t : ctx.trace.stages) ran = ran || t.name == it->stage->name();
    if (!ran) continue;
    try {
      it->stage->on_response(ctx, response);
    } catch (const std::exception& e) {
      spdlog::warn("stage {} on_response failed: {}", it->stage->name(), e.what());
      if (metrics_) {
        metrics_->counter("kuai_stage_errors_total", "Stage failures").Add({{"stage", std::string(it->stage->name())}}).Increment();
      }
    }
  }
}

std::vector<std::string> Pipeline::stage_names() const {
  std::vector<std::string> out;
  for (const auto& e : stages_) out.emplace_back(e.stage->name());
  return out;
}

Stage* Pipeline::find(std::string_view name) const {
  for (const auto& e : stages_)
    if (e.stage->name() == name) return e.stage.get();
  return nullptr;
}

void StageRegistry::add(std::string name, StageFactory factory, std::string summary) {
  for (auto& k : known_)
    if (k.name == name) {
      k = {std::move(name), std::move(summary), std::move(factory)};
      return;
    }
  known_.push_back({std::move(name), std::move(summary), std::move(factory)});
}

const StageFactory* StageRegistry::find(const std::string& name) const {
  for (const auto& k : known_)
    if (k.name == name) return &k.factory;
  return nullptr;
}

std::vector<std::string> StageRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& k : known_) out.push_back(k.name);
  return out;
}

namespace {

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// The stages switched on by their own config: `stages.<name>` present and not `enabled: false`.
std::vector<std::string> configured_stages(const config::Config& cfg) {
  std::vector<std::string> out;
  YAML::Node stages = cfg.at("stages");
  if (!stages || !stages.IsMap()) return out;
  for (const auto& kv : stages) {
    auto name = kv.first.as<std::string>("");
    if (cfg.get<bool>("stages." + name + ".enabled", true)) out.push_back(name);
  }
  return out;
}

// The stage names to build, in order, or an error message.
std::variant<std::vector<std::string>, std::string> pipeline_order(const config::Config& cfg,
                                                                  const StageRegistry& registry) {
  const auto configured = configured_stages(cfg);
  for (const auto& name : configured)
    if (!registry.find(name))
      return "unknown stage '" + name + "' under 'stages' (known: " + join(registry.names()) + ")";
  YAML::Node order = cfg.at("pipeline");
  if (!order || order.IsNull()) {
    std::vector<std::string> out;
    for (const auto& name : registry.names())
      if (std::find(configured.begin(), configured.end(), name) != configured.end()) out.push_back(name);
    return out;
  }
  if (!order.IsSequence()) return std::string("config key 'pipeline' must be a list of stage names");
  std::vector<std::string> out;
  for (const auto& item : order) out.push_back(item.as<std::string>(""));
  for (const auto& name : configured)
    if (std::find(out.begin(), out.end(), name) == out.end()) {
      auto fixed = out;
      fixed.push_back(name);
      return "stage '" + name + "' is configured (stages." + name + ") but not in 'pipeline: [" + join(out) +
             "]'; add it (e.g. pipeline: [" + join(fixed) + "]), leave 'pipeline' out to run the configured stages in "
             "their canonical order, or set stages." + name + ".enabled: false";
    }
  return out;
}

}  // namespace

std::variant<Pipeline, std::string> build_pipeline(const config::Config& cfg, Services& services,
                                                   const StageRegistry& registry) {
  auto order = pipeline_order(cfg, registry);
  if (auto* error = std::get_if<std::string>(&order)) return *error;
  std::vector<Pipeline::Entry> entries;
  for (const auto& name : std::get<std::vector<std::string>>(order)) {
    const StageFactory* factory = registry.find(name);
    if (!factory) return "unknown stage '" + name + "' in 'pipeline' (known: " + join(registry.names()) + ")";
    YAML::Node stage_cfg = cfg.at("stages." + name);
    if (!stage_cfg) stage_cfg = YAML::Node(YAML::NodeType::Map);
    bool enabled = cfg.get<bool>("stages." + name + ".enabled", true);
    std::string error;
    auto stage = (*factory)(stage_cfg, services, error);
    if (!stage) return "stage '" + name + "': " + (error.empty() ? "could not be built" : error);
    entries.push_back({std::move(stage), enabled});
  }
  return Pipeline(std::move(entries), services.metrics);
}

}  // namespace kuai::pipeline
