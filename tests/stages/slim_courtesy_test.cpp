#include "stages/slim_courtesy.h"

#include "stages/slim_rules.h"

#include <gtest/gtest.h>

namespace kuai::stages {
namespace {

// The classifier alone (no phrase list): what the lexicon generalises to, on sentences written here.
std::string slim(std::string_view s) {
  static const CourtesyLexicon lex = [] {
    CourtesyLexicon l;
    l.add_list(builtin_courtesy_en());
    l.add_list(builtin_courtesy_zh());
    return l;
  }();
  SlimOptions opt;
  opt.allow_empty = true;
  return slim_text(s, PhraseSet{}, opt, &lex).text;
}

TEST(SlimCourtesyTest, PureCourtesySentencesGo) {
  EXPECT_EQ(slim("Apologies for pinging you twice today. My router model is AX-3000."), "My router model is AX-3000.");
  EXPECT_EQ(slim("Hey! Really grateful for the quick answers. Is port 8443 open by default?"),
            "Is port 8443 open by default?");
  EXPECT_EQ(slim("非常抱歉又来打扰您。我的快递单号是SF1234567。"), "我的快递单号是SF1234567。");
  EXPECT_EQ(slim("You're welcome, happy to help!"), "");
}

TEST(SlimCourtesyTest, SmallTalkRidingOnCourtesyGoes) {
  EXPECT_EQ(slim("Haha, my neighbour's parrot just learned to whistle. How do I reset the router?"),
            "How do I reset the router?");
  EXPECT_EQ(slim("哈哈，我家猫又把键盘踩了。路由器怎么重置？"), "路由器怎么重置？");
}

TEST(SlimCourtesyTest, ContentInACourteousSentenceStays) {
  // A decision, a number, a name, a constraint: only the courtesy clause goes.
  EXPECT_EQ(slim("Sorry, I changed my mind, I'd rather pick it up at the store."),
            "I changed my mind, I'd rather pick it up at the store.");
  EXPECT_EQ(slim("Thanks, my new number ends in 4471."), "my new number ends in 4471.");
  EXPECT_EQ(slim("Thanks so much, Priya will sign for the parcel."), "Priya will sign for the parcel.");
  EXPECT_EQ(slim("Sorry, my daughter is allergic to sesame."), "my daughter is allergic to sesame.");
  EXPECT_EQ(slim("谢谢，我对芒果过敏。"), "我对芒果过敏。");
  EXPECT_EQ(slim("不好意思，我只能用Java 8。"), "我只能用Java 8。");
  // A condition or a limit said in passing, with too few words to pass for more than small talk.
  EXPECT_EQ(slim("Ugh, sorry, and now my son is sick."), "and now my son is sick.");
  EXPECT_EQ(slim("见谅哈，菜别太辣。"), "菜别太辣。");
  EXPECT_EQ(slim("抱歉啊，我最近在发烧。"), "我最近在发烧。");
  // What the user came to ask about is content (the object of 咨询/请教/想问), however anxious the tone.
  EXPECT_EQ(slim("打扰您一下，我想咨询一下理赔的问题。"), "我想咨询一下理赔的问题。");
  EXPECT_EQ(slim("不好意思，我想请教几个数学问题。"), "我想请教几个数学问题。");
}

TEST(SlimCourtesyTest, ALimitThatRunsPastACourtesyWordStays) {
  // 一点都不 opens reassurance ("一点都不麻烦"); 一点都不行 ends in the limit 不行: not courtesy.
  EXPECT_EQ(slim("我婆婆不吃辣，一点都不行。"), "我婆婆不吃辣，一点都不行。");
  EXPECT_EQ(slim("一点都不麻烦！"), "");
}

TEST(SlimCourtesyTest, SentencesWithoutCourtesyAreUntouched) {
  for (std::string_view s : {"The parcel arrived with a dented lid and a missing screw.",
                             "Only the lid, the base is fine.", "明天上午十点到，地址不变。",
                             "I should mention the hallway carpet is stained too, which the landlord saw."})
    EXPECT_EQ(slim(s), s);
}

TEST(SlimCourtesyTest, LongSentenceWithAnApologyKeepsItsContent) {
  // More than a few content words: not small talk, only the apology clause goes.
  EXPECT_EQ(slim("Oh, I forgot to say earlier, my apologies — the balcony door frame is cracked as well."),
            "Oh, I forgot to say earlier, the balcony door frame is cracked as well.");
}

TEST(SlimCourtesyTest, CodeAndQuotesAreNeverTouched) {
  EXPECT_EQ(slim("```\nprint('thanks so much!')\n```"), "```\nprint('thanks so much!')\n```");
  EXPECT_EQ(slim("The card says \"Thank you, you're the best!\" on it."),
            "The card says \"Thank you, you're the best!\" on it.");
  EXPECT_EQ(slim("「谢谢您！」这句用英语怎么说？"), "「谢谢您！」这句用英语怎么说？");
}

TEST(SlimCourtesyTest, BadInputNeverCrashes) {
  std::string junk = "\xff\xfe sorry \xe4\xbd thanks \xe8";
  (void)slim(junk);
  (void)slim(std::string(100000, '!'));
  (void)slim("");
  (void)slim("谢");
}

}  // namespace
}  // namespace kuai::stages
