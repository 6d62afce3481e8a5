#include "stages/route_knn.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace kuai::stages::route {
namespace {

TEST(RouteKnn, NearestNeighboursVoteBySimilarity) {
  KnnIndex idx(3, 0.1);
  idx.add("a", {1, 0, 0});
  idx.add("a", {0.9f, 0.1f, 0});
  idx.add("b", {0, 1, 0});
  idx.add("b", {0, 0.9f, 0.1f});
  auto g = idx.classify({1, 0.05f, 0});
  ASSERT_TRUE(g);
  EXPECT_EQ(g->intent, "a");
  EXPECT_GT(g->confidence, 0.9);
  EXPECT_LE(g->confidence, 1.0);
}

TEST(RouteKnn, AbstainsWhenNothingIsClose) {
  KnnIndex idx(3, 0.5);
  idx.add("a", {1, 0, 0});
  EXPECT_FALSE(idx.classify({0, 0, 1}));
  EXPECT_FALSE(idx.classify({0, 0, 0}));        // zero query
  EXPECT_FALSE(idx.classify({1, 0}));           // wrong dimension
  EXPECT_FALSE(KnnIndex(3, 0.5).classify({1, 0, 0}));  // empty index
}

TEST(RouteKnn, SkipsBadVectors) {
  KnnIndex idx(1, 0);
  idx.add("a", {1, 0});
  idx.add("b", {1, 0, 0});
  idx.add("c", {0, 0});
  idx.add("d", {});
  EXPECT_EQ(idx.size(), 1u);
  EXPECT_EQ(idx.skipped(), 3u);
}

std::string write_temp(const std::string& name, const std::string& text) {
  std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

TEST(RouteKnn, LoadsJsonlAndYaml) {
  auto jsonl = write_temp("ex.jsonl", "# comment\n{\"text\": \"hi\", \"intent\": \"greeting\"}\n\n"
                                       "{\"text\": \"天气\", \"intent\": \"weather\"}\n");
  auto a = load_examples(jsonl);
  ASSERT_TRUE(std::holds_alternative<std::vector<LabelledExample>>(a)) << std::get<std::string>(a);
  EXPECT_EQ(std::get<std::vector<LabelledExample>>(a).size(), 2u);

  auto yaml = write_temp("ex.yaml", "greeting: [hello, hi]\nweather: [will it rain]\n");
  auto b = load_examples(yaml);
  ASSERT_TRUE(std::holds_alternative<std::vector<LabelledExample>>(b)) << std::get<std::string>(b);
  EXPECT_EQ(std::get<std::vector<LabelledExample>>(b).size(), 3u);

  auto list = write_temp("ex2.yml", "- {text: hello, intent: greeting}\n");
  EXPECT_EQ(std::get<std::vector<LabelledExample>>(load_examples(list)).size(), 1u);
}

TEST(RouteKnn, LoadErrorsNameFileAndLine) {
  auto bad = write_temp("bad.jsonl", "{\"text\": \"hi\", \"intent\": \"greeting\"}\n{not json\n");
  auto r = load_examples(bad);
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_NE(std::get<std::string>(r).find("bad.jsonl:2"), std::string::npos);
  auto missing = load_examples("/nonexistent/examples.jsonl");
  EXPECT_TRUE(std::holds_alternative<std::string>(missing));
  auto fields = write_temp("f.jsonl", "{\"text\": 1}\n");
  EXPECT_TRUE(std::holds_alternative<std::string>(load_examples(fields)));
}

}  // namespace
}  // namespace kuai::stages::route
