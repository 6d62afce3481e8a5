// The flags `kuai serve` and `kuai worker` share (config file, --set, quick-start upstream, embedded
// models, log level) and the config they build: both verbs run the same models, stages and tenants.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

namespace kuai::config { class Config; }

namespace kuai::app {

struct GatewayArgs {
  std::string config_file;
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

// Adds the shared flags to `cmd`.
void add_gateway_options(CLI::App* cmd, GatewayArgs& args);

// Loads the config file and applies the flags (and sets the log level). On failure: the message, with
// a hint for the user in `hint`.
std::optional<std::string> gateway_config(const GatewayArgs& a, config::Config& cfg, std::string& hint);

}  // namespace kuai::app
