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

TEST(WordNet, MissingFilesAreAnErrorWithAHint) {
  std::string error;
  EXPECT_EQ(WordNet::load("/nonexistent/wordnet", error), nullptr);
  EXPECT_NE(error.find("wordnet-base"), std::string::npos) << error;
}

}  // namespace
}  // namespace kuai::cache
