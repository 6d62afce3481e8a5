// read_dispatcher_config: config → plain values, errors naming their key, ${ENV} API keys.
#include "upstream/dispatcher_config.h"

#include "config/config.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace kuai::upstream {
namespace {

std::variant<DispatcherConfig, std::string> read(const std::string& yaml) {
  config::Config cfg;
  if (auto err = config::Config::load_string(yaml, cfg)) return "yaml: " + *err;
  return read_dispatcher_config(cfg);
}

TEST(DispatcherConfig, ReadsModelsTiersRetriesAndClient) {
  setenv("KUAI_TEST_KEY", "sk-from-env", 1);
  auto r = read(
      "upstream: {retries: {max_attempts: 4, backoff_initial_ms: 7}, connect_timeout_ms: 900, max_concurrency: 3}\n"
      "tiers: {free: {max_concurrency: 2, priority: 1, queue_timeout_ms: 50}}\n"
      "models:\n"
      "  m:\n"
      "    strategy: weighted\n"
      "    hedge_after_ms: 250\n"
      "    backends:\n"
      "      - {url: 'http://127.0.0.1:1', model: a, api_key: '${KUAI_TEST_KEY}', weight: 3}\n"
      "      - {type: local}\n"
      "      - {url: 'https://example.invalid/v1', first_token_timeout_ms: 5}\n"
      "  empty: {}\n");
  ASSERT_TRUE(std::holds_alternative<DispatcherConfig>(r)) << std::get<std::string>(r);
  const auto& c = std::get<DispatcherConfig>(r);
  EXPECT_EQ(c.retry.max_attempts, 4);
  EXPECT_EQ(c.retry.backoff_initial.count(), 7);
  EXPECT_EQ(c.retry.backoff_max.count(), 2000);
  EXPECT_EQ(c.client.connect_timeout.count(), 900);
  EXPECT_EQ(c.max_concurrency, 3);
  ASSERT_EQ(c.tiers.count("free"), 1u);
  EXPECT_EQ(c.tiers.at("free").max_concurrency, 2);
  EXPECT_EQ(c.tiers.at("free").queue_timeout.count(), 50);
  ASSERT_EQ(c.models.size(), 2u);
  const ModelConfig* m = c.models[0].name == "m" ? &c.models[0] : &c.models[1];
  EXPECT_EQ(m->strategy, Strategy::weighted);
  EXPECT_EQ(m->hedge_after.count(), 250);
  ASSERT_EQ(m->backends.size(), 2u);  // the local one is added by the engine side
  EXPECT_EQ(m->backends[0].options.api_key, "sk-from-env");
  EXPECT_EQ(m->backends[0].options.model, "a");
  EXPECT_EQ(m->backends[0].weight, 3.0);
  EXPECT_EQ(m->backends[1].options.first_token_timeout.count(), 5);
  EXPECT_EQ(m->backends[1].options.total_timeout.count(), 600000);
}

TEST(DispatcherConfig, ErrorsNameTheKey) {
  auto bad = [](const std::string& yaml) {
    auto r = read(yaml);
    return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : std::string();
  };
  EXPECT_NE(bad("models: {m: {strategy: random}}\n").find("models.m.strategy"), std::string::npos);
  EXPECT_NE(bad("models: {m: {backends: [{model: x}]}}\n").find("models.m.backends[0].url"), std::string::npos);
  EXPECT_NE(bad("models: {m: {backends: {url: x}}}\n").find("models.m.backends: must be a list"), std::string::npos);
  EXPECT_NE(bad("models: [a]\n").find("models: must be a map"), std::string::npos);
}

TEST(DispatcherConfig, ExpandEnvOnlyExpandsAWholeReference) {
  setenv("KUAI_TEST_KEY2", "v", 1);
  EXPECT_EQ(expand_env("${KUAI_TEST_KEY2}"), "v");
  EXPECT_EQ(expand_env("${KUAI_SURELY_UNSET_VAR}"), "");
  EXPECT_EQ(expand_env("sk-${KUAI_TEST_KEY2}"), "sk-${KUAI_TEST_KEY2}");
  EXPECT_EQ(expand_env("plain"), "plain");
}

}  // namespace
}  // namespace kuai::upstream
