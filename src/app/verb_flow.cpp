// `kuai flow run FILE.yaml|NAME`: runs a flow in this process (the gateway's stages, cache, routing and
// dispatcher, no listening socket) with a live per-step view on a terminal; `kuai flow check FILE.yaml`
// validates a flow file (cycles, unknown references, unknown models) with file:line.
#include "app/token_counter.h"
#include "app/verbs.h"

#include "config/config.h"
#include "flows/executor.h"
#include "pipeline/pipeline.h"
#include "server/gateway.h"
#include "stages/registry.h"

#include <boost/json/serialize.hpp>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <unistd.h>

namespace kuai::app {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

struct FlowArgs {
  std::string flow;  // FILE.yaml or NAME
  std::vector<std::string> inputs;
  bool json_out = false;
  std::string config_file, upstream;
  std::vector<std::string> sets;
};

std::variant<config::Config, std::string> load_config(const FlowArgs& a) {
  config::Config cfg;
  if (!a.config_file.empty())
    if (auto err = config::Config::load_file(a.config_file, cfg)) return *err;
  if (!a.upstream.empty()) {  // as `kuai serve --upstream`: model `default` and the fallback for any other name
    YAML::Node backend(YAML::NodeType::Map);
    backend["url"] = a.upstream;
    YAML::Node list(YAML::NodeType::Sequence);
    list.push_back(backend);
    cfg.set("models.default.backends", list);
    cfg.set("server.fallback_model", YAML::Node("default"));
  }
  for (const auto& s : a.sets)
    if (auto err = cfg.apply_override(s)) return *err;
  cfg.set("server.io_threads", YAML::Node(1));
  cfg.set("server.port", YAML::Node(0));
  cfg.set("server.access_log", YAML::Node(false));
  return cfg;
}

bool looks_like_file(const std::string& f) {
  return f.find('/') != std::string::npos || f.ends_with(".yaml") || f.ends_with(".yml");
}

// A built-in flow by name: data/flows/NAME.yaml from the working directory or beside the binary.
std::string builtin_path(const std::string& name) {
  std::vector<std::filesystem::path> dirs{"data/flows"};
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec)
    for (auto p = exe.parent_path(); !p.empty() && p != p.root_path(); p = p.parent_path()) dirs.push_back(p / "data/flows");
  for (const auto& d : dirs)
    if (std::filesystem::is_regular_file(d / (name + ".yaml"), ec)) return (d / (name + ".yaml")).string();
  return {};
}

std::optional<std::string> parse_inputs(const std::vector<std::string>& in, json::object& out) {
  for (const auto& kv : in) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) return "--input '" + kv + "' is not NAME=VALUE";
    std::string value = kv.substr(eq + 1);
    if (!value.empty() && value[0] == '@') {
      std::ifstream f(value.substr(1));
      if (!f) return "--input " + kv.substr(0, eq) + ": cannot read '" + value.substr(1) + "'";
      std::stringstream ss;
      ss << f.rdbuf();
      value = ss.str();
    }
    out[kv.substr(0, eq)] = value;
  }
  return std::nullopt;
}

// The live view: one line per step (status, time, tokens), redrawn in place on a terminal; plain
// lines when stderr is not one.
class LiveView {
 public:
  LiveView(const flows::Flow& flow, bool tty, bool quiet) : tty_(tty), quiet_(quiet) {
    for (const auto& s : flow.steps) rows_.push_back({s.name, "waiting", 0, 0, 0});
    if (tty_ && !quiet_) draw();
  }
  void on_event(const flows::Event& e) {
    if (quiet_) return;
    Row& r = row(e.step->name);
    switch (e.type) {
      case flows::Event::Type::step_started:
        r.status = "running";
        r.start_ms = e.step->start_ms;
        if (!tty_) std::fprintf(stderr, "  %-20s started\n", r.name.c_str());
        break;
      case flows::Event::Type::step_delta:
        ++r.deltas;
        if (!tty_ || Clock::now() - last_draw_ < std::chrono::milliseconds(100)) return;
        break;
      case flows::Event::Type::step_completed:
        r.status = e.step->status;
        r.end_ms = e.step->end_ms;
        if (e.step->completion_tokens > 0) r.deltas = e.step->completion_tokens;
        if (!tty_)
          std::fprintf(stderr, "  %-20s %-9s %8.0f ms %6lld tokens\n", r.name.c_str(), r.status.c_str(),
                       r.end_ms - r.start_ms, static_cast<long long>(r.deltas));
        break;
    }
    if (tty_) draw();
  }

