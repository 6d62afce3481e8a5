// WordNet (Debian wordnet-base) as the semantic cache reads it: forms, synonyms, antonyms, and a clear
// error when the files are missing.
#include "cache/wordnet.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

namespace kuai::cache {
namespace {

const WordNet& wordnet() {
  const WordNet* wn = WordNet::shared();
  if (!wn) throw std::runtime_error(WordNet::shared_error());
  return *wn;
}

bool has(const std::vector<std::string>& v, const std::string& w) { return std::find(v.begin(), v.end(), w) != v.end(); }

TEST(WordNet, FormsUndoInflectionsRegularAndIrregular) {
  ASSERT_GT(wordnet().size(), 100000u);
  EXPECT_TRUE(has(wordnet().forms("papers"), "paper"));
  EXPECT_TRUE(has(wordnet().forms("required"), "require"));
  EXPECT_TRUE(has(wordnet().forms("children"), "child"));
  EXPECT_TRUE(has(wordnet().forms("ran"), "run"));
  EXPECT_TRUE(wordnet().forms("qwxzv").empty());
}

TEST(WordNet, SynonymsShareASynsetAmongFrequentSenses) {
  EXPECT_TRUE(wordnet().synonyms("documents", "papers"));
  EXPECT_TRUE(wordnet().synonyms("required", "need"));
  EXPECT_TRUE(wordnet().synonyms("purchase", "buy"));
  EXPECT_FALSE(wordnet().synonyms("track", "return"));
  EXPECT_FALSE(wordnet().synonyms("passport", "visa"));
}

TEST(WordNet, Antonyms) {
  EXPECT_TRUE(wordnet().antonyms("increase", "decrease"));
  EXPECT_TRUE(wordnet().antonyms("high", "low"));
  EXPECT_TRUE(wordnet().antonyms("lower", "raise"));
  EXPECT_FALSE(wordnet().antonyms("increase", "raise"));
}

TEST(WordNet, RelatednessGradesTheLink) {
  const WordNet& wn = wordnet();
  EXPECT_DOUBLE_EQ(wn.relatedness("papers", "paper"), 1.0);
  EXPECT_DOUBLE_EQ(wn.relatedness("documents", "papers"), 0.9);  // a shared synset
  EXPECT_GE(wn.relatedness("renew", "renewal"), 0.8);            // derivation
  EXPECT_GE(wn.relatedness("bake", "oven"), 0.6);                // "cook … in a hot oven"
  EXPECT_LT(wn.relatedness("bake", "oven"), 0.9);
  EXPECT_DOUBLE_EQ(wn.relatedness("track", "return"), 0.0);
  EXPECT_DOUBLE_EQ(wn.relatedness("passport", "banana"), 0.0);
  EXPECT_DOUBLE_EQ(wn.relatedness("oven", "bake"), wn.relatedness("bake", "oven"));  // symmetric
  EXPECT_DOUBLE_EQ(wn.relatedness("qwzx", "oven"), 0.0);  // unknown to WordNet
}

TEST(WordNet, MissingFilesAreAnErrorWithAHint) {
  std::string error;
  EXPECT_EQ(WordNet::load("/nonexistent/wordnet", error), nullptr);
  EXPECT_NE(error.find("wordnet-base"), std::string::npos) << error;
}

}  // namespace
}  // namespace kuai::cache
