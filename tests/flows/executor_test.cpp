// The executor on flows without model steps (templates, chunks, JSON picks, maps of templates): the
// DAG order, `when`, `map` limits, on_error and outputs. Model calls are tested on the real gateway with
// the fake upstream (tests/server/flows_test.cpp).
#include "flows/executor.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <map>

namespace kuai::flows {
namespace {

namespace json = boost::json;

// These flows have no model step, so no call is ever made.
class NoModels final : public StepCaller {
 public:
  boost::asio::awaitable<CallResult> call(api::ChatRequest, DeltaFn) override {
    throw std::runtime_error("this flow has no model step");
    co_return CallResult{};
  }
  bool has_model(std::string_view) const override { return false; }
};

RunResult run(const std::string& yaml, json::object inputs, std::vector<std::string>* events = nullptr) {
  auto parsed = parse_flow("t", YAML::Load(yaml), "t.yaml");
  if (auto* e = std::get_if<std::string>(&parsed)) {
    ADD_FAILURE() << *e;
    return {};
  }
  Flow flow = std::get<Flow>(std::move(parsed));
  NoModels caller;
  boost::asio::io_context io;
  RunResult out;
  EventFn on_event;
  if (events)
    on_event = [events](const Event& e) {
      events->push_back((e.type == Event::Type::step_started ? "start " : "done ") + e.step->name);
    };
  FlowRun fr(flow, std::move(inputs), caller, on_event);
  boost::asio::co_spawn(io, [&]() -> boost::asio::awaitable<void> { out = co_await fr.execute(); },
                        boost::asio::detached);
  io.run();
  return out;
}

// Model calls that each take 20 ms of a timer, counting how many run at once per model.
class CountingCaller final : public StepCaller {
 public:
  boost::asio::awaitable<CallResult> call(api::ChatRequest req, DeltaFn) override {
    int n = ++now[req.model];
    peak[req.model] = std::max(peak[req.model], n);
    boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, std::chrono::milliseconds(20));
    co_await t.async_wait(boost::asio::use_awaitable);
    --now[req.model];
    CallResult r;
    r.text = "ok";
    r.model = req.model;
    co_return r;
  }
  bool has_model(std::string_view) const override { return true; }
  std::map<std::string, int> now, peak;
};

// Runs a flow of CountingCaller calls: the most calls that ran at once, per model.
std::map<std::string, int> peak_calls(const std::string& yaml) {
  auto parsed = parse_flow("t", YAML::Load(yaml), "t.yaml");
  if (auto* e = std::get_if<std::string>(&parsed)) {
    ADD_FAILURE() << *e;
    return {};
  }
  Flow flow = std::get<Flow>(std::move(parsed));
  CountingCaller caller;
  boost::asio::io_context io;
  RunResult out;
  FlowRun fr(flow, {}, caller, {});
  boost::asio::co_spawn(io, [&]() -> boost::asio::awaitable<void> { out = co_await fr.execute(); },
                        boost::asio::detached);
  io.run();
  EXPECT_EQ(out.status, "completed") << out.error;
  return caller.peak;
}

// A map step's max_parallel holds above the run's default cap (16) when the flow writes none; a cap the
// flow writes still holds.
TEST(FlowExecutor, AMapStepsMaxParallelIsHonoured) {
  const std::string steps = R"(
steps:
  items: {json: "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]"}
  a: {map: "${steps.items.output}", model: m, max_parallel: 32, prompt: "x ${item}"}
)";
  EXPECT_EQ(peak_calls(steps)["m"], 20);
  std::string capped = "max_parallel: 8";
  capped += steps;
  EXPECT_EQ(peak_calls(capped)["m"], 8);
}

// max_parallel_per_model caps one model's calls inside a run; other models still use the run's slots.
TEST(FlowExecutor, APerModelCapHoldsWhileOtherModelsRun) {
  auto peak = peak_calls(R"(
max_parallel: 16
max_parallel_per_model: {small: 2}
steps:
  items: {json: "[1,2,3,4,5,6,7,8]"}
  a: {map: "${steps.items.output}", model: small, max_parallel: 8, prompt: "x ${item}"}
  b: {map: "${steps.items.output}", model: large, max_parallel: 8, prompt: "y ${item}"}
)");
  EXPECT_EQ(peak["small"], 2) << "the cap on small";
  EXPECT_GT(peak["large"], 2) << "large has no cap of its own";
  EXPECT_NE(std::get<std::string>(parse_flow("t", YAML::Load("max_parallel_per_model: {small: 0}\nsteps:\n  a: {template: x}\n"), "t.yaml"))
                .find("max_parallel_per_model"),
            std::string::npos);
}

