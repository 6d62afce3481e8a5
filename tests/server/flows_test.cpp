// Integration: flows on the real `kuai serve` in front of the real `kuai fake-upstream --script`.
// Parallelism is checked on the run's own trace (start/end of each call), never on wall-clock limits.
#include "support/gateway_procs.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

using namespace kuai::test;
namespace json = boost::json;

namespace {

std::string write_temp(const std::string& text, const char* suffix = "") {
  char tmpl[] = "/tmp/kuai-flows-test-XXXXXX";
  int fd = mkstemp(tmpl);
  ::close(fd);
  std::string path = std::string(tmpl) + suffix;
  std::ofstream(path) << text;
  return path;
}

const char* kScript = R"(# pattern => answer
does not match the schema => {"owners": ["Acme", "Beta"]}
Name the owners => {"owners": "Acme"}
Plan the work => Thought: two parts.\n1. summarize("alpha text")\n2. extract("beta text")\n3. join($1, $2)
List the parties => not json at all
not valid JSON => {"parties": ["Acme", "Beta"]}
explode => !500 scripted failure
alpha => ALPHA
beta => BETA
point => expanded point
long => one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty
)";

const char* kFlows = R"(
flows:
  par:
    inputs: {q: text}
    steps:
      a: {model: small, prompt: "alpha ${inputs.q}"}
      b: {model: small, prompt: "beta ${inputs.q}"}
      join: {template: "${steps.a.output} | ${steps.b.output}"}
    outputs: {joined: "${steps.join.output}"}
  fan:
    inputs: {doc: text}
    steps:
      items: {json: "${inputs.doc}"}
      each: {map: "${steps.items.output}", model: small, max_parallel: 2, prompt: "point ${item}"}
  jsonfix:
    steps:
      parties: {model: small, output: json, prompt: "List the parties"}
  schemafix:
    steps:
      owners: {model: small, output: json, prompt: "Name the owners",
               schema: {type: object, required: [owners], properties: {owners: {type: array, items: {type: string}}}}}
  errors:
    steps:
      bad1: {model: small, prompt: "explode one", on_error: continue}
      bad2: {model: small, prompt: "explode two", on_error: default, default: fallback}
      good: {model: small, prompt: "alpha ok"}
      after: {template: "${steps.bad1.output}/${steps.bad2.output}/${steps.good.output}"}
  failing:
    steps:
      good: {model: small, prompt: "alpha fine"}
      bad: {model: small, prompt: "explode three", retries: 2}
      after: {template: "${steps.bad.output}"}
  timeouts:
    steps:
      slow: {model: small, prompt: "long wait", timeout_ms: 50, on_error: continue}
      after: {template: "done ${steps.slow.output}"}
  planned:
    steps:
      solve:
        model: small
        prompt: "Plan the work"
        plan:
          summarize: {model: small, prompt: "alpha ${item.0}"}
          extract: {model: small, prompt: "beta ${item.0}"}
          join: {template: "${item.0}+${item.1}"}
  slow:
    steps:
      a: {model: small, prompt: "long answer one"}
      b: {model: small, prompt: "long answer two"}
)";

class FlowsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    script_ = write_temp(kScript);
    fake_ = new Fake({"--script", script_, "--ttft-ms", "100", "--tokens-per-s", "40"});
    std::string cfg = "models:\n  small:\n    backends: [{url: \"" + fake_->url() +
                      "\"}]\nupstream:\n  retries:\n    max_attempts: 1\n" + kFlows;
    config_ = write_temp(cfg);
    serve_ = new Serve({"--config", config_});
  }
  static void TearDownTestSuite() {
    delete serve_;
    delete fake_;
    std::remove(script_.c_str());
    std::remove(config_.c_str());
  }

  static json::object run(const std::string& flow, const std::string& body, HttpResponse* raw = nullptr) {
    HttpClient c(serve_->port);
    auto r = c.post("/v1/flows/" + flow + "/runs", body);
    EXPECT_EQ(r.status, 200) << r.body;
    if (raw) *raw = r;
    return parse_obj(r.body);
  }
  static const json::object& step(const json::object& run, std::string_view name) {
    static const json::object none;
    for (const auto& s : run.at("steps").as_array())
      if (s.as_object().at("step").as_string() == name) return s.as_object();
    ADD_FAILURE() << "no step " << name;
    return none;
  }
  static double num(const json::object& o, const char* k) { return o.at(k).to_number<double>(); }

  static std::string script_, config_;
  static Fake* fake_;
  static Serve* serve_;
};

