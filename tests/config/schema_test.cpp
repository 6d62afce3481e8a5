// The configuration schema: every key typed and range-checked at start-up (issue 14, B6), unknown keys
// named with a suggestion, and the schema and docs/CONFIG.md listing the same keys.
#include "config/schema.h"

#include "support/paths.h"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

using kuai::config::Config;

namespace {

std::optional<std::string> validate_yaml(const std::string& yaml) {
  Config cfg;
  if (auto err = Config::load_string(yaml, cfg)) return "load: " + *err;
  return kuai::config::validate(cfg);
}

}  // namespace

TEST(ConfigSchema, DocumentedDefaultsAreValid) {
  EXPECT_EQ(validate_yaml(""), std::nullopt);
  EXPECT_EQ(validate_yaml("server: {port: 0, host: 0.0.0.0}\nlog: {level: debug}\npipeline: [slim, cache]\n"
                          "stages: {cache: {threshold: 0.9, guards: {number: false}, model_thresholds: {m: 0.95}},"
                          " window: {max_turns: 4}, route: {rules: {greeting: {keywords: [hi]}}}}\n"
                          "tiers: {free: {max_concurrency: 2, priority: 1}}\n"
                          "models: {small: {backends: [{url: 'http://127.0.0.1:1', weight: 2}], strategy: fastest}}\n"
                          "tenants: [{key: k, name: n}]\nengine: {models: {tiny: a.gguf}, kv_memory: 64MiB}\n"),
            std::nullopt);
}

TEST(ConfigSchema, IllTypedValuesAreErrorsNamingTheKey) {
  struct Case {
    const char* yaml;
    const char* says;
  };
  for (const Case& c : {Case{"server:\n  port: eighty\n", "'server.port' (line 2) must be an integer, got 'eighty'"},
                        Case{"server: {port: 70000}\n", "must be between 0 and 65535, got 70000"},
                        Case{"tiers:\n  free:\n    max_concurrency: \"2x\"\n", "'tiers.free.max_concurrency'"},
                        Case{"tiers: {free: {max_concurrency: -3}}\n", "must be at least 0"},
                        Case{"log: {level: loud}\n", "must be one of trace, debug"},
                        Case{"upstream: {retries: {max_attempts: 0}}\n", "must be between 1 and 100, got 0"},
                        Case{"stages: {cache: {threshold: high}}\n", "'stages.cache.threshold' (line 1) must be a number"},
                        Case{"server: {access_log: maybe}\n", "must be true or false"},
                        Case{"pipeline: slim\n", "'pipeline' (line 1) must be a list"},
                        Case{"stages: {cache: {guards: true}}\n", "'stages.cache.guards' (line 1) must be a map"}}) {
    auto err = validate_yaml(c.yaml);
    ASSERT_TRUE(err.has_value()) << c.yaml;
    EXPECT_NE(err->find(c.says), std::string::npos) << c.yaml << " → " << *err;
  }
}

TEST(ConfigSchema, UnknownKeysAreErrorsWithASuggestion) {
  auto err = validate_yaml("sever:\n  port: 1\n");
  ASSERT_TRUE(err.has_value());
  EXPECT_NE(err->find("unknown key 'sever' (line 1); did you mean 'server'?"), std::string::npos) << *err;
  err = validate_yaml("stages:\n  cache:\n    treshold: 0.9\n");
  ASSERT_TRUE(err.has_value());
  EXPECT_NE(err->find("unknown key 'stages.cache.treshold' (line 3); did you mean 'stages.cache.threshold'?"),
            std::string::npos)
      << *err;
  err = validate_yaml("models: {m: {backends: [{url: 'http://x', wieght: 2}]}}\n");
  ASSERT_TRUE(err.has_value());
  EXPECT_NE(err->find("did you mean 'models.m.backends[].weight'?"), std::string::npos) << *err;
}

TEST(ConfigSchema, CommandLineValuesAreNamedAsSuch) {
  Config cfg;
  ASSERT_FALSE(cfg.apply_override("server.port=eighty"));
  auto err = kuai::config::validate(cfg);
  ASSERT_TRUE(err.has_value());
  EXPECT_NE(err->find("'server.port' (from the command line) must be an integer"), std::string::npos) << *err;
  Config misspelt;
  ASSERT_FALSE(misspelt.apply_override("sever.port=1"));
  err = kuai::config::validate(misspelt);
  ASSERT_TRUE(err.has_value());
  EXPECT_NE(err->find("unknown key 'sever' (from the command line); did you mean 'server'?"), std::string::npos) << *err;
}

TEST(ConfigSchema, FreeSubtreesAreNotChecked) {
  Config cfg;
  ASSERT_FALSE(Config::load_string("stages: {mine: {anything: [1, 2]}}\n", cfg));
  EXPECT_TRUE(kuai::config::validate(cfg).has_value());
  EXPECT_FALSE(kuai::config::validate(cfg, {"stages.mine"}).has_value());
}

// docs/CONFIG.md documents every key with its default: the schema and the docs list the same keys.
TEST(ConfigSchema, SchemaAndDocsListTheSameKeys) {
  std::ifstream in(kuai::test::source_dir() + "/docs/CONFIG.md");
  ASSERT_TRUE(in) << "docs/CONFIG.md";
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  std::set<std::string> documented;
  std::regex row(R"(\n\| `([a-z_][a-z0-9_.<>\[\]]*)` \|)");
  for (auto it = std::sregex_iterator(doc.begin(), doc.end(), row); it != std::sregex_iterator(); ++it) {
    std::string key = (*it)[1];
    key = std::regex_replace(key, std::regex("<[a-z]+>"), "*");
    documented.insert(key);
  }
  // Segment by segment; `*` (a schema wildcard or a documented <placeholder>) matches any segment.
  auto split = [](const std::string& k) {
    std::vector<std::string> out;
    std::stringstream in(k);
    for (std::string seg; std::getline(in, seg, '.');) out.push_back(seg);
    return out;
  };
  auto matches = [&](const std::string& rule, const std::string& doc) {
    auto a = split(rule), b = split(doc);
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (a[i] != b[i] && a[i] != "*" && b[i] != "*") return false;
    return true;
  };
  auto under = [](const std::string& parent, const std::string& k) { return k.rfind(parent + ".", 0) == 0; };
  const auto& rules = kuai::config::key_rules();
  for (const auto& r : rules) {
    const std::string k(r.path);
    bool ok = false;
    for (const auto& d : documented)
      ok = ok || matches(k, d) || (r.type == kuai::config::KeyType::any && under(k, d)) ||
           // A map's entries may be documented by the map's own row (stages.cache.model_thresholds.*).
           (k.size() > 2 && k.substr(k.size() - 2) == ".*" && matches(k.substr(0, k.size() - 2), d));
    EXPECT_TRUE(ok) << "'" << k << "' is in the schema but not in docs/CONFIG.md";
  }
  for (const auto& d : documented) {
    bool ok = false;
    for (const auto& r : rules)
      ok = ok || matches(std::string(r.path), d) || (r.type == kuai::config::KeyType::any && under(std::string(r.path), d));
    EXPECT_TRUE(ok) << "'" << d << "' is documented but not in the schema";
  }
}