 private:
  struct Row {
    std::string name, status;
    double start_ms, end_ms;
    int64_t deltas;
  };
  Row& row(const std::string& name) {
    for (auto& r : rows_)
      if (r.name == name) return r;
    return rows_.front();
  }
  void draw() {
    if (drawn_) std::fprintf(stderr, "\x1b[%zuA", rows_.size());
    double now = std::chrono::duration<double, std::milli>(Clock::now() - t0_).count();
    for (const auto& r : rows_) {
      double ms = r.status == "running" ? now - r.start_ms : r.status == "waiting" ? 0 : r.end_ms - r.start_ms;
      const char* mark = r.status == "ok" ? "\x1b[32m✓\x1b[0m" : r.status == "running" ? "\x1b[33m…\x1b[0m"
                         : r.status == "waiting" ? " " : "\x1b[31m✗\x1b[0m";
      std::fprintf(stderr, "\x1b[2K %s %-20s %-9s %8.0f ms %6lld tokens\n", mark, r.name.c_str(), r.status.c_str(), ms,
                   static_cast<long long>(r.deltas));
    }
    std::fflush(stderr);
    drawn_ = true;
    last_draw_ = Clock::now();
  }
  bool tty_, quiet_;
  bool drawn_ = false;
  std::vector<Row> rows_;
  Clock::time_point t0_ = Clock::now(), last_draw_{};
};

int run_flow_verb(const FlowArgs& a) {
  auto cfg = load_config(a);
  if (auto* err = std::get_if<std::string>(&cfg)) return fail("flow", *err, "check --config and --set");
  json::object inputs;
  if (auto err = parse_inputs(a.inputs, inputs)) return fail("flow", *err, "e.g. --input document=@contract.txt");
  spdlog::set_level(spdlog::level::warn);
  pipeline::StageRegistry registry;
  stages::register_builtin_stages(registry);
  auto made = server::Gateway::create(std::get<config::Config>(cfg), registry, make_token_counter);
  if (auto* err = std::get_if<std::string>(&made))
    return fail("flow", *err, "give models with --config or --upstream URL");
  auto& gw = *std::get<std::unique_ptr<server::Gateway>>(made);
  auto has_model = [&gw](std::string_view m) { return gw.has_model(m); };
  std::optional<flows::Flow> from_file;
  const flows::Flow* flow = nullptr;
  std::string path = looks_like_file(a.flow) ? a.flow : "";
  if (path.empty() && !(flow = gw.find_flow(a.flow))) path = builtin_path(a.flow);
  if (!flow) {
    if (path.empty())
      return fail("flow", "no flow '" + a.flow + "' in the config, flows.dir or data/flows",
                  "give a FILE.yaml or the name of a configured flow");
    auto f = flows::load_flow_file(path, has_model);
    if (auto* err = std::get_if<std::string>(&f)) return fail("flow", *err, "kuai flow check FILE.yaml shows the same");
    from_file = std::get<flows::Flow>(std::move(f));
    flow = &*from_file;
  }
  if (auto err = flows::check_inputs(*flow, inputs)) return fail("flow", *err, "add --input NAME=VALUE");
  gw.stop_on_signals();
  bool tty = ::isatty(STDERR_FILENO);
  LiveView view(*flow, tty, a.json_out);  // --json: stdout is the run, stderr stays quiet
  auto result = gw.run_flow(*flow, std::move(inputs), [&view](const flows::Event& e) { view.on_event(e); });
  if (!result) return fail("flow", "interrupted before the run finished");
  if (a.json_out) {
    std::printf("%s\n", json::serialize(result->to_json()).c_str());
  } else {
    for (const auto& kv : result->outputs)
      std::printf("== %s ==\n%s\n", std::string(kv.key()).c_str(), flows::value_text(kv.value()).c_str());
    std::fprintf(stderr, "run %s %s: wall %.0f ms, critical path %.0f ms, steps one after another %.0f ms\n",
                 result->id.c_str(), result->status.c_str(), result->wall_ms, result->critical_path_ms,
                 result->sum_steps_ms);
  }
  if (result->status != "completed") return fail("flow", result->error, "see the step's error in --json");
  return 0;
}