std::string FlowsTest::script_, FlowsTest::config_;
Fake* FlowsTest::fake_ = nullptr;
Serve* FlowsTest::serve_ = nullptr;

}  // namespace

TEST_F(FlowsTest, IndependentStepsOverlapAndTheJoinWaitsForBoth) {
  HttpResponse raw;
  auto r = run("par", R"({"inputs": {"q": "why"}})", &raw);
  EXPECT_EQ(r.at("status").as_string(), "completed") << raw.body;
  EXPECT_EQ(r.at("outputs").at("joined").as_string(), "ALPHA | BETA");
  const auto& a = step(r, "a");
  const auto& b = step(r, "b");
  const auto& join = step(r, "join");
  // a and b ran at the same time: each started before the other ended.
  EXPECT_LT(num(a, "start_ms"), num(b, "end_ms"));
  EXPECT_LT(num(b, "start_ms"), num(a, "end_ms"));
  // The join started only once both had finished.
  EXPECT_GE(num(join, "start_ms"), std::max(num(a, "end_ms"), num(b, "end_ms")));
  EXPECT_EQ(a.at("calls").as_array()[0].as_object().at("model").as_string(), "small");
  EXPECT_GT(a.at("completion_tokens").as_int64(), 0);
  std::string timing = raw.header("server-timing");
  EXPECT_NE(timing.find("flow-critical-path;dur="), std::string::npos) << timing;
  EXPECT_NE(timing.find("flow-steps-sum;dur="), std::string::npos) << timing;
  // The critical path is shorter than the sum of the steps (a and b overlap).
  EXPECT_LT(num(r.at("timing").as_object(), "critical_path_ms"), num(r.at("timing").as_object(), "sum_steps_ms"));

  // The finished run is kept.
  HttpClient c(serve_->port);
  auto stored = c.get("/v1/flows/runs/" + std::string(r.at("id").as_string()));
  ASSERT_EQ(stored.status, 200) << stored.body;
  EXPECT_EQ(parse_obj(stored.body).at("outputs"), r.at("outputs"));
  expect_error(c.get("/v1/flows/runs/flowrun-nope"), 404);
}

TEST_F(FlowsTest, MapFanOutRespectsMaxParallel) {
  auto r = run("fan", R"({"inputs": {"doc": "[\"a\", \"b\", \"c\", \"d\", \"e\", \"f\"]"}})");
  ASSERT_EQ(r.at("status").as_string(), "completed");
  const auto& each = step(r, "each");
  EXPECT_EQ(each.at("items").as_int64(), 6);
  const auto& calls = each.at("calls").as_array();
  ASSERT_EQ(calls.size(), 6u);
  // The most calls running at one instant, from the trace: never above max_parallel (2), and 2 reached.
  std::vector<std::pair<double, int>> edges;
  for (const auto& c : calls) {
    edges.emplace_back(num(c.as_object(), "start_ms"), +1);
    edges.emplace_back(num(c.as_object(), "end_ms"), -1);
  }
  std::sort(edges.begin(), edges.end());  // an end before a start at the same instant
  int cur = 0, peak = 0;
  for (const auto& [t, d] : edges) peak = std::max(peak, cur += d);
  EXPECT_EQ(peak, 2);
  const auto& out = r.at("outputs").at("each").as_array();
  ASSERT_EQ(out.size(), 6u);
  EXPECT_EQ(out[5].as_string(), "expanded point");
}

