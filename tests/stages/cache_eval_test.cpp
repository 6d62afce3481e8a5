// `kuai cache eval`'s core: reading labelled pairs (a malformed line is named) and the judge protocol
// (every a stored, then every b looked up) on pairs written for this test.
#include "stages/cache_eval.h"

#include <gtest/gtest.h>

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
