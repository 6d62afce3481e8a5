#include "app/gateway_args.h"

#include "config/config.h"

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>

namespace kuai::app {

void add_gateway_options(CLI::App* cmd, GatewayArgs& args) {
  cmd->add_option("--config,-c", args.config_file, "YAML config file (docs/CONFIG.md)");
  cmd->add_option("--upstream", args.upstream,
                  "quick start: an OpenAI-compatible base URL (e.g. http://127.0.0.1:9000) serving model "
                  "'default' and any model not listed in the config");
  cmd->add_option("--upstream-model", args.upstream_model,
                  "with --upstream: the model name the upstream knows (default: the public name, 'default')");
  cmd->add_option("--set", args.sets, "override a config key: a.b.c=value (repeatable)");
  cmd->add_option("--threads", args.threads, "I/O threads (server.io_threads)");
  cmd->add_option("--model,-m", args.models,
                  "serve a GGUF file with the embedded engine: PATH (public name = file stem) or NAME=PATH; "
                  "repeatable; the first is also model 'default' (engine.models)");
  cmd->add_option("--kv-memory", args.kv_memory, "KV cache bytes per model, e.g. 512MiB (engine.kv_memory)");
  cmd->add_option("--kv-type", args.kv_type, "KV cache type: f16|q8_0|f32 (engine.kv_type)");
  cmd->add_option("--engine-threads", args.engine_threads, "compute threads per model, 0 = all cores (engine.threads)");
  cmd->add_option("--max-batch-tokens", args.max_batch_tokens, "tokens per engine step (engine.max_batch_tokens)");
  cmd->add_option("--max-seqs", args.max_seqs, "sequences batched at once (engine.max_seqs)");
  cmd->add_option("--log-level", args.log_level, "trace|debug|info|warn|error|off (log.level)");
}

std::optional<std::string> gateway_config(const GatewayArgs& a, config::Config& cfg, std::string& hint) {
  if (!a.config_file.empty()) {
    if (auto err = config::Config::load_file(a.config_file, cfg)) {
      hint = "check the path and the YAML syntax";
      return *err;
    }
  }
  if (!a.upstream.empty()) {
    // Quick start: one public model `default` served by this OpenAI-compatible URL, and every request
    // naming a model that is not in `models` goes to it (server.fallback_model).
    YAML::Node backend(YAML::NodeType::Map);
    backend["url"] = a.upstream;
    if (!a.upstream_model.empty()) backend["model"] = a.upstream_model;
    YAML::Node list(YAML::NodeType::Sequence);
    list.push_back(backend);
    cfg.set("models.default.backends", list);
    cfg.set("server.fallback_model", YAML::Node("default"));
  }
  for (const auto& m : a.models) {
    // NAME=PATH, or PATH served under its file stem ("stories260K.gguf" -> "stories260K").
    std::string name, path = m;
    if (auto eq = m.find('='); eq != std::string::npos && !std::filesystem::exists(m)) {
      name = m.substr(0, eq);
      path = m.substr(eq + 1);
    }
    if (name.empty()) name = std::filesystem::path(path).stem().string();
    if (!std::filesystem::is_regular_file(path)) {
      hint = "give a GGUF file: --model path/to/model.gguf";
      return "model file not found: " + path;
    }
    cfg.set("engine.models." + name, YAML::Node(path));
  }
  // The first local model is also public model `default` (local_backend.cpp); without --upstream it
  // serves requests naming any unknown model, unless the config names another fallback.
  if (!a.models.empty() && a.upstream.empty() && !cfg.at("server.fallback_model"))
    cfg.set("server.fallback_model", YAML::Node("default"));
  if (!a.kv_memory.empty()) cfg.set("engine.kv_memory", YAML::Node(a.kv_memory));
  if (!a.kv_type.empty()) cfg.set("engine.kv_type", YAML::Node(a.kv_type));
  if (a.engine_threads >= 0) cfg.set("engine.threads", YAML::Node(a.engine_threads));
  if (a.max_batch_tokens >= 0) cfg.set("engine.max_batch_tokens", YAML::Node(a.max_batch_tokens));
  if (a.max_seqs >= 0) cfg.set("engine.max_seqs", YAML::Node(a.max_seqs));
  for (const auto& s : a.sets)
    if (auto err = cfg.apply_override(s)) {
      hint = "use --set a.b.c=value";
      return *err;
    }
  if (a.threads > 0) cfg.set("server.io_threads", YAML::Node(a.threads));
  // Set before the gateway (and its key validation) starts, so it is checked here.
  std::string level = a.log_level.empty() ? cfg.at("log.level").as<std::string>("info") : a.log_level;
  auto spd_level = spdlog::level::from_str(level);
  if (spd_level == spdlog::level::off && level != "off") {
    hint = "use trace, debug, info, warn, error or off";
    return "unknown log level '" + level + "'";
  }
  spdlog::set_level(spd_level);
  return std::nullopt;
}

}  // namespace kuai::app
