// kuai serve: the gateway. Config file + --set overrides + quick-start flags; graceful stop on
// SIGINT/SIGTERM (stop accepting, finish in-flight requests within server.drain_timeout_ms, exit 0).
#include "app/token_counter.h"
#include "app/verbs.h"

#include "config/config.h"
#include "pipeline/pipeline.h"
#include "server/gateway.h"
#include "stages/registry.h"

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

namespace kuai::app {
namespace {

struct ServeArgs {
  std::string config_file;
  int port = -1;
  std::string host;
  std::string upstream;
  std::string upstream_model;
  std::vector<std::string> sets;
  int threads = 0;
  std::string log_level;
  // Embedded engine (engine.*): --model PATH or NAME=PATH, repeatable.
  std::vector<std::string> models;
  std::string kv_memory, kv_type;
  int engine_threads = -1, max_batch_tokens = -1, max_seqs = -1;
};

int run_serve(const ServeArgs& a) {
  config::Config cfg;
  if (!a.config_file.empty()) {
    if (auto err = config::Config::load_file(a.config_file, cfg))
      return fail("serve", *err, "check the path and the YAML syntax");
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
    if (!std::filesystem::is_regular_file(path))
      return fail("serve", "model file not found: " + path, "give a GGUF file: --model path/to/model.gguf");
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
    if (auto err = cfg.apply_override(s)) return fail("serve", *err, "use --set a.b.c=value");
  if (a.port >= 0) cfg.set("server.port", YAML::Node(a.port));
  if (!a.host.empty()) cfg.set("server.host", YAML::Node(a.host));
  if (a.threads > 0) cfg.set("server.io_threads", YAML::Node(a.threads));
  // Set before the gateway (and its key validation) starts, so it is checked here.
  std::string level = a.log_level.empty() ? cfg.at("log.level").as<std::string>("info") : a.log_level;
  auto spd_level = spdlog::level::from_str(level);
  if (spd_level == spdlog::level::off && level != "off")
    return fail("serve", "unknown log level '" + level + "'", "use trace, debug, info, warn, error or off");
  spdlog::set_level(spd_level);

  pipeline::StageRegistry registry;
  stages::register_builtin_stages(registry);
  auto made = server::Gateway::create(cfg, registry, make_token_counter);
  if (auto* err = std::get_if<std::string>(&made))
    return fail("serve", *err, "see docs/CONFIG.md for every key and its default");
  auto& gw = *std::get<std::unique_ptr<server::Gateway>>(made);
  if (auto err = gw.listen()) return fail("serve", *err, "pick another --port (0 picks a free one)");
  gw.stop_on_signals();
  std::fprintf(stderr, "listening on %s:%u\n", gw.host().c_str(), static_cast<unsigned>(gw.port()));
  std::fflush(stderr);
  gw.run();
  spdlog::info("stopped");
  return 0;
}

const VerbRegistrar kServe("serve", [](CLI::App& root) {
  auto args = std::make_shared<ServeArgs>();
  auto* cmd = root.add_subcommand("serve", "Run the OpenAI-compatible gateway (HTTP, SSE, WebSocket).");
  cmd->add_option("--config,-c", args->config_file, "YAML config file (docs/CONFIG.md)");
  cmd->add_option("--port,-p", args->port, "listen port (server.port; 0 picks a free one)");
  cmd->add_option("--host", args->host, "listen address (server.host)");
  cmd->add_option("--upstream", args->upstream,
                  "quick start: an OpenAI-compatible base URL (e.g. http://127.0.0.1:9000) serving model "
                  "'default' and any model not listed in the config");
  cmd->add_option("--upstream-model", args->upstream_model,
                  "with --upstream: the model name the upstream knows (default: the public name, 'default')");
  cmd->add_option("--set", args->sets, "override a config key: a.b.c=value (repeatable)");
  cmd->add_option("--threads", args->threads, "I/O threads (server.io_threads)");
  cmd->add_option("--model,-m", args->models,
                  "serve a GGUF file with the embedded engine: PATH (public name = file stem) or NAME=PATH; "
                  "repeatable; the first is also model 'default' (engine.models)");
  cmd->add_option("--kv-memory", args->kv_memory, "KV cache bytes per model, e.g. 512MiB (engine.kv_memory)");
  cmd->add_option("--kv-type", args->kv_type, "KV cache type: f16|q8_0|f32 (engine.kv_type)");
  cmd->add_option("--engine-threads", args->engine_threads, "compute threads per model, 0 = all cores (engine.threads)");
  cmd->add_option("--max-batch-tokens", args->max_batch_tokens, "tokens per engine step (engine.max_batch_tokens)");
  cmd->add_option("--max-seqs", args->max_seqs, "sequences batched at once (engine.max_seqs)");
  cmd->add_option("--log-level", args->log_level, "trace|debug|info|warn|error|off (log.level)");
  std::string footer =
      "\nStages: one runs when --set stages.NAME.enabled=true switches it on or the config has a stages.NAME\n"
      "section; they run in this order unless the config lists another in 'pipeline: [...]':\n";
  pipeline::StageRegistry registry;
  stages::register_builtin_stages(registry);
  for (const auto& k : registry.known()) footer += "  " + k.name + std::string(12 - std::min<size_t>(k.name.size(), 11), ' ') + k.summary + "\n";
  footer +=
      "\nExample: kuai serve --upstream http://127.0.0.1:9000 --set stages.slim.enabled=true "
      "--set stages.cache.enabled=true\nEvery key: docs/CONFIG.md; example configs: examples/.";
  cmd->footer(footer);
  cmd->callback([args] { set_exit_code(run_serve(*args)); });
});

}  // namespace
}  // namespace kuai::app
