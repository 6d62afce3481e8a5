#include "fakeup/script.h"

#include <gtest/gtest.h>

namespace kuai::fakeup {
namespace {

TEST(FakeScript, RulesMatchInOrderWithErrorsAndLineBreaks) {
  std::vector<ScriptRule> rules;
  ASSERT_EQ(parse_script("# comment\n\nplan => 1. a\\n2. b\nboom => !503 overloaded\n* => anything\n", rules), std::nullopt);
  ASSERT_EQ(rules.size(), 3u);
  EXPECT_EQ(match_script(rules, "make a plan")->answer, "1. a\n2. b");
  const ScriptRule* err = match_script(rules, "boom now");
  EXPECT_EQ(err->status, 503);
  EXPECT_EQ(err->answer, "overloaded");
  EXPECT_EQ(match_script(rules, "other")->answer, "anything");
  rules.clear();
  ASSERT_EQ(parse_script("x => y\n", rules), std::nullopt);
  EXPECT_EQ(match_script(rules, "z"), nullptr);
}

TEST(FakeScript, BadLinesAreErrorsNamingTheLine) {
  std::vector<ScriptRule> rules;
  auto e = parse_script("a => b\nno arrow here\n", rules);
  ASSERT_TRUE(e);
  EXPECT_NE(e->find("line 2"), std::string::npos);
  e = parse_script(" => b\n", rules);
  ASSERT_TRUE(e);
  e = parse_script("a => !200 ok\n", rules);
  ASSERT_TRUE(e);
  EXPECT_NE(e->find("400..599"), std::string::npos);
  EXPECT_TRUE(load_script("/nonexistent/script", rules).has_value());
}

}  // namespace
}  // namespace kuai::fakeup
