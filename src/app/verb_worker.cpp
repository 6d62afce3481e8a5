// kuai worker: runs job lines only (no HTTP): the lines `kuai serve` accepted, from the same job store
// (jobs.dir, embedded queue) or from RabbitMQ (jobs.queue: amqp://…), through the same models, stages
// and tenants as the gateway. SIGTERM/SIGINT: no more lines are taken, running ones finish within
// jobs.stop_grace_ms, the rest go back to the queue; exit 0.
#include "app/token_counter.h"
#include "app/verbs.h"

#include "app/gateway_args.h"
#include "config/config.h"
#include "pipeline/pipeline.h"
#include "server/gateway.h"
#include "stages/registry.h"

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <cstdio>

namespace kuai::app {
namespace {

struct WorkerArgs : GatewayArgs {
  std::string dir, queue;
  int workers = -1;
};

int run_worker(const WorkerArgs& a) {
  config::Config cfg;
  std::string hint;
  if (auto err = gateway_config(a, cfg, hint)) return fail("worker", *err, hint);
  if (!a.dir.empty()) cfg.set("jobs.dir", YAML::Node(a.dir));
  if (!a.queue.empty()) cfg.set("jobs.queue", YAML::Node(a.queue));
  if (a.workers >= 0) cfg.set("jobs.workers", YAML::Node(a.workers));
  pipeline::StageRegistry registry;
  stages::register_builtin_stages(registry);
  auto made = server::Gateway::create(cfg, registry, make_token_counter, server::Gateway::Role::worker);
  if (auto* err = std::get_if<std::string>(&made))
    return fail("worker", *err, "see docs/CONFIG.md, \"Async jobs\"");
  auto& gw = *std::get<std::unique_ptr<server::Gateway>>(made);
  // No URL here: it may hold the broker's password.
  bool amqp = cfg.get<std::string>("jobs.queue", "sqlite").rfind("amqp", 0) == 0;
  std::fprintf(stderr, "worker ready: %s\n", amqp ? "RabbitMQ (jobs.queue)" : "the job store in jobs.dir");
  std::fflush(stderr);
  gw.run_worker();
  spdlog::info("worker stopped");
  return 0;
}

const VerbRegistrar kWorker("worker", [](CLI::App& root) {
  auto args = std::make_shared<WorkerArgs>();
  auto* cmd = root.add_subcommand(
      "worker", "Run async job lines (batches, background chats) that `kuai serve` accepted; no HTTP.");
  add_gateway_options(cmd, *args);
  cmd->add_option("--dir", args->dir, "the gateway's job store folder (jobs.dir; the embedded queue)");
  cmd->add_option("--queue", args->queue, "sqlite (the store in --dir) or amqp://user:pass@host:port/vhost (jobs.queue)");
  cmd->add_option("--workers,-w", args->workers, "lines run at once (jobs.workers)");
  cmd->footer(
      "\nUse the gateway's config (models, stages, tenants) so a line runs as it would in `kuai serve`.\n"
      "SIGTERM: no more lines are taken; running ones finish within jobs.stop_grace_ms, the rest go back\n"
      "to the queue without counting as an attempt.\n"
      "Example: kuai worker --config kuai.yaml --queue amqp://guest:guest@127.0.0.1:5672/%2f");
  cmd->callback([args] { set_exit_code(run_worker(*args)); });
});

}  // namespace
}  // namespace kuai::app
