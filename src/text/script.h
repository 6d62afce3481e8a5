// Script detection for English/Chinese-aware text processing: which code points are CJK letters
// (Han ideographs, kana, hangul), CJK punctuation, and whether a string holds any CJK. Pure; any thread.
#pragma once

#include <string_view>

namespace kuai::text {

// Han ideographs (all CJK Unified blocks and compatibility ideographs), hiragana, katakana, hangul.
bool is_cjk(char32_t cp);
// CJK symbols and punctuation (U+3000..303F) and full-width/half-width forms' punctuation (U+FF00..FFEF
// that are not letters or digits).
bool is_cjk_punct(char32_t cp);
// True when any code point of the UTF-8 string is CJK (is_cjk).
bool has_cjk(std::string_view utf8);
// Share of letters that are CJK, in [0, 1] (0 for text with no letters).
double cjk_ratio(std::string_view utf8);

}  // namespace kuai::text
