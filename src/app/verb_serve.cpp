// kuai serve: the gateway. Config file + --set overrides + quick-start flags; graceful stop on
// SIGINT/SIGTERM (stop accepting, finish in-flight requests within server.drain_timeout_ms, exit 0).
#include "app/token_counter.h"
#include "app/verbs.h"

#include "app/gateway_args.h"

#include "config/config.h"
#include "pipeline/pipeline.h"
#include "server/gateway.h"
#include "stages/registry.h"

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>

namespace kuai::app {
namespace {

struct ServeArgs : GatewayArgs {
  int port = -1;
  std::string host;
};

int run_serve(const ServeArgs& a) {
  config::Config cfg;
  std::string hint;
  if (auto err = gateway_config(a, cfg, hint)) return fail("serve", *err, hint);
  if (a.port >= 0) cfg.set("server.port", YAML::Node(a.port));
  if (!a.host.empty()) cfg.set("server.host", YAML::Node(a.host));

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
  add_gateway_options(cmd, *args);
  cmd->add_option("--port,-p", args->port, "listen port (server.port; 0 picks a free one)");
  cmd->add_option("--host", args->host, "listen address (server.host)");
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
