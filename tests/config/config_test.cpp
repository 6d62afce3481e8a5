#include "config/config.h"

#include <gtest/gtest.h>

using kuai::config::Config;

TEST(Config, ReadsDottedPathsWithDefaults) {
  Config cfg;
  ASSERT_FALSE(Config::load_string("stages:\n  cache:\n    enabled: true\n    threshold: 0.9\n", cfg));
  EXPECT_TRUE(cfg.get<bool>("stages.cache.enabled", false));
  EXPECT_DOUBLE_EQ(cfg.get<double>("stages.cache.threshold", 0.0), 0.9);
  EXPECT_EQ(cfg.get<int>("stages.window.max_turns", 7), 7);
  // A lookup of a missing key must not create it.
  EXPECT_FALSE(cfg.root()["stages"]["window"]);
}

TEST(Config, OverridesCreateAndReplaceKeys) {
  Config cfg;
  ASSERT_FALSE(cfg.apply_override("stages.cache.threshold=0.5"));
  ASSERT_FALSE(cfg.apply_override("pipeline=[slim, cache]"));
  EXPECT_DOUBLE_EQ(cfg.get<double>("stages.cache.threshold", 0.0), 0.5);
  EXPECT_EQ(cfg.at("pipeline").size(), 2u);
  ASSERT_FALSE(cfg.apply_override("stages.cache.threshold=0.7"));
  EXPECT_DOUBLE_EQ(cfg.get<double>("stages.cache.threshold", 0.0), 0.7);
}

TEST(Config, BadInputIsAnErrorMessage) {
  Config cfg;
  EXPECT_TRUE(Config::load_string("a: [1, 2", cfg).has_value());
  EXPECT_TRUE(Config::load_string("- just\n- a list\n", cfg).has_value());
  EXPECT_TRUE(cfg.apply_override("novalue").has_value());
  EXPECT_TRUE(Config::load_file("/nonexistent/kuai.yaml", cfg).has_value());
}
