// The word lists behind query_features.cpp (English and Chinese): stop words, negations, number words,
// dates, synonyms, and Chinese words where 不/无/一… neither negate nor count. Inputs are folded
// (text::normalize) words; English lookups take the word before stemming unless noted.
// Pure; any thread (the tables are built once, thread-safely, on first use).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kuai::cache {

bool is_en_stopword(std::string_view w);
bool is_en_negation(std::string_view w);               // not, no, never, without, …
bool is_en_negation_contraction(std::string_view w);   // dont, cant, isnt … (typed without apostrophe)
bool is_en_common_starter(std::string_view w);         // words that start requests capitalised (Tell, Explain …)
std::string en_number_word(std::string_view w);        // "three" → "3", "third" → "3"; "" if none
// "tomorrow" → "@tomorrow", "monday" → "@mon"; "may"/"march" only when `capitalised_mid_sentence`.
std::string en_temporal_word(std::string_view w, bool capitalised_mid_sentence);
std::string en_tense_word(std::string_view w);          // was/were/did/had → "#past", will → "#future"
std::string en_synonym(const std::string& stem);        // one form per synonym group (on the stem)

int zh_digit(char32_t c);        // 零一二两三…九 → 0..9; -1 otherwise
int64_t zh_unit(char32_t c);     // 十百千万亿 → 10…1e8; 0 otherwise
inline bool is_zh_numeral(char32_t c) { return zh_digit(c) >= 0 || zh_unit(c) > 0; }
bool is_zh_negation(char32_t c); // 不没别非无未莫勿否甭
bool is_zh_measure(char32_t c);  // 个本家种件只位条张 …
bool is_zh_entity_suffix(char32_t c);  // 市省县国州岛山河湖江 …
const std::vector<std::u32string>& zh_masked_words();  // 非常, 未来, 一些, 十分 …
std::string zh_temporal_word(std::string_view w);      // 明天 → "@tomorrow"; "" if none
bool is_zh_stopword(std::string_view w);
std::string zh_synonym(const std::string& w);
// Colloquial Chinese spelled in standard form before segmentation (为啥 → 为什么, 咋 → 怎么, 啥 → 什么),
// so the segmenter sees the same words. Other text is returned unchanged.
std::string zh_standard_forms(std::string s);

}  // namespace kuai::cache