TEST_F(FlowsTest, InvalidJsonIsRetriedOnceWithTheError) {
  auto r = run("jsonfix", "{}");
  ASSERT_EQ(r.at("status").as_string(), "completed") << json::serialize(r);
  EXPECT_EQ(r.at("outputs").at("parties").at("parties").as_array().size(), 2u);
  EXPECT_EQ(step(r, "parties").at("calls").as_array()[0].as_object().at("attempts").as_int64(), 2);
}

// Valid JSON of the wrong shape is retried once, the request naming where it breaks the step's schema.
TEST_F(FlowsTest, JsonThatBreaksTheSchemaIsRetriedOnceWithWhere) {
  auto r = run("schemafix", "{}");
  ASSERT_EQ(r.at("status").as_string(), "completed") << json::serialize(r);
  EXPECT_EQ(r.at("outputs").at("owners").at("owners").as_array().size(), 2u);
  EXPECT_EQ(step(r, "owners").at("calls").as_array()[0].as_object().at("attempts").as_int64(), 2);
  const std::string asked(fake_->stats().at("last_body").as_string());
  EXPECT_NE(asked.find("$.owners: expected array, got string"), std::string::npos) << asked;
}

TEST_F(FlowsTest, OnErrorContinueAndDefault) {
  auto r = run("errors", "{}");
  ASSERT_EQ(r.at("status").as_string(), "completed") << json::serialize(r);
  EXPECT_EQ(step(r, "bad1").at("status").as_string(), "failed");
  EXPECT_EQ(step(r, "bad2").at("status").as_string(), "default");
  EXPECT_EQ(r.at("outputs").at("after").as_string(), "/fallback/ALPHA");
}

TEST_F(FlowsTest, AStepThatExhaustsItsRetriesFailsTheRunWithTheFinishedOutputs) {
  auto r = run("failing", "{}");
  EXPECT_EQ(r.at("status").as_string(), "failed");
  EXPECT_EQ(r.at("error").at("step").as_string(), "bad");
  EXPECT_NE(std::string(r.at("error").at("message").as_string()).find("step 'bad'"), std::string::npos);
  EXPECT_EQ(r.at("step_outputs").at("good").as_string(), "ALPHA");
  EXPECT_EQ(step(r, "bad").at("calls").as_array()[0].as_object().at("attempts").as_int64(), 3);
  EXPECT_EQ(step(r, "after").at("status").as_string(), "pending");
}

TEST_F(FlowsTest, AStepPastItsTimeoutIsCancelled) {
  HttpClient(fake_->port).post("/stats/reset", "");
  auto r = run("timeouts", "{}");
  ASSERT_EQ(r.at("status").as_string(), "completed") << json::serialize(r);
  const auto& slow = step(r, "slow");
  EXPECT_EQ(slow.at("status").as_string(), "failed");
  EXPECT_NE(std::string(slow.at("error").as_string()).find("timed out after 50 ms"), std::string::npos);
  EXPECT_EQ(r.at("outputs").at("after").as_string(), "done ");
  // The upstream stream (0.6 s long) was cut, not left running: past its length, no stream has
  // completed and every stream the fake started was aborted. (On a loaded machine the 50 ms can pass
  // before the request reaches the fake: then none started, which is cancelled too.)
  std::this_thread::sleep_for(Ms(800));
  EXPECT_TRUE(wait_until(
      [&] {
        const auto s = fake_->stats();
        return s.at("streams_aborted").as_int64() == s.at("streams_started").as_int64();
      },
      Ms(5000)))
      << json::serialize(fake_->stats());
  EXPECT_EQ(fake_->stats().at("streams_completed").as_int64(), 0) << json::serialize(fake_->stats());
}

