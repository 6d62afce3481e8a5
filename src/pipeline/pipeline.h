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

// The stages the binary knows. Registration order is the canonical order: the one a pipeline gets when
// the config lists no `pipeline` and the stages are switched on by their own `stages.<name>` keys.
class StageRegistry {
 public:
  struct Known {
    std::string name;
    std::string summary;  // one line for `kuai serve --help`
    StageFactory factory;
  };

  void add(std::string name, StageFactory factory, std::string summary = {});
  const StageFactory* find(const std::string& name) const;
  std::vector<std::string> names() const;  // in registration (canonical) order
  const std::vector<Known>& known() const { return known_; }

 private:
  std::vector<Known> known_;
};

// Builds the pipeline from config. With a `pipeline` list, it gives the stages and their order, and a
// stage configured under `stages.<name>` but missing from the list is an error (it would otherwise be
// silently ignored). Without one, the pipeline is every stage that has a `stages.<name>` entry not
// switched off (`enabled: false`), in the registry's canonical order. `stages.<name>.enabled` (default
// true) switches a listed stage. An unknown stage name or a bad stage config is an error message.
std::variant<Pipeline, std::string> build_pipeline(const config::Config& cfg, Services& services,
                                                   const StageRegistry& registry);

}  // namespace kuai::pipeline
