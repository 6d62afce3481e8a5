// The fake upstream's documented token count (usage.prompt_tokens): the number of words (maximal runs
// of characters that are neither whitespace, ASCII punctuation-only runs included, nor CJK) plus the
// number of CJK characters (Han, Hiragana, Katakana, Hangul). CJK punctuation and full-width forms
// (U+3000–U+303F, U+FF00–U+FF65) separate words and are not counted. Invalid UTF-8 bytes count as
// word characters. Pure function, any thread.
#pragma once

#include <cstdint>
#include <string_view>

namespace kuai::fakeup {

int64_t count_tokens(std::string_view utf8_text);

}  // namespace kuai::fakeup
