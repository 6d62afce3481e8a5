// The one runner for every stage (like DuckDB's RunOptimizer): runs the enabled stages in config
// order, times each (Trace → Server-Timing header; histogram kuai_stage_duration_seconds{stage}),
// and turns a stage's failure into an api::Error naming the stage. Stages never time themselves.
// Thread-safety: built once at start-up; run_* may be called concurrently from any I/O thread.
#pragma once

#include "pipeline/context.h"
#include "pipeline/services.h"
#include "pipeline/stage.h"

#include <boost/asio/awaitable.hpp>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace kuai::config { class Config; }
namespace YAML { class Node; }

namespace kuai::pipeline {

class Pipeline {
 public:
  struct Entry {
    std::unique_ptr<Stage> stage;
    bool enabled = true;
  };

  Pipeline() = default;
  Pipeline(std::vector<Entry> stages, obs::Metrics* metrics);

  // Runs on_request of each enabled stage in order. Returns the answer when a stage answered
  // (later stages are then not run). Throws api::Error when a stage fails.
  boost::asio::awaitable<std::optional<api::ChatResponse>> run_request(Context& ctx) const;
  // Runs on_response of the enabled stages that ran for this request, in reverse order; a failing
  // hook is logged and counted, never surfaced to the client (the answer is already sent).
  void run_response(Context& ctx, const api::ChatResponse& response) const;

  std::vector<std::string> stage_names() const;
  Stage* find(std::string_view name) const;

 private:
  std::vector<Entry> stages_;
  obs::Metrics* metrics_ = nullptr;
};

// Builds a stage from its config node (`stages.<name>`). Returns nullptr with `error` set on bad config.
using StageFactory = std::function<std::unique_ptr<Stage>(const YAML::Node& cfg, Services& services, std::string& error)>;

class StageRegistry {
 public:
  void add(std::string name, StageFactory factory) { factories_[std::move(name)] = std::move(factory); }
  const StageFactory* find(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, StageFactory> factories_;
};

// Builds the pipeline from config: the list `pipeline` gives the order; `stages.<name>.enabled`
// (default true for a listed stage) switches each. An unknown stage name or a bad stage config is an
// error message.
std::variant<Pipeline, std::string> build_pipeline(const config::Config& cfg, Services& services,
                                                   const StageRegistry& registry);

}  // namespace kuai::pipeline
