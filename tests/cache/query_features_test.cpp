#include "cache/query_features.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace kuai::cache {
namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : "|") + s;
  return out;
}

bool has(const std::vector<std::string>& v, const std::string& w) { return std::find(v.begin(), v.end(), w) != v.end(); }

TEST(QueryFeaturesTest, NormalizedFoldsCaseSpacesAndTrailingPunctuation) {
  EXPECT_EQ(query_features("  What is   the Capital of FRANCE?? ").normalized, "what is the capital of france");
  EXPECT_EQ(query_features("北京今天天气怎么样？").normalized, "北京今天天气怎么样");
  EXPECT_EQ(query_features("ＡＢＣ！").normalized, "abc");
}

TEST(QueryFeaturesTest, EnglishNegations) {
  EXPECT_EQ(query_features("Is coffee bad for you").negations, 0);
  EXPECT_EQ(query_features("Is coffee not bad for you").negations, 1);
  EXPECT_EQ(query_features("Why doesn't my code compile").negations, 1);
  EXPECT_EQ(query_features("why doesnt my code compile").negations, 1);
  EXPECT_EQ(query_features("I never eat without a fork").negations, 2);
}

TEST(QueryFeaturesTest, ChineseNegationsSkipWordsThatDoNotNegate) {
  EXPECT_EQ(query_features("这个药可以吃吗").negations, 0);
  EXPECT_EQ(query_features("这个药不可以吃吗").negations, 1);
  EXPECT_EQ(query_features("我没有收到邮件").negations, 1);
  EXPECT_EQ(query_features("明天是不是会下雨").negations, 0);   // A-not-A question
  EXPECT_EQ(query_features("非常感谢，未来会更好").negations, 0);  // 非常, 未来
  EXPECT_EQ(query_features("别人怎么说").negations, 0);
  EXPECT_EQ(query_features("别担心").negations, 1);
}

TEST(QueryFeaturesTest, NumbersAndDates) {
  auto f = query_features("Convert 1,000 dollars to euros in three steps");
  EXPECT_EQ(join(f.numbers), "1000|3");
  EXPECT_EQ(join(query_features("what is 2.50 plus 007").numbers), "2.5|7");
  EXPECT_EQ(join(query_features("weather tomorrow in Paris").numbers), "@tomorrow");
  EXPECT_EQ(join(query_features("我需要三个苹果和二十五个梨").numbers), "25|3");
  EXPECT_EQ(join(query_features("推荐一个好的餐厅").numbers), "");  // 一个 = "a"
  EXPECT_EQ(join(query_features("一些建议").numbers), "");
  EXPECT_EQ(join(query_features("明天北京天气").numbers), "@tomorrow");
  EXPECT_EQ(join(query_features("Is the meeting in May").numbers), "@may");
  EXPECT_EQ(join(query_features("May I ask a question").numbers), "");
}

TEST(QueryFeaturesTest, EntitiesEnglish) {
  auto f = query_features("What is the population of Paris and NASA budget");
  EXPECT_TRUE(has(f.entities, "paris")) << join(f.entities);
  EXPECT_TRUE(has(f.entities, "nasa")) << join(f.entities);
  EXPECT_FALSE(has(f.entities, "population")) << join(f.entities);
  auto g = query_features("Tell me about Tokyo");
  EXPECT_TRUE(has(g.entities, "tokyo")) << join(g.entities);
  EXPECT_FALSE(has(g.entities, "tell"));
}

TEST(QueryFeaturesTest, EntitiesChinese) {
  auto f = query_features("杭州市有什么好玩的");
  EXPECT_FALSE(f.entities.empty()) << join(f.words);
}

TEST(QueryFeaturesTest, ContentWordsDropStopWordsAndStem) {
  auto a = query_features("How do I reset my passwords?");
  auto b = query_features("how can i reset my password");
  EXPECT_EQ(a.content, b.content) << join(a.content) << " vs " << join(b.content);
  auto c = query_features("如何重置密码");
  auto d = query_features("怎么重置密码？");
  EXPECT_EQ(c.content, d.content) << join(c.content) << " vs " << join(d.content);
}

// A verb and particle WordNet lists as one lemma are one content word ("turning down" → turn_down, whose
// synset holds "decline"); a noun compound, a negation or a number next to a particle stay apart.
TEST(QueryFeaturesTest, PhrasalVerbsAreOneWord) {
  const auto a = query_features("Draft a message turning down an offer");
  EXPECT_TRUE(has(a.content, "turn_down")) << join(a.content);
  EXPECT_FALSE(has(a.content, "turning") || has(a.content, "turn")) << join(a.content);
  EXPECT_TRUE(has(query_features("how do I opt out of emails").content, "opt_out"));
  EXPECT_TRUE(has(query_features("can I send back an opened item").content, "send_back"));
  const auto credit = query_features("pay my credit card bill");
  EXPECT_TRUE(has(credit.content, "credit") && has(credit.content, "card")) << join(credit.content);
  const auto neg = query_features("why won't my phone turn on");
  EXPECT_EQ(neg.negations, 1);
  EXPECT_FALSE(has(query_features("give me two back").content, "two_back"));
}

