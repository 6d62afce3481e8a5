// The guards that verify a retrieved candidate: each refuses the look-alike it is for and lets the
// paraphrase through (examples written for this test).
#include "cache/guards.h"

#include <gtest/gtest.h>

namespace kuai::cache {
namespace {

Guard verdict(const char* cached, const char* query) {
  return check_guards(query_features(cached), query_features(query), GuardConfig{});
}

TEST(Guards, ParaphrasesWithOtherWordsPass) {
  EXPECT_EQ(verdict("Which papers are needed to open a bank account?", "What documents are required to open a bank account?"),
            Guard::None);
  EXPECT_EQ(verdict("Is 1 hour enough to rest the dough?", "Will 60 minutes be enough to rest the dough?"), Guard::None);
  EXPECT_EQ(verdict("退钱要多久到账", "退款要多久到账"), Guard::None);
  EXPECT_EQ(verdict("How do I renew my library card", "steps to renew my library card"), Guard::None);
}

TEST(Guards, Direction) {
  EXPECT_EQ(verdict("move photos from my phone to my laptop", "move photos from my laptop to my phone"), Guard::Direction);
  EXPECT_EQ(verdict("北京到天津的火车", "天津到北京的火车"), Guard::Direction);
  EXPECT_EQ(verdict("move photos from my phone to my laptop", "move photos from my phone to my laptop quickly"),
            Guard::None);
}

TEST(Guards, Polarity) {
  EXPECT_EQ(verdict("How do I increase the font size", "How do I decrease the font size"), Guard::Polarity);
  EXPECT_EQ(verdict("How do I upload a video", "How do I download a video"), Guard::Polarity);
  EXPECT_EQ(verdict("房价上涨的原因", "房价下跌的原因"), Guard::Polarity);
  EXPECT_EQ(verdict("怎么给客厅加湿", "怎么给客厅除湿"), Guard::Polarity);
}

TEST(Guards, Scope) {
  EXPECT_EQ(verdict("How do I archive all emails", "How do I archive each email"), Guard::Scope);
  EXPECT_EQ(verdict("How do I check my personal credit report", "How do I check my business credit report"), Guard::Scope);
  EXPECT_EQ(verdict("怎么删除所有照片", "怎么删除照片"), Guard::Scope);
}

TEST(Guards, ADifferentQuestionAboutTheSameThingIsRefused) {
  EXPECT_EQ(verdict("How do I cancel my gym membership", "How do I pause my gym membership"), Guard::Content);
  EXPECT_EQ(verdict("手机怎么截屏", "手机怎么录屏"), Guard::Content);
}

}  // namespace
}  // namespace kuai::cache
