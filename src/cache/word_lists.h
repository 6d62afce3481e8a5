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
std::string en_tense_word(std::string_view w);
// Order in time: "before"/"prior" → "@before", "after" → "@after"; "" otherwise.
std::string en_order_word(std::string_view w);
// A period counted from now: "next"/"last"/"this"/"coming"/"previous" + "week"/"month"/"year"/"weekend"
// → "@next_week" …; "" otherwise.
std::string en_relative_period(std::string_view previous, std::string_view w);
// A Chinese word saying before/after something: 前/后/之前/之后/以前/以后 alone (then `previous` is
// what it is relative to), or ending a word (饭后: 饭). "@before"/"@after" and `anchor`; "" otherwise.
// Words where 前/后 mean something else (提前, 然后, 最后, 前面, 后来 …) are not read.
std::string zh_order_word(const std::string& token, const std::string& previous, std::string& anchor);          // was/were/did/had → "#past", will → "#future"
std::string en_synonym(const std::string& stem);        // one form per synonym group (on the stem)

// Scope: whose or how much a question is about ("all" / "one", "business", "my kid's"). The asker
// is the default scope, so "personal", "individual", 个人 and 自己 carry no tag ("怎么查自己的征信报告"
// asks what "个人信用报告在哪里查" asks; a business's report still differs). A canonical tag ("#all",
// "#business", "#child" …) or "" (folded English word).
std::string en_scope_word(std::string_view w);
// The same for Chinese, found anywhere in a run of text (所有 → "#all", 公司 → "#business").
const std::vector<std::pair<std::u32string, std::string>>& zh_scope_words();
// Words that add little to what a question asks ("way", "steps", "guide"; 方法, 流程, 步骤): a
// paraphrase may add them without changing the question.
bool is_generic_word(std::string_view w);
// Characters of opposite direction or amount (升/降, 加/减, 高/低, 入/出, 主/副 …): two Chinese words
// that differ only by such a pair ask opposite things (升值 / 贬值, 加湿 / 除湿).
bool zh_polar_pair(char32_t a, char32_t b);
std::u32string zh_polar_partners(char32_t c);  // the characters zh_polar_pair pairs with c

// A unit of time, mass or volume and its size in the class's base unit (minutes, grams, millilitres):
// "hours" → {60, "min"}, "kg" → {1000, "g"}, "tbsp" → {15, "ml"}; 小时 → {60, "min"}. {0, ""} if none.
// Temperatures are in degrees Celsius ("c"): a size is value * factor + offset.
struct Unit {
  double factor = 0;
  std::string_view base;
  double offset = 0;
};
Unit en_unit(std::string_view w);
// "c"/"celsius" and "f"/"fahrenheit" after a number and a degree sign ("39°C", "102.2 °F"); {0, ""}
// otherwise ("c" alone is as often a cup).
Unit en_temperature_unit(std::string_view w);
// The Chinese unit at the start of `s` (个 before it skipped: 一个小时) and its length in code points.
Unit zh_unit_prefix(std::u32string_view s, size_t& length);

int zh_digit(char32_t c);        // 零一二两三…九 → 0..9; -1 otherwise
int64_t zh_unit(char32_t c);     // 十百千万亿 → 10…1e8; 0 otherwise
inline bool is_zh_numeral(char32_t c) { return zh_digit(c) >= 0 || zh_unit(c) > 0; }
bool is_zh_negation(char32_t c); // 不没别非无未莫勿否甭
bool is_zh_measure(char32_t c);  // 个本家种件只位条张 …
bool is_zh_entity_suffix(char32_t c);  // 市省县国州岛山河湖江 …
// A Chinese word that names a place or an organisation by its suffix (北京市, 招商银行, 中国, 杭州),
// not a common word with the same suffix (银行, 公司, 出国, 旅行).
bool is_zh_name(std::u32string_view w);
const std::vector<std::u32string>& zh_masked_words();  // 非常, 未来, 一些, 十分 …
// Time words and their canonical tags (明天 → "@tomorrow", 周六 → "@sat", 下周 → "@next_week"), longest first.
const std::vector<std::pair<std::u32string, std::string>>& zh_temporal_words();
bool is_zh_stopword(std::string_view w);
std::string zh_synonym(const std::string& w);
// A country's canonical name (English, lower case) for its English name, demonym or Chinese name
// ("Americans", "US", 美国 → "america"; "Chinese", 中国 → "china"); "" for other words. `original` is
// the word as written (US the country, us the pronoun).
std::string country_name(std::string_view word, std::string_view original);
// Colloquial Chinese spelled in standard form before segmentation (为啥 → 为什么, 咋 → 怎么, 啥 → 什么),
// so the segmenter sees the same words. Other text is returned unchanged.
std::string zh_standard_forms(std::string s);
// English wordings rewritten to the plain form the features read: "X-free" (visa-free, sugar-free,
// hands-free) as "without X", so it negates X as "without a visa" does; an age ("5-year-old", "five
// years old") as its number, with "child" under 18, not as a duration of years.
std::string en_standard_forms(std::string s);

}  // namespace kuai::cache