int check_flow_verb(const FlowArgs& a) {
  flows::ModelExists has_model;
  std::set<std::string> models;
  if (!a.config_file.empty()) {
    auto cfg = load_config(a);
    if (auto* err = std::get_if<std::string>(&cfg)) return fail("flow", *err, "check --config");
    const auto& c = std::get<config::Config>(cfg);
    for (const char* key : {"models", "engine.models"})
      if (YAML::Node m = c.at(key); m && m.IsMap())
        for (const auto& kv : m) models.insert(kv.first.as<std::string>());
    if (c.at("engine.models")) models.insert("default");
    has_model = [&models](std::string_view m) { return models.count(std::string(m)) > 0; };
  }
  std::string path = looks_like_file(a.flow) ? a.flow : builtin_path(a.flow);
  if (path.empty()) return fail("flow", "no flow file '" + a.flow + "'", "give a FILE.yaml");
  auto f = flows::load_flow_file(path, has_model);
  if (auto* err = std::get_if<std::string>(&f)) {
    std::fprintf(stderr, "%s\n", err->c_str());
    return 1;
  }
  const auto& flow = std::get<flows::Flow>(f);
  std::printf("%s: flow '%s' is valid: %zu steps%s\n", path.c_str(), flow.name.c_str(), flow.steps.size(),
              has_model ? "" : " (models not checked: give --config)");
  return 0;
}

const VerbRegistrar kFlow("flow", [](CLI::App& root) {
  auto* cmd = root.add_subcommand("flow", "Run or check a flow: a task as a DAG of model calls (docs/FLOWS.md).");
  cmd->require_subcommand(1);
  auto args = std::make_shared<FlowArgs>();
  auto* run = cmd->add_subcommand("run", "Run a flow here, with a live view of its steps (stderr) and its outputs (stdout).");
  run->add_option("flow", args->flow, "FILE.yaml, or the name of a flow in the config, flows.dir or data/flows")->required();
  run->add_option("--input,-i", args->inputs, "NAME=VALUE, or NAME=@FILE to read the value from a file (repeatable)");
  run->add_flag("--json", args->json_out, "print the whole run (outputs, per-step trace, timing) as JSON");
  run->add_option("--config,-c", args->config_file, "YAML config (models, stages, flows)");
  run->add_option("--upstream", args->upstream, "an OpenAI-compatible base URL serving model 'default' and any unknown model");
  run->add_option("--set", args->sets, "override a config key: a.b.c=value (repeatable)");
  run->callback([args] { set_exit_code(run_flow_verb(*args)); });
  auto* check = cmd->add_subcommand("check", "Validate a flow file: cycles, unknown references, unknown models (file:line).");
  check->add_option("file", args->flow, "FILE.yaml (or a built-in flow's name)")->required();
  check->add_option("--config,-c", args->config_file, "YAML config whose models the flow may name");
  check->callback([args] { set_exit_code(check_flow_verb(*args)); });
});

}  // namespace
}  // namespace kuai::app
