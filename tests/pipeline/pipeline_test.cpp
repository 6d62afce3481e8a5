// The pipeline mechanism with small test stages: timing of every stage, on/off from config,
// short-circuit by an answering stage, errors named after the stage, on_response hooks.
#include "api/error.h"
#include "config/config.h"
#include "pipeline/pipeline.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <atomic>
#include <map>

using namespace kuai;
using namespace kuai::pipeline;
namespace net = boost::asio;

namespace {

// What each test stage did, by stage name.
struct Log {
  std::map<std::string, int> requests, responses;
};

// Appends its name to the last user message; answers when `answer`, throws when `fail`.
class TestStage final : public Stage {
 public:
  TestStage(std::string name, Log& log, const YAML::Node& cfg)
      : name_(std::move(name)), log_(log), answer_(cfg["answer"].as<bool>(false)),
        fail_(cfg["fail"].as<std::string>("")) {}
  std::string_view name() const override { return name_; }
  net::awaitable<Verdict> on_request(Context& ctx) override {
    ++log_.requests[name_];
    if (fail_ == "api") throw api::Error::rate_limited("slow down");
    if (fail_ == "std") throw std::runtime_error("broken stage");
    ctx.request.messages.back().content += "+" + name_;
    ctx.tokens_saved += 1;
    if (answer_) {
      api::ChatResponse r;
      r.choices.push_back(api::Choice{0, "answered by " + name_, "stop", {}});
      co_return Verdict::respond(std::move(r));
    }
    co_return Verdict::next();
  }
  void on_response(Context&, const api::ChatResponse&) override { ++log_.responses[name_]; }

 private:
  std::string name_;
  Log& log_;
  bool answer_;
  std::string fail_;
};

StageRegistry test_registry(Log& log) {
  StageRegistry reg;
  for (std::string n : {"a", "b", "c"}) {
    reg.add(n, [n, &log](const YAML::Node& cfg, Services&, std::string&) -> std::unique_ptr<Stage> {
      return std::make_unique<TestStage>(n, log, cfg);
    });
  }
  return reg;
}

Pipeline build(const std::string& yaml, Log& log, Services& services) {
  config::Config cfg;
  EXPECT_FALSE(config::Config::load_string(yaml, cfg));
  auto built = build_pipeline(cfg, services, test_registry(log));
  if (auto* err = std::get_if<std::string>(&built)) {
    ADD_FAILURE() << *err;
    return Pipeline();
  }
  return std::move(std::get<Pipeline>(built));
}

std::optional<api::ChatResponse> run(const Pipeline& p, Context& ctx) {
  net::io_context ioc;
  auto fut = net::co_spawn(ioc, p.run_request(ctx), net::use_future);
  ioc.run();
  return fut.get();
}

Context make_ctx() {
  Context ctx;
  api::Message m;
  m.role = "user";
  m.content = "hi";
  ctx.request.messages.push_back(m);
  return ctx;
}

}  // namespace

TEST(Pipeline, RunsStagesInConfigOrderAndTimesEach) {
  Log log;
  Services sv;
  Pipeline p = build("pipeline: [b, a]\n", log, sv);
  Context ctx = make_ctx();
  auto answer = run(p, ctx);
  EXPECT_FALSE(answer);
  EXPECT_EQ(ctx.request.messages.back().content, "hi+b+a");
  ASSERT_EQ(ctx.trace.stages.size(), 2u);
  EXPECT_EQ(ctx.trace.stages[0].name, "b");
  EXPECT_EQ(ctx.trace.stages[1].outcome, "continue");
  std::string st = ctx.trace.server_timing();
  EXPECT_NE(st.find("b;dur="), std::string::npos) << st;
  EXPECT_NE(st.find("a;dur="), std::string::npos) << st;
  EXPECT_EQ(ctx.tokens_saved, 2);
}

TEST(Pipeline, DisabledStageDoesNotRun) {
  Log log;
  Services sv;
  Pipeline p = build("pipeline: [a, b, c]\nstages:\n  b:\n    enabled: false\n", log, sv);
  Context ctx = make_ctx();
  run(p, ctx);
  EXPECT_EQ(log.requests["a"], 1);
  EXPECT_EQ(log.requests["b"], 0);
  EXPECT_EQ(log.requests["c"], 1);
  EXPECT_EQ(ctx.request.messages.back().content, "hi+a+c");
  EXPECT_EQ(ctx.trace.server_timing().find("b;"), std::string::npos);
  // on_response only for stages that ran.
  p.run_response(ctx, api::ChatResponse{});
  EXPECT_EQ(log.responses["a"], 1);
  EXPECT_EQ(log.responses["b"], 0);
  EXPECT_EQ(log.responses["c"], 1);
}

TEST(Pipeline, AnsweringStageShortCircuits) {
  Log log;
  Services sv;
  Pipeline p = build("pipeline: [a, b, c]\nstages:\n  b:\n    answer: true\n", log, sv);
  Context ctx = make_ctx();
  auto answer = run(p, ctx);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->text(), "answered by b");
  EXPECT_EQ(log.requests["c"], 0);
  EXPECT_EQ(ctx.trace.stages.back().outcome, "answer");
  EXPECT_NE(ctx.trace.server_timing().find("b;dur="), std::string::npos);
  p.run_response(ctx, *answer);
  EXPECT_EQ(log.responses["a"], 1);
  EXPECT_EQ(log.responses["b"], 1);
  EXPECT_EQ(log.responses["c"], 0);
}

