#include "stages/route_classifier.h"

#include <gtest/gtest.h>

namespace kuai::stages::route {
namespace {

const std::vector<std::string> kLabels = {"greeting", "weather", "extraction", "translation", "other"};

std::string parse(std::string_view answer) {
  auto g = parse_classifier_answer(answer, kLabels);
  return g ? g->intent : "-";
}

TEST(RouteClassifier, ExactLabelsInManyShapes) {
  EXPECT_EQ(parse("weather"), "weather");
  EXPECT_EQ(parse("  Weather.\n"), "weather");
  EXPECT_EQ(parse("\"translation\""), "translation");
  EXPECT_EQ(parse("**greeting**"), "greeting");
  EXPECT_EQ(parse("Label: extraction"), "extraction");
  EXPECT_EQ(parse("`other`"), "other");
  EXPECT_EQ(parse("天气"), "weather");
  EXPECT_EQ(parse("翻译。"), "translation");
  EXPECT_DOUBLE_EQ(parse_classifier_answer("weather", kLabels)->confidence, 0.9);
}

TEST(RouteClassifier, OneLabelInASentence) {
  EXPECT_EQ(parse("The intent is weather."), "weather");
  EXPECT_EQ(parse("I think this is a translation request"), "translation");
  EXPECT_DOUBLE_EQ(parse_classifier_answer("it is weather", kLabels)->confidence, 0.7);
}

TEST(RouteClassifier, UnknownOrAmbiguousFallsThrough) {
  EXPECT_EQ(parse(""), "-");
  EXPECT_EQ(parse("banana"), "-");
  EXPECT_EQ(parse("weather or translation"), "-");
  EXPECT_EQ(parse("weatherman"), "-");  // not a whole word
  EXPECT_EQ(parse("\xff\xfe"), "-");
}

TEST(RouteClassifier, RequestListsLabelsAndCutsLongQueries) {
  ClassifierPrompt p;
  p.max_query_chars = 10;
  auto req = classifier_request("small", kLabels, "你好你好你好你好", p);  // 24 bytes
  ASSERT_EQ(req.messages.size(), 2u);
  EXPECT_EQ(req.model, "small");
  EXPECT_NE(req.messages[0].content.find("greeting, weather, extraction, translation, other"), std::string::npos);
  EXPECT_EQ(req.messages[1].content, "你好你");  // cut at 9 bytes, on a character boundary
  EXPECT_EQ(req.max_tokens, 8);
  EXPECT_EQ(req.temperature, 0.0);
  // What an HTTP backend sends (to_json) carries them too, not only the typed fields the engine reads.
  auto sent = req.to_json();
  ASSERT_TRUE(sent.contains("max_tokens"));
  EXPECT_EQ(sent.at("max_tokens").to_number<int64_t>(), 8);
  ASSERT_TRUE(sent.contains("temperature"));
  EXPECT_EQ(sent.at("temperature").to_number<double>(), 0.0);
}

}  // namespace
}  // namespace kuai::stages::route