TEST(FlowExecutor, StepsRunAfterWhatTheyReference) {
  std::vector<std::string> events;
  auto r = run(R"(
inputs: [name]
steps:
  greet: {template: "hello ${steps.upper.output}"}
  upper: {template: "dear ${inputs.name}"}
  data: {json: "{\"who\": {\"n\": [\"x\", \"y\"]}}", pick: who.n}
  second: {json: "${steps.data.output}", pick: "1"}
outputs: {greeting: "${steps.greet.output}", second: "${steps.second.output}", list: "${steps.data.output}"}
)",
               {{"name", "kuai"}}, &events);
  EXPECT_EQ(r.status, "completed");
  EXPECT_EQ(r.outputs.at("greeting").as_string(), "hello dear kuai");
  EXPECT_EQ(r.outputs.at("second").as_string(), "y");
  EXPECT_TRUE(r.outputs.at("list").is_array());  // a sole reference keeps the JSON type
  auto pos = [&](const std::string& e) { return std::find(events.begin(), events.end(), e) - events.begin(); };
  EXPECT_LT(pos("done upper"), pos("start greet"));
  EXPECT_LT(pos("done data"), pos("start second"));
}

TEST(FlowExecutor, WhenSkipsAndMapFansOutOverLinesAndChunks) {
  auto r = run(R"(
inputs: [mode, text]
steps:
  lines: {template: "a\nb\n\nc"}
  each: {map: "${steps.lines.output}", template: "<${item}>"}
  parts: {chunk: "${inputs.text}", tokens: 5}
  sizes: {map: "${steps.parts.output}", template: "[${item}]"}
  only_fast: {template: "fast", when: "${inputs.mode} == fast"}
  only_slow: {template: "slow", when: "${inputs.mode} == slow"}
)",
               {{"mode", "fast"}, {"text", "One two three. Four five six. Seven."}});
  ASSERT_EQ(r.status, "completed") << r.error;
  EXPECT_EQ(json::serialize(r.outputs.at("each")), R"(["<a>","<b>","<c>"])");
  EXPECT_EQ(r.outputs.at("sizes").as_array().size(), 3u);
  EXPECT_EQ(r.outputs.at("only_fast").as_string(), "fast");
  EXPECT_TRUE(r.outputs.at("only_slow").is_null());
  EXPECT_EQ(r.steps[5].status, "skipped");
}

TEST(FlowExecutor, FailuresFollowOnErrorAndKeepFinishedOutputs) {
  auto r = run(R"(
steps:
  ok: {template: "fine"}
  soft: {json: "not json", on_error: default, default: "{}"}
  hard: {json: "not json either"}
  after: {template: "${steps.hard.output}"}
)",
               {});
  EXPECT_EQ(r.status, "failed");
  EXPECT_EQ(r.failed_step, "hard");
  EXPECT_NE(r.error.find("step 'hard'"), std::string::npos) << r.error;
  EXPECT_EQ(r.step_outputs.at("ok").as_string(), "fine");
  EXPECT_EQ(r.step_outputs.at("soft").as_string(), "{}");
  EXPECT_EQ(r.steps[3].status, "pending");
  EXPECT_FALSE(r.outputs.contains("after"));

  r = run("inputs: [l]\nsteps:\n  m: {map: \"${inputs.l}\", template: \"${item}\", max_items: 2}\n", {{"l", "[1, 2, 3]"}});
  EXPECT_EQ(r.status, "failed");
  EXPECT_NE(r.error.find("more than max_items 2"), std::string::npos) << r.error;
  r = run("inputs: [l]\nsteps:\n  m: {map: \"${inputs.l}\", template: \"${item}\"}\n", {{"l", json::parse("{\"a\": 1}")}});
  EXPECT_EQ(r.status, "failed");
  EXPECT_NE(r.error.find("needs a list"), std::string::npos) << r.error;
}

TEST(FlowExecutor, InputsAreChecked) {
  auto parsed = parse_flow("t", YAML::Load("inputs: {a: text, b: {default: x}}\nsteps:\n  s: {template: \"${inputs.a}\"}\n"), "");
  const Flow& f = std::get<Flow>(parsed);
  EXPECT_EQ(check_inputs(f, {{"a", "1"}}), std::nullopt);
  EXPECT_NE(check_inputs(f, {}), std::nullopt);
  EXPECT_NE(check_inputs(f, {{"a", "1"}, {"zz", "2"}}), std::nullopt);
  std::string err;
  EXPECT_TRUE(parse_json_answer("Sure! ```json\n{\"a\": 1}\n```", err));
  EXPECT_TRUE(parse_json_answer("Here: [1, 2] done", err));
  EXPECT_FALSE(parse_json_answer("no json", err));
}

}  // namespace
}  // namespace kuai::flows