TEST(Pipeline, StageErrorsBecomeApiErrors) {
  Log log;
  Services sv;
  Pipeline p = build("pipeline: [a, b]\nstages:\n  b:\n    fail: std\n", log, sv);
  Context ctx = make_ctx();
  try {
    run(p, ctx);
    FAIL() << "no error";
  } catch (const api::Error& e) {
    EXPECT_EQ(e.status(), 500);
    EXPECT_NE(std::string(e.what()).find("stage 'b'"), std::string::npos);
  }
  EXPECT_EQ(ctx.trace.stages.back().outcome, "error");
  Pipeline p2 = build("pipeline: [a]\nstages:\n  a:\n    fail: api\n", log, sv);
  Context ctx2 = make_ctx();
  try {
    run(p2, ctx2);
    FAIL() << "no error";
  } catch (const api::Error& e) {
    EXPECT_EQ(e.status(), 429);  // a stage's own api::Error keeps its status
  }
}

TEST(Pipeline, BadConfigIsAMessage) {
  Log log;
  Services sv;
  config::Config cfg;
  ASSERT_FALSE(config::Config::load_string("pipeline: [a, nope]\n", cfg));
  auto built = build_pipeline(cfg, sv, test_registry(log));
  ASSERT_TRUE(std::holds_alternative<std::string>(built));
  EXPECT_NE(std::get<std::string>(built).find("nope"), std::string::npos);
  ASSERT_FALSE(config::Config::load_string("pipeline: a\n", cfg));
  EXPECT_TRUE(std::holds_alternative<std::string>(build_pipeline(cfg, sv, test_registry(log))));
}

// The one Server-Timing formatter: stage entries (desc only for an outcome other than continue), then
// whatever the server appends (upstream, total), three decimals, ", " between entries.
TEST(Pipeline, ServerTimingFormat) {
  Trace t;
  t.stages.push_back({"kuai-stage-slim", 0.0125, "continue"});
  t.stages.push_back({"kuai-stage-cache", 2.5, "answer"});
  std::string st = t.server_timing();
  EXPECT_EQ(st, "kuai-stage-slim;dur=0.013, kuai-stage-cache;dur=2.500;desc=\"answer\"");
  append_server_timing(st, "upstream", 12.0, "first byte");
  append_server_timing(st, "total", 1234.56789);
  EXPECT_EQ(st, "kuai-stage-slim;dur=0.013, kuai-stage-cache;dur=2.500;desc=\"answer\", "
                "upstream;dur=12.000;desc=\"first byte\", total;dur=1234.568");
  std::string alone;
  append_server_timing(alone, "total", 0);
  EXPECT_EQ(alone, "total;dur=0.000");
}

// Switching a stage on by its own keys works without a `pipeline` list: the configured stages run in
// the registry's (canonical) order; `enabled: false` keeps one off.
TEST(Pipeline, ConfiguredStagesRunInCanonicalOrderWithoutAList) {
  Log log;
  Services sv;
  Pipeline p = build("stages:\n  c: {}\n  a:\n    enabled: true\n  b:\n    enabled: false\n", log, sv);
  EXPECT_EQ(p.stage_names(), (std::vector<std::string>{"a", "c"}));
  Context ctx = make_ctx();
  run(p, ctx);
  EXPECT_EQ(ctx.request.messages.back().content, "hi+a+c");
}

// With a `pipeline` list, a stage configured on but left out of it would be silently ignored: that is a
// start-up error that names the stage and the fixed list.
TEST(Pipeline, ConfiguredStageMissingFromTheListIsAnError) {
  Log log;
  Services sv;
  config::Config cfg;
  ASSERT_FALSE(config::Config::load_string("pipeline: [a]\nstages:\n  b:\n    answer: true\n", cfg));
  auto built = build_pipeline(cfg, sv, test_registry(log));
  ASSERT_TRUE(std::holds_alternative<std::string>(built));
  const auto& err = std::get<std::string>(built);
  EXPECT_NE(err.find("stage 'b' is configured (stages.b) but not in 'pipeline: [a]'"), std::string::npos) << err;
  EXPECT_NE(err.find("pipeline: [a, b]"), std::string::npos) << err;
  // Switched off, it may stay configured outside the list.
  ASSERT_FALSE(config::Config::load_string("pipeline: [a]\nstages:\n  b:\n    enabled: false\n", cfg));
  EXPECT_TRUE(std::holds_alternative<Pipeline>(build_pipeline(cfg, sv, test_registry(log))));
  // A stage the binary does not know, configured without a list, is named too.
  ASSERT_FALSE(config::Config::load_string("stages:\n  zz: {}\n", cfg));
  built = build_pipeline(cfg, sv, test_registry(log));
  ASSERT_TRUE(std::holds_alternative<std::string>(built));
  EXPECT_NE(std::get<std::string>(built).find("unknown stage 'zz'"), std::string::npos);
}
