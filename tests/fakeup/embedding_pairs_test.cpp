// fakeup/embedding_pairs.h: each pair's b sits at the stated cosine to its a (0.95 paraphrase, 0.92
// look-alike), vectors are unit length and seeded, other pairs point elsewhere, and a bad line is named.
#include "fakeup/embedding_pairs.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <unistd.h>

namespace kuai::fakeup {
namespace {

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

std::string write(const std::string& text) {
  const std::string path = ::testing::TempDir() + "kuai_pairs_" + std::to_string(::getpid()) + ".jsonl";
  std::ofstream(path) << text;
  return path;
}

TEST(EmbeddingPairs, PairsSitAtTheirCosines) {
  const std::string path = write(
      "{\"a\": \"q1\", \"b\": \"q1 reworded\", \"same\": true}\n\n{\"a\": \"q2\", \"b\": \"not q2\", \"same\": false}\n");
  EmbeddingPairs pairs;
  ASSERT_FALSE(load_embedding_pairs(path, pairs));
  ASSERT_EQ(pairs.size(), 4u);
  auto v = [&](const char* t, uint64_t seed = 3) { return pair_embedding(pairs.at(t), 64, seed); };
  EXPECT_NEAR(dot(v("q1"), v("q1")), 1.0, 1e-9);
  EXPECT_NEAR(dot(v("q1 reworded"), v("q1 reworded")), 1.0, 1e-9);
  EXPECT_NEAR(dot(v("q1"), v("q1 reworded")), 0.95, 1e-9);
  EXPECT_NEAR(dot(v("q2"), v("not q2")), 0.92, 1e-9);
  EXPECT_LT(std::fabs(dot(v("q1"), v("q2"))), 0.6);
  EXPECT_EQ(v("q1"), v("q1"));
  EXPECT_NE(v("q1"), v("q1", 4));
  std::remove(path.c_str());
}

TEST(EmbeddingPairs, BadLinesAreNamed) {
  const std::string path = write("{\"a\": \"x\", \"b\": \"y\", \"same\": true}\n{\"a\": \"x\", \"same\": true}\n");
  EmbeddingPairs pairs;
  auto err = load_embedding_pairs(path, pairs);
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("line 2"), std::string::npos) << *err;
  EXPECT_TRUE(load_embedding_pairs("/nonexistent/pairs.jsonl", pairs));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace kuai::fakeup
