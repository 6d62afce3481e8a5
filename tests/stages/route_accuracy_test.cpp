// Accuracy of each route decider, and of their combination, on a labelled set of English and Chinese
// queries written for this test (tests/data/route_set.jsonl; none of them is in the k-NN examples file
// data/route/examples.jsonl). The classifier decider needs a real instruction-following model, which
// the test machines do not have: its parsing is tested in route_classifier_test.cpp and its request
// path in route_stage_test.cpp.
#include "stages/route.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include "support/paths.h"

namespace kuai::stages {
namespace {

using kuai::test::source_dir;

struct Score {
  int right = 0, total = 0;
  double rate() const { return total ? static_cast<double>(right) / total : 0; }
};

TEST(RouteAccuracy, EachDeciderAndTheCombination) {
  auto set = route::load_examples(source_dir() + "/tests/data/route_set.jsonl");
  ASSERT_TRUE(std::holds_alternative<std::vector<route::LabelledExample>>(set)) << std::get<std::string>(set);
  const auto& queries = std::get<std::vector<route::LabelledExample>>(set);
  ASSERT_GE(queries.size(), 200u);

  YAML::Node cfg = YAML::Load("{default: large, targets: {greeting: small, weather: small, extraction: small, "
                              "translation: small}}");
  cfg["examples_file"] = source_dir() + "/data/route/examples.jsonl";
  pipeline::Services services;
  std::string error;
  auto stage = make_route_stage(cfg, services, error);
  ASSERT_TRUE(stage) << error;
  auto* route = dynamic_cast<RouteStage*>(stage.get());
  ASSERT_TRUE(route->knn_ready());

  auto label = [](const std::optional<route::IntentGuess>& g) { return g ? g->intent : std::string("other"); };
  Score rules, knn, combined, target_ok;
  std::map<std::string, Score> by_lang;
  for (const auto& q : queries) {
    const bool zh = std::any_of(q.text.begin(), q.text.end(), [](char c) { return static_cast<unsigned char>(c) >= 0xE4; });
    std::string r = label(route->by_rules(q.text));
    std::string k = label(route->by_knn(q.text));
    std::string c = route->decide_offline(q.text).intent;
    rules.right += r == q.intent;
    knn.right += k == q.intent;
    combined.right += c == q.intent;
    auto small = [](const std::string& i) { return i != "other"; };
    target_ok.right += small(c) == small(q.intent);
    by_lang[zh ? "zh" : "en"].right += c == q.intent;
    ++rules.total, ++knn.total, ++combined.total, ++target_ok.total, ++by_lang[zh ? "zh" : "en"].total;
    if (c != q.intent) std::printf("  miss: %-11s → %-11s %s\n", q.intent.c_str(), c.c_str(), q.text.c_str());
  }
  std::printf("route accuracy on %zu queries: rules %.3f, knn %.3f, rules→knn %.3f (en %.3f, zh %.3f); "
              "small/large target right %.3f; classifier n/a (needs a model)\n",
              queries.size(), rules.rate(), knn.rate(), combined.rate(), by_lang["en"].rate(), by_lang["zh"].rate(),
              target_ok.rate());
  EXPECT_GE(rules.rate(), 0.80);
  EXPECT_GE(knn.rate(), 0.70);
  EXPECT_GE(combined.rate(), 0.85);
  EXPECT_GE(combined.rate(), std::max(rules.rate(), knn.rate()) - 0.02);
}

}  // namespace
}  // namespace kuai::stages