TEST_F(FlowsTest, APlanRunsItsTasksWhileItStreams) {
  auto r = run("planned", "{}");
  ASSERT_EQ(r.at("status").as_string(), "completed") << json::serialize(r);
  EXPECT_EQ(r.at("outputs").at("solve").as_string(), "ALPHA+BETA");
  const auto& calls = step(r, "solve").at("calls").as_array();
  ASSERT_EQ(calls.size(), 4u);  // the planner, then tasks 1..3
  const auto& planner = calls[0].as_object();
  const auto& t1 = calls[1].as_object();
  const auto& t2 = calls[2].as_object();
  const auto& t3 = calls[3].as_object();
  EXPECT_EQ(t1.at("item").as_int64(), 1);
  // Task 1 started as soon as its line arrived, before the planner had finished the plan.
  EXPECT_LT(num(t1, "start_ms"), num(planner, "end_ms"));
  // The join waited for both tasks it names.
  EXPECT_GE(num(t3, "start_ms"), std::max(num(t1, "end_ms"), num(t2, "end_ms")));
}

TEST_F(FlowsTest, StreamSendsStepEventsInOrder) {
  HttpClient c(serve_->port);
  auto r = c.post("/v1/flows/par/runs", R"({"inputs": {"q": "why"}, "stream": true})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("content-type"), "text/event-stream");
  std::vector<std::pair<std::string, std::string>> events;  // (type, step)
  for (const auto& d : sse_data(r.body)) {
    auto o = parse_obj(d);
    events.emplace_back(o.at("type").as_string(), o.contains("step") ? std::string(o.at("step").as_string()) : "");
  }
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().first, "run.completed");
  auto index = [&](const std::string& type, const std::string& s) {
    for (size_t i = 0; i < events.size(); ++i)
      if (events[i].first == type && events[i].second == s) return static_cast<int>(i);
    return -1;
  };
  for (const char* s : {"a", "b", "join"}) {
    int started = index("step.started", s), completed = index("step.completed", s);
    ASSERT_GE(started, 0) << s;
    EXPECT_GT(completed, started) << s;
  }
  int delta_a = index("step.delta", "a");
  EXPECT_GT(delta_a, index("step.started", "a"));
  EXPECT_LT(delta_a, index("step.completed", "a"));
  EXPECT_GT(index("step.started", "join"), std::max(index("step.completed", "a"), index("step.completed", "b")));
  EXPECT_NE(r.body.find("event: step.started\n"), std::string::npos);
  EXPECT_NE(r.trailer("server-timing").find("flow-critical-path"), std::string::npos);
}

