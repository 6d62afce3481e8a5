#include "text/normalize.h"
#include "text/script.h"
#include "text/utf8.h"

#include <gtest/gtest.h>

namespace kuai::text {
namespace {

TEST(NormalizeTest, CaseFoldAndNfkc) {
  EXPECT_EQ(normalize("Hello WORLD"), "hello world");
  EXPECT_EQ(normalize("ＡＢＣ１２３"), "abc123");        // full-width → ASCII
  EXPECT_EQ(normalize("Straße"), "strasse");             // full case folding
  EXPECT_EQ(normalize("ﬁle"), "file");                   // compatibility ligature
  EXPECT_EQ(normalize("请你耐心"), "请你耐心");          // Chinese unchanged
  EXPECT_EQ(normalize("e\xcc\x81"), "\xc3\xa9");         // e + combining acute → é (composed)
}

TEST(NormalizeTest, InvalidUtf8IsRepaired) {
  std::string out = normalize("A\xff" "B");
  EXPECT_TRUE(utf8_valid(out));
  EXPECT_EQ(out, "a\xef\xbf\xbd" "b");
}

TEST(ScriptTest, DetectsCjk) {
  EXPECT_TRUE(is_cjk(U'中'));
  EXPECT_TRUE(is_cjk(U'あ'));
  EXPECT_TRUE(is_cjk(U'한'));
  EXPECT_FALSE(is_cjk(U'a'));
  EXPECT_FALSE(is_cjk(U'，'));
  EXPECT_TRUE(is_cjk_punct(U'，'));
  EXPECT_TRUE(is_cjk_punct(U'。'));
  EXPECT_FALSE(is_cjk_punct(U'Ａ'));
  EXPECT_TRUE(has_cjk("hello 世界"));
  EXPECT_FALSE(has_cjk("hello world"));
  EXPECT_DOUBLE_EQ(cjk_ratio("ab中文"), 0.5);
  EXPECT_DOUBLE_EQ(cjk_ratio("123"), 0.0);
}

TEST(Utf8Test, FloorNeverCutsASequence) {
  std::string s = "a中b";  // 'a', 3 bytes, 'b'
  EXPECT_EQ(utf8_floor(s, 0), 0u);
  EXPECT_EQ(utf8_floor(s, 1), 1u);
  EXPECT_EQ(utf8_floor(s, 2), 1u);
  EXPECT_EQ(utf8_floor(s, 3), 1u);
  EXPECT_EQ(utf8_floor(s, 4), 4u);
  EXPECT_EQ(utf8_floor(s, 99), s.size());
  EXPECT_EQ(utf8_length(s), 3u);
}

TEST(Utf8Test, ValidityAndSanitize) {
  EXPECT_TRUE(utf8_valid("plain 中文 😀"));
  EXPECT_FALSE(utf8_valid("\xc0\xaf"));        // overlong
  EXPECT_FALSE(utf8_valid("\xed\xa0\x80"));    // surrogate
  EXPECT_FALSE(utf8_valid("\xe4\xb8"));        // truncated
  EXPECT_TRUE(utf8_valid(utf8_sanitize("x\xe4\xb8")));
  EXPECT_EQ(utf8_sanitize("ok"), "ok");
}

}  // namespace
}  // namespace kuai::text
