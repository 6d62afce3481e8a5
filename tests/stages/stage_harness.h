// Test helpers for the input stages (slim, window, summarize): build messages and requests, run a stage
// or a whole pipeline to completion on a private io_context.
#pragma once

#include "api/chat.h"
#include "app/token_counter.h"
#include "config/config.h"
#include "pipeline/pipeline.h"
#include "stages/registry.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace kuai::stages::testing {

inline api::Message msg(std::string role, std::string content) {
  api::Message m;
  m.role = std::move(role);
  m.content = std::move(content);
  m.raw = {{"role", m.role}, {"content", m.content}};
  return m;
}

inline api::Message tool_call(std::string id, std::string fn_args) {
  api::Message m = msg("assistant", "");
  m.raw["content"] = nullptr;
  m.raw["tool_calls"] = boost::json::array{
      {{"id", id}, {"type", "function"}, {"function", {{"name", "lookup"}, {"arguments", fn_args}}}}};
  return m;
}

inline api::Message tool_result(std::string id, std::string content) {
  api::Message m = msg("tool", std::move(content));
  m.raw["tool_call_id"] = id;
  return m;
}

inline api::ChatRequest request(std::vector<api::Message> messages, std::string model = "test-model") {
  api::ChatRequest r;
  r.model = std::move(model);
  r.messages = std::move(messages);
  r.raw = {{"model", r.model}};
  return r;
}

inline std::string header(const pipeline::Context& ctx, std::string_view name) {
  for (const auto& [k, v] : ctx.response_headers)
    if (k == name) return v;
  return {};
}

// Builds the pipeline from YAML config and runs one request through it.
// Tokens are counted as `kuai serve` counts them: the app's counter over the engine's tokenizers
// (src/app/token_counter.cpp is built into this test binary).
struct PipelineRun {
  config::Config cfg;
  std::unique_ptr<pipeline::TokenCounter> tokens;
  pipeline::Services services;
  pipeline::Pipeline pipe;
  boost::asio::io_context io;

  explicit PipelineRun(const std::string& yaml) {
    if (auto err = config::Config::load_string(yaml, cfg)) throw std::runtime_error(*err);
    services.config = &cfg;
    services.executor = io.get_executor();
    std::string error;
    tokens = app::make_token_counter(cfg, error);
    if (!tokens) throw std::runtime_error(error);
    services.tokens = tokens.get();
    pipeline::StageRegistry registry;
    register_builtin_stages(registry);
    auto built = pipeline::build_pipeline(cfg, services, registry);
    if (auto* e = std::get_if<std::string>(&built)) throw std::runtime_error(*e);
    pipe = std::move(std::get<pipeline::Pipeline>(built));
  }

  pipeline::Context run(api::ChatRequest req) {
    pipeline::Context ctx;
    ctx.request = std::move(req);
    ctx.services = &services;
    ctx.request_id = "chatcmpl-test";
    auto fut = boost::asio::co_spawn(io, pipe.run_request(ctx), boost::asio::use_future);
    io.restart();
    io.run();
    fut.get();
    return ctx;
  }
};

}  // namespace kuai::stages::testing
