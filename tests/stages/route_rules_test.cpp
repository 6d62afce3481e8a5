#include "stages/route_rules.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <string>

namespace kuai::stages::route {
namespace {

RuleDecider defaults() {
  auto built = RuleDecider::build(RuleDecider::default_rules());
  EXPECT_TRUE(std::holds_alternative<RuleDecider>(built));
  return std::get<RuleDecider>(std::move(built));
}

std::string intent_of(const RuleDecider& r, std::string_view q) {
  auto g = r.classify(q);
  return g ? g->intent : "-";
}

TEST(RouteRules, EnglishAndChineseIntents) {
  RuleDecider r = defaults();
  EXPECT_EQ(intent_of(r, "hello!"), "greeting");
  EXPECT_EQ(intent_of(r, "你好"), "greeting");
  EXPECT_EQ(intent_of(r, "will it rain in Paris tomorrow?"), "weather");
  EXPECT_EQ(intent_of(r, "明天北京天气怎么样"), "weather");
  EXPECT_EQ(intent_of(r, "translate 'cat' into French"), "translation");
  EXPECT_EQ(intent_of(r, "把这句话翻译成英文"), "translation");
  EXPECT_EQ(intent_of(r, "extract all the dates from this text"), "extraction");
  EXPECT_EQ(intent_of(r, "从这段话中提取人名"), "extraction");
  EXPECT_EQ(intent_of(r, "explain how a compiler works"), "-");
}

TEST(RouteRules, AsciiKeywordsMatchWholeWordsOnly) {
  auto built = RuleDecider::build({{"greeting", {"hi"}, {}, {}, 0}});
  ASSERT_TRUE(std::holds_alternative<RuleDecider>(built));
  const auto& r = std::get<RuleDecider>(built);
  EXPECT_FALSE(r.classify("this is a thing"));
  ASSERT_TRUE(r.classify("oh hi there"));
  EXPECT_DOUBLE_EQ(r.classify("oh hi there")->confidence, 0.6);
}

TEST(RouteRules, PatternBeatsKeywordAndExcludeVetoes) {
  auto built = RuleDecider::build({
      {"weather", {"rain"}, {}, {"code"}, 0},
      {"translation", {}, {R"(\btranslate\b)"}, {}, 0},
  });
  const auto& r = std::get<RuleDecider>(built);
  auto g = r.classify("translate: the rain in Spain");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->intent, "translation");
  EXPECT_DOUBLE_EQ(g->confidence, 0.9);
  EXPECT_FALSE(r.classify("write code that predicts rain"));
}

TEST(RouteRules, MaxCharsLimitsAnIntentToShortQueries) {
  RuleDecider r = defaults();
  EXPECT_EQ(intent_of(r, "hi"), "greeting");
  EXPECT_EQ(intent_of(r, "hi, I have a long question about the design of distributed databases and their "
                         "consistency models under partitions"),
            "-");
}

TEST(RouteRules, TieHalvesConfidence) {
  auto built = RuleDecider::build({{"a", {"apple"}, {}, {}, 0}, {"b", {"pear"}, {}, {}, 0}});
  const auto& r = std::get<RuleDecider>(built);
  auto g = r.classify("apple and pear");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->intent, "a");
  EXPECT_DOUBLE_EQ(g->confidence, 0.3);
}

TEST(RouteRules, BadPatternIsAnErrorNamingIt) {
  auto built = RuleDecider::build({{"x", {}, {"(unclosed"}, {}, 0}});
  ASSERT_TRUE(std::holds_alternative<std::string>(built));
  EXPECT_NE(std::get<std::string>(built).find("(unclosed"), std::string::npos);
}

TEST(RouteRules, InvalidUtf8AndHugeInputNeverCrash) {
  RuleDecider r = defaults();
  EXPECT_NO_THROW(r.classify(std::string("\xff\xfe weather \xc3", 13)));
  std::string huge(1 << 20, 'a');
  EXPECT_NO_THROW(r.classify(huge));
}

TEST(RouteRules, ParseFromYaml) {
  YAML::Node n = YAML::Load(R"(
greeting: {keywords: [hello, 你好], max_chars: 30}
billing: {patterns: ['\binvoice\b'], exclude: [refund]}
)");
  auto parsed = RuleDecider::parse(n);
  ASSERT_TRUE(std::holds_alternative<std::vector<IntentRule>>(parsed));
  auto rules = std::get<std::vector<IntentRule>>(parsed);
  ASSERT_EQ(rules.size(), 2u);
  auto built = RuleDecider::build(rules);
  const auto& r = std::get<RuleDecider>(built);
  EXPECT_EQ(intent_of(r, "where is my invoice"), "billing");
  EXPECT_EQ(intent_of(r, "invoice refund"), "-");
  EXPECT_EQ(intent_of(r, "你好"), "greeting");

  EXPECT_TRUE(std::holds_alternative<std::string>(RuleDecider::parse(YAML::Load("[1, 2]"))));
  EXPECT_TRUE(std::holds_alternative<std::string>(RuleDecider::parse(YAML::Load("a: {max_chars: -1}"))));
}

}  // namespace
}  // namespace kuai::stages::route
