// Stages turn on the way a new user tries first (issue 23): `--set stages.<name>.enabled=true` alone runs
// the stage (no `pipeline` list needed), and a configured stage left out of an explicit `pipeline` list is
// a start-up error that says how to fix it, instead of a gateway that silently skips the stage.
#include "support/gateway_procs.h"

#include <gtest/gtest.h>

using namespace kuai::test;

namespace {

const char* kChat = R"({"model":"default","messages":[{"role":"user","content":"What is the capital of France?"}]})";

}  // namespace

TEST(StageSwitch, EnabledAloneRunsTheStage) {
  Fake fake({});
  Serve serve({"--upstream", fake.url(), "--set", "stages.cache.enabled=true"});
  HttpClient c(serve.port);
  auto first = c.post("/v1/chat/completions", kChat);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.header("x-kuai-cache"), "miss");
  const auto upstream_calls = fake.stats().at("requests").as_int64();
  auto second = c.post("/v1/chat/completions", kChat);
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(second.header("x-kuai-cache"), "hit");
  // Answered without the upstream: its count grew only by the /stats request itself.
  EXPECT_EQ(fake.stats().at("requests").as_int64(), upstream_calls + 1);
}

TEST(StageSwitch, ConfiguredStageOutsideTheListIsAStartUpError) {
  Fake fake({});
  auto run = run_shell(kuai_bin() + " serve --port 0 --upstream " + fake.url() +
                       " --set 'pipeline=[slim]' --set stages.cache.enabled=true");
  EXPECT_NE(run.code, 0);
  EXPECT_NE(run.out.find("stage 'cache' is configured (stages.cache) but not in 'pipeline: [slim]'"),
            std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("pipeline: [slim, cache]"), std::string::npos) << run.out;
}

TEST(StageSwitch, HelpListsTheStagesAndAnExample) {
  auto run = run_shell(kuai_bin() + " serve --help");
  EXPECT_EQ(run.code, 0);
  for (const char* stage : {"slim", "summarize", "window", "cache", "route", "extract"})
    EXPECT_NE(run.out.find(std::string("\n  ") + stage + " "), std::string::npos) << stage;
  EXPECT_NE(run.out.find("--set stages.cache.enabled=true"), std::string::npos);
}