TEST_F(FlowsTest, AClientThatGoesAwayCancelsTheRunningCalls) {
  HttpClient(fake_->port).post("/stats/reset", "");
  RawConnection conn(serve_->port);
  std::string body = R"({"stream": true})";
  ASSERT_TRUE(conn.send_all("POST /v1/flows/slow/runs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body));
  std::string got;
  ASSERT_TRUE(wait_until([&] {
    conn.recv_some(got, Ms(100));
    return got.find("step.delta") != std::string::npos;
  })) << got;
  conn.reset();
  // Both upstream streams were cut before their 20 tokens (0.5 s at 40 tokens/s) were all sent.
  EXPECT_TRUE(wait_until([&] { return fake_->stats().at("streams_aborted").as_int64() >= 2; }, Ms(5000)))
      << json::serialize(fake_->stats());
}

// background: true queues the run as a job: 202 at once, the run object when done, its step events
// resumable, and a cancel stops the running calls.
TEST_F(FlowsTest, ABackgroundRunIsAJobWithEventsAndCancel) {
  std::string dir = ::testing::TempDir() + "kuai_flow_jobs_" + std::to_string(::getpid());
  Serve gw({"--config", config_, "--set", "jobs.dir=" + dir});
  HttpClient c(gw.port);
  auto r = c.post("/v1/flows/par/runs", R"({"inputs": {"q": "x"}, "background": true})");
  ASSERT_EQ(r.status, 202) << r.body;
  auto job = parse_obj(r.body);
  EXPECT_EQ(job.at("object").as_string(), "flow.run.job");
  EXPECT_EQ(job.at("flow").as_string(), "par");
  std::string id(job.at("id").as_string());
  ASSERT_TRUE(wait_until([&] {
    job = parse_obj(c.get("/v1/flows/jobs/" + id).body);
    return job.at("status").as_string() == "completed";
  }, Ms(20000))) << json::serialize(job);
  EXPECT_EQ(job.at("run").at("outputs").at("joined").as_string(), "ALPHA | BETA") << json::serialize(job);
  std::string events = c.get("/v1/flows/jobs/" + id + "/events").body;
  for (const char* step : {"\"step\":\"a\"", "\"step\":\"b\"", "\"step\":\"join\""})
    EXPECT_NE(events.find(step), std::string::npos) << step << " in " << events;
  EXPECT_NE(events.find("step.completed"), std::string::npos) << events;
  expect_error(c.post("/v1/flows/par/runs", R"({"inputs": {"q": "x"}, "background": true, "stream": true})"), 400);
  expect_error(c.post("/v1/flows/par/runs", R"({"inputs": {}, "background": true})"), 400);

  // A cancelled run stops its upstream call (20 tokens at 40 tokens/s would take 0.5 s more).
  int64_t aborted = fake_->stats().at("streams_aborted").as_int64();
  auto slow = parse_obj(c.post("/v1/flows/runs", R"({"flow": {"steps": {"s": {"model": "small", "prompt": "long story"}}}, "background": true})").body);
  std::string sid(slow.at("id").as_string());
  // (/events streams until the job ends: poll the job instead.) Its answer starts after 100 ms and
  // lasts 0.5 s: cancel in between.
  ASSERT_TRUE(wait_until([&] { return parse_obj(c.get("/v1/flows/jobs/" + sid).body).at("status").as_string() == "in_progress"; }, Ms(10000)));
  std::this_thread::sleep_for(Ms(250));
  auto cancelled = parse_obj(c.post("/v1/flows/jobs/" + sid + "/cancel", "").body);
  EXPECT_EQ(cancelled.at("status").as_string(), "cancelled");
  EXPECT_TRUE(wait_until([&] { return fake_->stats().at("streams_aborted").as_int64() > aborted; }, Ms(5000)))
      << json::serialize(fake_->stats());
  std::filesystem::remove_all(dir);
}

TEST_F(FlowsTest, BadRequestsGetClearErrors) {
  HttpClient c(serve_->port);
  auto e = expect_error(c.post("/v1/flows/nope/runs", "{}"), 404);
  EXPECT_EQ(e.at("code").as_string(), "flow_not_found");
  e = expect_error(c.post("/v1/flows/par/runs", "{}"), 400);
  EXPECT_NE(std::string(e.at("message").as_string()).find("needs input 'q'"), std::string::npos);
  e = expect_error(c.post("/v1/flows/par/runs", R"({"inputs": {"q": "x"}, "background": true})"), 404);
  EXPECT_EQ(e.at("code").as_string(), "jobs_disabled") << "background runs are jobs: off without jobs.dir";
  e = expect_error(c.post("/v1/flows/runs", R"({"flow": "steps:\n  a: {template: \"${steps.b.output}\"}\n  b: {template: \"${steps.a.output}\"}\n"})"), 400);
  std::string msg(e.at("message").as_string());
  EXPECT_NE(msg.find("cycle"), std::string::npos) << msg;
  EXPECT_NE(msg.find("step '"), std::string::npos) << msg;
  e = expect_error(c.post("/v1/flows/runs", R"({"flow": {"steps": {"a": {"template": "${steps.zz.output}"}}}})"), 400);
  msg = e.at("message").as_string();
  EXPECT_NE(msg.find("step 'a'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("zz"), std::string::npos) << msg;
  e = expect_error(c.post("/v1/flows/runs", R"({"flow": {"steps": {"a": {"model": "huge", "prompt": "x"}}}})"), 400);
  EXPECT_NE(std::string(e.at("message").as_string()).find("unknown model 'huge'"), std::string::npos);
  // An inline flow that is valid runs.
  auto ok = c.post("/v1/flows/runs", R"({"flow": {"steps": {"a": {"model": "small", "prompt": "beta"}}}})");
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(parse_obj(ok.body).at("outputs").at("a").as_string(), "BETA");
  auto list = c.get("/v1/flows");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(parse_obj(list.body).at("data").as_array().size(), 9u);  // the flows of kFlows
}

TEST(FlowsConfig, ABadFlowStopsTheStartNamingFileLineAndStep) {
  std::string cfg = write_temp("models:\n  small:\n    backends: [{url: \"http://127.0.0.1:9\"}]\nflows:\n  f:\n    steps:\n"
                               "      a: {model: small, prompt: \"${steps.b.output}\"}\n      b: {model: small, prompt: \"${steps.a.output}\"}\n");
  auto r = run_shell(kuai_bin() + " serve --port 0 --config " + cfg);
  std::remove(cfg.c_str());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("cycle"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(":7: flow 'f' step 'a'"), std::string::npos) << r.out;
}

TEST_F(FlowsTest, CliChecksAndRunsAFlowFile) {
  std::string bad = write_temp("steps:\n  a: {model: small, prompt: hi}\n  b: {template: \"${steps.c.output}\"}\n", ".yaml");
  auto r = run_shell(kuai_bin() + " flow check " + bad + " --config " + config_);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find(bad + ":3: flow"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("step 'b'"), std::string::npos) << r.out;
  std::string unknown_model = write_temp("steps:\n  a: {model: large, prompt: hi}\n", ".yaml");
  r = run_shell(kuai_bin() + " flow check " + unknown_model + " --config " + config_);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find(":2: flow"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("unknown model 'large'"), std::string::npos) << r.out;

  std::string doc = write_temp("alpha document text");
  std::string good = write_temp("inputs: [document]\nsteps:\n  a: {model: small, prompt: \"${inputs.document}\"}\n"
                                "  b: {model: small, prompt: \"beta\"}\n", ".yaml");
  r = run_shell(kuai_bin() + " flow check " + good + " --config " + config_);
  EXPECT_EQ(r.code, 0) << r.out;
  r = run_shell(kuai_bin() + " flow run " + good + " --config " + config_ + " --input document=@" + doc + " --json 2>/dev/null");
  ASSERT_EQ(r.code, 0) << r.out;
  auto o = parse_obj(r.out);
  EXPECT_EQ(o.at("status").as_string(), "completed");
  EXPECT_EQ(o.at("outputs").at("a").as_string(), "ALPHA");
  EXPECT_EQ(o.at("outputs").at("b").as_string(), "BETA");
  r = run_shell(kuai_bin() + " flow run " + good + " --config " + config_);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("needs input 'document'"), std::string::npos) << r.out;
  for (const auto& f : {bad, unknown_model, doc, good}) std::remove(f.c_str());
}

TEST_F(FlowsTest, BuiltInFlowsLoadFromFlowsDir) {
  Serve serve({"--upstream", fake_->url(), "--set", "flows.dir=" + source_dir() + "/data/flows"});
  HttpClient c(serve.port);
  auto list = c.get("/v1/flows");
  ASSERT_EQ(list.status, 200) << list.body;
  std::set<std::string> names;
  auto listed = parse_obj(list.body);
  for (const auto& f : listed.at("data").as_array()) names.insert(std::string(f.at("id").as_string()));
  EXPECT_EQ(names, (std::set<std::string>{"compare", "extract-then-summarize", "skeleton-of-thought"}));
  auto r = c.post("/v1/flows/compare/runs", R"({"inputs": {"question": "alpha or beta?", "a": "x", "b": "y"}})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto o = parse_obj(r.body);
  EXPECT_EQ(o.at("status").as_string(), "completed");
  EXPECT_GE(step(o, "judge").at("start_ms").to_number<double>(),
            std::max(step(o, "analysis_a").at("end_ms").to_number<double>(),
                     step(o, "analysis_b").at("end_ms").to_number<double>()));
  EXPECT_EQ(o.at("outputs").at("verdict").as_string(), "ALPHA");
}
