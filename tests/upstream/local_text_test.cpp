// TextAssembler: byte tokens that form no UTF-8 character (a small or random model emits them) reach the
// client as U+FFFD, never as raw bytes (the JSON of a response must be valid UTF-8); a character split
// over two byte tokens is held back until it is whole. Tokens from the real stories260K vocabulary.
#include "upstream/local_text.h"

#include "engine/gguf/gguf_file.h"
#include "engine/tokenizer/tokenizer.h"
#include "text/utf8.h"

#include <gtest/gtest.h>

#include "support/paths.h"

namespace kuai::upstream {
namespace {

std::unique_ptr<engine::Tokenizer> stories_tokenizer() {
  auto f = engine::GgufFile::open(kuai::test::shared_dir() + "/models/stories260K/stories260K.gguf");
  EXPECT_TRUE(f.ok()) << f.error();
  if (!f.ok()) return nullptr;
  auto t = engine::Tokenizer::from_gguf(**f);
  EXPECT_TRUE(t.ok()) << t.error();
  return t.ok() ? std::move(*t) : nullptr;
}

TEST(TextAssembler, ByteTokensThatFormNoCharacterBecomeReplacementCharacters) {
  auto tok = stories_tokenizer();
  ASSERT_TRUE(tok);
  const auto lone = tok->find("<0xAD>"), e2 = tok->find("<0xE2>"), x82 = tok->find("<0x82>"), xac = tok->find("<0xAC>");
  ASSERT_TRUE(lone && e2 && x82 && xac) << "stories260K has byte tokens";
  TextAssembler text(*tok, {});
  text.add(*lone);  // a continuation byte alone
  EXPECT_EQ(text.take_ready(), "\xEF\xBF\xBD");
  text.add(*e2);
  text.add(*x82);
  EXPECT_EQ(text.take_ready(), "") << "two bytes of the three of '€': held back";
  text.add(*xac);
  EXPECT_EQ(text.take_ready(), "\xE2\x82\xAC");
  text.add(*e2);  // generation ends inside a character
  const std::string rest = text.take_all();
  EXPECT_EQ(rest, "\xEF\xBF\xBD");
  EXPECT_TRUE(text::utf8_valid(rest));
}

}  // namespace
}  // namespace kuai::upstream
