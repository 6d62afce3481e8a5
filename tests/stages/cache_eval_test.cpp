// `kuai cache eval`'s core: reading labelled pairs (a malformed line is named) and the judge protocol
// (every a stored, then every b looked up) on pairs written for this test.
#include "stages/cache_eval.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <unistd.h>

namespace kuai::stages {
namespace {

std::string write_temp(const std::string& text) {
  char path[] = "/tmp/kuai-pairs-XXXXXX";
  int fd = mkstemp(path);
  ::close(fd);
  std::ofstream(path) << text;
  return path;
}

TEST(CacheEval, MalformedLinesAreNamed) {
  auto path = write_temp("{\"a\":\"x\",\"b\":\"y\",\"same\":true}\n{\"a\":\"x\",\"same\":true}\n");
  auto r = read_labelled_pairs(path);
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_NE(std::get<std::string>(r).find("line 2"), std::string::npos) << std::get<std::string>(r);
  auto bad_json = write_temp("not json\n");
  auto r2 = read_labelled_pairs(bad_json);
  ASSERT_TRUE(std::holds_alternative<std::string>(r2));
  EXPECT_NE(std::get<std::string>(r2).find("line 1"), std::string::npos);
  EXPECT_TRUE(std::holds_alternative<std::string>(read_labelled_pairs("/nonexistent/pairs.jsonl")));
  std::remove(path.c_str());
  std::remove(bad_json.c_str());
}

TEST(CacheEval, CountsHitsFalseHitsAndRefusals) {
  auto path = write_temp(
      "{\"a\":\"How do I reset my router password\",\"b\":\"how do i reset my router password?\",\"same\":true}\n"
      "{\"a\":\"Which papers are needed to open a bank account?\",\"b\":\"What documents are required to open a bank "
      "account?\",\"same\":true}\n"
      "{\"a\":\"How do I increase the font size\",\"b\":\"How do I decrease the font size\",\"same\":false,"
      "\"kind\":\"polarity\"}\n"
      "{\"a\":\"best pizza places in Naples\",\"b\":\"best pizza places in Rome\",\"same\":false,\"kind\":\"entity\"}\n");
  auto loaded = read_labelled_pairs(path);
  ASSERT_TRUE(std::holds_alternative<std::vector<LabelledPair>>(loaded));
  auto r = evaluate_pairs(std::get<std::vector<LabelledPair>>(loaded), CacheStageConfig{});
  EXPECT_EQ(r.same, 2);
  EXPECT_EQ(r.different, 2);
  EXPECT_EQ(r.hits, 2);
  EXPECT_EQ(r.false_hits, 0);
  EXPECT_EQ(r.top1, 2);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace kuai::stages

namespace kuai::stages {
namespace {

// Vectors of a model embedder (here one that puts each pair's two queries at cosine 0.95, and pairs
// apart): above embedder_trust the paraphrase the words cannot match hits; the hard guards still
// refuse the look-alike the embedder put as close.
TEST(CacheEval, GivenModelVectorsTheTrustedSimilarityDecidesWording) {
  const std::vector<LabelledPair> pairs = {
      {"What's the penalty for filing taxes late?", "fine for missing the tax filing deadline", true, "paraphrase"},
      {"Is coffee bad for you?", "Is coffee not bad for you?", false, "negation"}};
  PairVectors v;
  for (size_t i = 0; i < pairs.size(); ++i) {
    std::vector<float> a(8, 0.0f), b(8, 0.0f);
    a[2 * i] = 1.0f;
    b[2 * i] = 0.95f, b[2 * i + 1] = std::sqrt(1.0f - 0.95f * 0.95f);
    v.a.push_back(a);
    v.b.push_back(b);
  }
  CacheStageConfig cfg;
  cfg.store.guards.content_trusted_similarity = 0.85;
  auto r = evaluate_pairs(pairs, cfg, &v);
  EXPECT_EQ(r.hits, 1);
  EXPECT_EQ(r.false_hits, 0);
  EXPECT_NEAR(r.median_cosine, 0.95, 1e-4);
  cfg.store.guards.content_trusted_similarity = 0.99;  // not trusted: the content guard refuses the wording
  r = evaluate_pairs(pairs, cfg, &v);
  EXPECT_EQ(r.hits, 0);
  EXPECT_EQ(r.refused_by_guard["content"], 1);
}

// A missed paraphrase is put down to its own question: not retrieved (below the threshold here), or
// refused by the guard that refuses that question, whichever candidate the lookup met first.
TEST(CacheEval, MissesAreCountedByWhatBecameOfTheirOwnQuestion) {
  const std::vector<LabelledPair> pairs = {
      {"How do I renew my passport?", "passport renewal steps", true, "paraphrase"},
      {"What's the penalty for filing taxes late?", "fine for missing the tax filing deadline", true, "paraphrase"}};
  PairVectors v;
  v.a = {{1, 0, 0, 0}, {0, 0, 1, 0}};
  v.b = {{0, 1, 0, 0}, {0, 0, 1, 0}};  // the first b is orthogonal to every stored a: never retrieved
  CacheStageConfig cfg;
  cfg.store.guards.content_trusted_similarity = 1.01;  // the words decide
  const auto r = evaluate_pairs(pairs, cfg, &v);
  EXPECT_EQ(r.hits, 0);
  EXPECT_EQ(r.not_retrieved, 1);
  EXPECT_EQ(r.refused_by_guard.at("content"), 1);
  ASSERT_EQ(r.wrong.size(), 2u);
  EXPECT_EQ(r.wrong[0].outcome, "not retrieved");
  EXPECT_EQ(r.wrong[1].outcome, "refused: content");
}

}  // namespace
}  // namespace kuai::stages