// Courtesy around a Chinese question is not what it asks.
TEST(QueryFeaturesTest, ChineseCourtesyIsNotContent) {
  const auto a = query_features("不好意思打扰一下，请问发票怎么开");
  const auto b = query_features("发票怎么开");
  EXPECT_EQ(a.content, b.content) << join(a.content) << " vs " << join(b.content);
}

TEST(QueryFeaturesTest, TenseMarkers) {
  EXPECT_TRUE(has(query_features("Who was the president of France").content, "#past"));
  EXPECT_TRUE(has(query_features("Who will be the president of France").content, "#future"));
  EXPECT_FALSE(has(query_features("Who is the president of France").content, "#past"));
}

TEST(QueryFeaturesTest, InvalidUtf8AndEmptyInputAreSafe) {
  EXPECT_EQ(query_features("").normalized, "");
  auto f = query_features("bad \xff\xfe bytes 中\xe4");
  EXPECT_FALSE(f.words.empty());
}

}  // namespace
TEST(QueryFeaturesTest, QuantitiesInBaseUnits) {
  EXPECT_EQ(join(query_features("Is 1 hour enough to marinate chicken").numbers), "60min");
  EXPECT_EQ(join(query_features("marinate chicken for 60 minutes").numbers), "60min");
  EXPECT_EQ(join(query_features("一周无理由退货").numbers), join(query_features("七天无理由退货").numbers));
  EXPECT_EQ(join(query_features("红烧肉炖一个小时").numbers), "60min");
  EXPECT_EQ(join(query_features("红烧肉炖60分钟").numbers), "60min");
  EXPECT_EQ(join(query_features("roast 2 kg of beef").numbers), "2000g");
  EXPECT_NE(join(query_features("roast 2 kg of beef").numbers), join(query_features("roast 2 lb of beef").numbers));
}

TEST(QueryFeaturesTest, ChineseTimeWordsInsideLongerWords) {
  EXPECT_TRUE(has(query_features("本周六的演唱会门票").numbers, "@this_week"));
  EXPECT_TRUE(has(query_features("本周六的演唱会门票").numbers, "@sat"));
  EXPECT_NE(join(query_features("本周六的演唱会").numbers), join(query_features("下周六的演唱会").numbers));
}

TEST(QueryFeaturesTest, ScopeTags) {
  EXPECT_EQ(join(query_features("How do I delete all messages").scope), "#all");
  EXPECT_EQ(join(query_features("check my business's credit score").scope), "#business");
  EXPECT_EQ(join(query_features("怎么删除所有朋友圈").scope), "#all");
  EXPECT_TRUE(query_features("How do I delete a message").scope.empty());
}

TEST(QueryFeaturesTest, TemperaturesInCelsius) {
  EXPECT_EQ(join(query_features("is 100.4 °F a fever").numbers), "38c");
  EXPECT_EQ(join(query_features("is 38°C a fever").numbers), "38c");
  EXPECT_EQ(join(query_features("is 212 degrees Fahrenheit boiling").numbers), "100c");
  EXPECT_EQ(join(query_features("体温37度5算发烧吗").numbers), "37.5c");  // 37度5: 37.5 degrees
  EXPECT_EQ(join(query_features("体温37.5℃算发烧吗").numbers), "37.5c");
  EXPECT_EQ(join(query_features("how many c of flour").numbers), "");  // no number, no degree sign
}

TEST(QueryFeaturesTest, FractionsAndArticlesBeforeUnits) {
  EXPECT_EQ(join(query_features("3/4 cup of milk").numbers), "180ml");
  EXPECT_EQ(join(query_features("half an hour walk").numbers), "30min");
  EXPECT_EQ(join(query_features("a 24/7 pharmacy").numbers), "24/7");  // not a fraction
}

TEST(QueryFeaturesTest, NamesHoldingDigitsAreNotQuantities) {
  EXPECT_EQ(join(query_features("deploy on k3s").numbers), "");
  EXPECT_TRUE(has(query_features("deploy on k3s").entities, "k3s"));
  EXPECT_EQ(join(query_features("where is my I-9 form").numbers), "");
  EXPECT_TRUE(has(query_features("where is my I-9 form").entities, "i-9"));
  EXPECT_EQ(join(query_features("run 10km").numbers), "10000m");
}

