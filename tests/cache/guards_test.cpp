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

TEST(Guards, LanguageRefusesAnAnswerInTheOtherLanguageOnlyWhenOn) {
  GuardConfig on;
  on.language = true;
  // Whatever else the guards say of an English question and a Chinese one, this one refuses first.
  EXPECT_EQ(check_guards(query_features("How long do I boil dumplings?"), query_features("饺子要煮多久"), on), Guard::Language);
  EXPECT_EQ(check_guards(query_features("Switch 怎么换区"), query_features("How do I change the region on a Switch?"), on),
            Guard::Language);  // a Chinese question with an English name is Chinese
  EXPECT_EQ(check_guards(query_features("退钱要多久到账"), query_features("退款要多久到账"), on), Guard::None);
  EXPECT_EQ(check_guards(query_features("steps to renew my library card"), query_features("How do I renew my library card"), on),
            Guard::None);
  EXPECT_NE(verdict("How long do I boil dumplings?", "饺子要煮多久"), Guard::Language);  // off by default
  EXPECT_EQ(guard_name(Guard::Language), "language");
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

TEST(Guards, BeforeAndAfterAreDifferentTimes) {
  EXPECT_EQ(verdict("Should I water the lawn before mowing?", "Should I water the lawn after mowing?"), Guard::Number);
  EXPECT_EQ(verdict("跑步后多久可以洗澡", "洗澡后多久可以跑步"), Guard::Number);  // after what
  EXPECT_EQ(verdict("Which games go on sale next week?", "Which games go on sale this week?"), Guard::Number);
}

TEST(Guards, OppositeActionsAndParticles) {
  EXPECT_EQ(verdict("How do I turn on dark mode?", "How do I turn off dark mode?"), Guard::Polarity);
  EXPECT_EQ(verdict("How do I add a printer to my account?", "How do I remove a printer from my account?"), Guard::Polarity);
}

TEST(Guards, NamesInChineseTextAndKindsOfOneThing) {
  // A capitalised Latin word in Chinese text is a name, even a common English word.
  EXPECT_EQ(verdict("Go 怎么写单元测试", "Rust 怎么写单元测试"), Guard::Entity);
  // Chinese words that share their head and differ at the start are different things of one kind.
  EXPECT_NE(verdict("建设银行卡怎么挂失", "农业银行卡怎么挂失"), Guard::None);
  // The same question in other words passes.
  EXPECT_EQ(verdict("How do I reset a forgotten router password?", "forgot my router password, how to reset it"), Guard::None);
  EXPECT_EQ(verdict("微信怎么开通指纹支付", "微信指纹支付怎么开通"), Guard::None);
}

TEST(Guards, SoftNumbersOnOneSideOnly) {
  // "one" as a pronoun, "the first time", before/after said with a verb on the other side.
  EXPECT_NE(verdict("Can I pay a loan with a credit card?", "can a credit card pay off the loan, or only a debit one"),
            Guard::Number);
  EXPECT_NE(verdict("How do I cook rice for the first time?", "How do I cook rice as a beginner?"), Guard::Number);
  EXPECT_NE(verdict("Can I change my hotel booking after paying?", "Can I change a paid hotel booking?"), Guard::Number);
  // Both sides give one: they must agree.
  EXPECT_EQ(verdict("Can I buy one ticket online?", "Can I buy two tickets online?"), Guard::Number);
  EXPECT_EQ(verdict("Can I water plants before noon?", "Can I water plants after noon?"), Guard::Number);
  // Any other number only one side gives narrows the question.
  EXPECT_EQ(verdict("convert 35 Celsius to Fahrenheit", "convert Celsius to Fahrenheit"), Guard::Number);
  EXPECT_EQ(verdict("Is 100.4 °F a fever?", "Is 38°C a fever?"), Guard::None);
}

TEST(Guards, NamesSaidThroughTheirAdjective) {
  EXPECT_NE(verdict("Do people tip in Italian cafes?", "Is tipping expected in cafes in Italy?"), Guard::Entity);
  EXPECT_EQ(verdict("Do people tip in Italian cafes?", "Do people tip in Spanish cafes?"), Guard::Entity);
}

// A name written short matches its spelling out (acronym initials, a digit for its number word, small
// words skipped; numeronyms), not just any words that happen to share letters.
TEST(Guards, AcronymsAndNumeronymsMatchTheirSpellingOut) {
  EXPECT_EQ(verdict("How do I turn on 2FA?", "How do I turn on two-factor authentication?"), Guard::None);
  EXPECT_EQ(verdict("Is the DMV open today?", "Is the department of motor vehicles open today?"), Guard::None);
  EXPECT_EQ(verdict("Why is my k8s pod stuck?", "Why is my kubernetes pod stuck?"), Guard::None);
  EXPECT_EQ(verdict("Is the DMV open today?", "Is the post office open today?"), Guard::Entity);
  EXPECT_EQ(verdict("Why is my k8s pod stuck?", "Why is my docker pod stuck?"), Guard::Entity);
}

TEST(Guards, DirectionIgnoresStopWords) {
  EXPECT_NE(verdict("What is the best way to keep the bread fresh?", "keeping bread fresh: away from the sun or in the box?"),
            Guard::Direction);
}

TEST(Guards, AbbreviationsSpelledByTheirConsonants) {
  EXPECT_EQ(verdict("how many tbsp in a cup of flour", "how many tablespoons in a cup of flour"), Guard::None);
  EXPECT_EQ(verdict("reset my wifi pwd", "reset my wifi password"), Guard::None);
}

TEST(Guards, ChineseWordsSharingOnlyTheirHeadAreDifferentThings) {
  // 日语 / 韩语 share 语 (language) and nothing else: two languages, not one said two ways.
  EXPECT_EQ(verdict("自学日语要多久", "自学韩语要多久"), Guard::Content);
  // A word whose first characters the other writes is said, if in other words (改签几次 / 改签次数).
  EXPECT_EQ(verdict("火车票能改签几次", "火车票改签次数"), Guard::None);
}

TEST(Guards, ChineseAbbreviationsAndCharactersOfWordsBothSay) {
  EXPECT_EQ(verdict("住房公积金怎么提取", "公积金怎么提取"), Guard::None);
  EXPECT_EQ(verdict("最低生活保障怎么申请", "低保怎么申请"), Guard::None);
  // 照片 shares 照 only with 护照, which both say: a photo is not said.
  EXPECT_EQ(verdict("护照照片有什么要求", "护照要等多久"), Guard::Content);
}

TEST(Guards, CourtesyAndComparisonFramingAreNotContent) {
  EXPECT_EQ(verdict("Sorry to bother you, how do I descale a kettle?", "descale a kettle"), Guard::None);
  EXPECT_EQ(verdict("What is the difference between baking soda and baking powder?", "baking soda vs baking powder"),
            Guard::None);
}

TEST(Guards, AgreementRanksCandidates) {
  double close = 0, loose = 0;
  ASSERT_EQ(check_guards(query_features("Which papers are needed to open a bank account?"),
                         query_features("What documents are required to open a bank account?"), GuardConfig{}, &close),
            Guard::None);
  ASSERT_EQ(check_guards(query_features("How do I renew my library card"), query_features("renew library card"),
                         GuardConfig{}, &loose),
            Guard::None);
  EXPECT_GT(close, 0.6);
  EXPECT_LE(close, 1.0);
  EXPECT_DOUBLE_EQ(loose, 1.0);
}

TEST(Guards, ADifferentQuestionAboutTheSameThingIsRefused) {
  EXPECT_EQ(verdict("How do I cancel my gym membership", "How do I pause my gym membership"), Guard::Content);
  EXPECT_EQ(verdict("手机怎么截屏", "手机怎么录屏"), Guard::Content);
  // Most words kept, one swapped for an unrelated one.
  EXPECT_EQ(verdict("How do I track my eBay parcel?", "How do I return my eBay parcel?"), Guard::Content);
}

}  // namespace
}  // namespace kuai::cache