TEST(QueryFeaturesTest, WeekdaysInThePluralAndTheWeekend) {
  EXPECT_EQ(join(query_features("Is the museum open on Tuesdays?").numbers), "@tue");
  EXPECT_EQ(join(query_features("open on Saturday and Sunday").numbers), join(query_features("open at the weekend").numbers));
}

TEST(QueryFeaturesTest, ChineseNamesAndScopeInsideLongerWords) {
  EXPECT_TRUE(query_features("银行卡丢了怎么办").entities.empty());  // 银行 is a bank, not a name
  EXPECT_TRUE(query_features("出国要带什么").entities.empty());
  EXPECT_TRUE(has(query_features("杭州有什么好玩的").entities, "杭州"));
  EXPECT_TRUE(has(query_features("去泰国要签证吗").entities, "thailand"));  // a country by its English name
  EXPECT_TRUE(query_features("个人所得税起征点").scope.empty());  // the tax's name
  EXPECT_EQ(join(query_features("公司的信用报告").scope), "#business");
  // The asker is the default scope: 个人 and 自己 add no tag.
  EXPECT_TRUE(query_features("个人的信用报告").scope.empty());
  EXPECT_TRUE(query_features("怎么查自己的征信报告").scope.empty());
}

TEST(QueryFeaturesTest, ChineseWordsTheDictionaryLacksAreKeptWhole) {
  // ICU splits words it does not know into characters; runs of up to three are read as one word.
  EXPECT_TRUE(has(query_features("孕妇能吃布洛芬吗").content, "布洛芬")) << join(query_features("孕妇能吃布洛芬吗").content);
  EXPECT_FALSE(has(query_features("孕妇能吃布洛芬吗").content, "洛"));
}

TEST(QueryFeaturesTest, HowManyUnitsIsTheQuestionsFormNotItsContent) {
  EXPECT_FALSE(has(query_features("签证几天能下来").content, "几天"));
  EXPECT_FALSE(has(query_features("签证要等多少天").content, "天"));
  EXPECT_FALSE(has(query_features("My cat has fleas").content, "have"));
}

TEST(QueryFeaturesTest, XFreeNegatesXAsWithoutDoes) {
  const auto a = query_features("visa-free stay in Japan"), b = query_features("stay in Japan without a visa");
  EXPECT_EQ(a.negations, 1);
  EXPECT_EQ(a.negations, b.negations);
  EXPECT_TRUE(has(a.content, "visa")) << join(a.content);
  EXPECT_FALSE(has(a.content, "free")) << join(a.content);
  EXPECT_EQ(query_features("is the museum free on sundays").negations, 0);  // free alone is a price
  EXPECT_EQ(query_features("freedom of movement -free").negations, 0);
}

TEST(QueryFeaturesTest, ANegatedAdjectiveReadsAsItsAntonym) {
  const auto a = query_features("孩子英语成绩差怎么提高"), b = query_features("小孩英语老考不好怎么办");
  EXPECT_EQ(b.negations, 0);
  EXPECT_EQ(a.negations, b.negations);
  EXPECT_TRUE(has(b.content, "差")) << join(b.content);
  EXPECT_EQ(query_features("我还没收到货").negations, 1);  // no antonym: still a negation
  EXPECT_EQ(query_features("这个好不好用").negations, 0);  // A-not-A asks
  EXPECT_FALSE(has(query_features("这个好不好用").content, "差"));
}

TEST(QueryFeaturesTest, AnAgeIsANumberAndAChildUnder18) {
  const auto a = query_features("gift for a five year old"), b = query_features("What's a good gift for a 5-year-old?");
  EXPECT_EQ(join(a.numbers), "5");  // an age, not 5 years as a duration
  EXPECT_EQ(join(a.numbers), join(b.numbers));
  EXPECT_EQ(join(b.scope), join(query_features("给五岁小孩送什么礼物好").scope));
  EXPECT_EQ(join(query_features("renovating a 40-year-old house").numbers), "40");
  EXPECT_TRUE(query_features("renovating a 40-year-old house").scope.empty());
  EXPECT_EQ(join(query_features("how old is the universe").numbers), "");
}

TEST(QueryFeaturesTest, ACountryIsOneNameInEveryFormAndLanguage) {
  EXPECT_EQ(join(query_features("How long can Americans stay in Japan?").entities),
            join(query_features("stay length in Japan for US passport holders").entities));
  EXPECT_EQ(join(query_features("申请中国签证需要哪些材料").entities),
            join(query_features("documents for a Chinese visa").entities));
  EXPECT_TRUE(query_features("can you send it to us").entities.empty());  // the pronoun
}

}  // namespace kuai::cache
