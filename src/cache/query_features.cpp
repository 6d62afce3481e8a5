#include "cache/query_features.h"

#include "cache/cedict.h"
#include "cache/word_lists.h"
#include "cache/wordnet.h"
#include "text/normalize.h"
#include "text/script.h"
#include "text/segment.h"
#include "text/utf8.h"

#include <unicode/uchar.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cmath>
#include <cstdlib>
#include <utility>

namespace kuai::cache {
namespace {

bool is_sentence_end(std::string_view punct) {
  return punct.find_first_of(".!?") != std::string_view::npos || punct.find("。") != std::string_view::npos ||
         punct.find("！") != std::string_view::npos || punct.find("？") != std::string_view::npos;
}

// "1,000.50" → "1000.5"; full-width digits were already folded.
std::string canonical_number(std::string_view s) {
  std::string out;
  for (char c : s)
    if (c != ',' && c != '_' && c != ' ') out += c;
  if (out.find('.') != std::string::npos) {
    while (!out.empty() && out.back() == '0') out.pop_back();
    if (!out.empty() && out.back() == '.') out.pop_back();
  }
  size_t nz = 0;  // "007" → "7"
  while (nz + 1 < out.size() && out[nz] == '0' && out[nz + 1] != '.') ++nz;
  return out.substr(nz);
}

// Chinese numeral run → integer text ("二十五" → "25", "两" → "2", "三千万" → "30000000").
std::string chinese_number(std::u32string_view run) {
  int64_t total = 0, section = 0, digit = 0;
  bool any = false;
  for (char32_t c : run) {
    int d = zh_digit(c);
    if (d >= 0) { digit = d; any = true; continue; }
    int64_t unit = zh_unit(c);
    if (unit == 0) continue;
    any = true;
    if (unit >= 10000) {
      section = (section + digit) * unit;
      total += section;
      section = 0;
    } else {
      section += (digit == 0 ? 1 : digit) * unit;
    }
    digit = 0;
  }
  if (!any) return {};
  return std::to_string(total + section + digit);
}

std::string english_stem(std::string w) {
  auto ends = [&](std::string_view suf) { return w.size() > suf.size() && w.ends_with(suf); };
  if (w.size() > 4 && ends("ies")) return w.substr(0, w.size() - 3) + "y";
  if (ends("sses")) return w.substr(0, w.size() - 2);
  if (w.size() > 3 && ends("s") && !ends("ss") && !ends("us") && !ends("is")) w.pop_back();
  if (w.size() > 5 && ends("ing")) return w.substr(0, w.size() - 3);
  if (w.size() > 4 && ends("ed")) return w.substr(0, w.size() - 2);
  return w;
}

bool has_digit(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// WordNet's forms of an English word (wordnet.h), none without WordNet.
std::vector<std::string> wn_forms(const std::string& w) {
  const WordNet* wn = WordNet::shared();
  return wn ? wn->forms(w) : std::vector<std::string>{};
}

struct Builder {
  QueryFeatures f;
  bool sentence_start = true;
  int last_number = -1;  // index in f.numbers of the number just read, while a unit may follow it
  std::string last_word;  // the English word before this one ("next" before "week")
  bool in_cjk_text = false;  // the query holds Chinese text
  bool degree_sign = false;  // "°" or "degrees" between the number just read and a possible C/F
  int tenths_of = -1;        // index in f.numbers of "38" in "38度", while a "5" may follow

  // "1 hour" and "60 minutes", 一周 and 七天: a quantity becomes its size in the unit's base ("60min").
  void apply_unit(const Unit& u) {
    if (last_number < 0 || u.factor <= 0) return;
    std::string& n = f.numbers[size_t(last_number)];
    char* end = nullptr;
    double v = std::strtod(n.c_str(), &end);
    if (end == n.c_str() || *end != '\0') return;  // a date or tag, not a plain number
    char buf[48];
    double size = v * u.factor + u.offset;
    size = std::round(size * 100) / 100;  // 100.4 °F is 38 °C, not 37.99999
    std::snprintf(buf, sizeof buf, "%.6g%.*s", size, int(u.base.size()), u.base.data());
    n = buf;
    f.terms.push_back(n);
    last_number = -1;
  }

  void english(std::string_view original, std::string word) {
    // Typographic apostrophes → ASCII.
    if (word.find("\xe2\x80\x99") != std::string::npos) {
      std::string ascii;
      for (size_t i = 0; i < word.size(); ++i) {
        if (word.compare(i, 3, "\xe2\x80\x99") == 0) { ascii += '\''; i += 2; } else { ascii += word[i]; }
      }
      word = std::move(ascii);
    }
    if (Unit u = degree_sign ? en_temperature_unit(word) : en_unit(word); last_number >= 0 && u.factor > 0) {
      f.words.push_back(word);
      apply_unit(u);
      degree_sign = false;
      return;
    }
    // "half a cup", "half an hour": the article between a number and its unit; "102 degrees F".
    if (last_number >= 0 && (word == "a" || word == "an" || word == "degree" || word == "degrees")) {
      f.words.push_back(word);
      degree_sign = degree_sign || word.starts_with("degree");
      return;
    }
    last_number = -1;
    degree_sign = false;
    f.words.push_back(word);
    if (auto c = country_name(word, original); !c.empty()) {  // a name in any language or form
      sentence_start = false;
      f.entities.push_back(c);
      f.content.push_back(c);
      f.terms.push_back(c);
      return;
    }
    size_t len;
    char32_t first = text::utf8_decode(original, 0, len);
    bool capital = u_isupper(static_cast<UChar32>(first));
    bool at_start = sentence_start;
    sentence_start = false;

    if (has_digit(word)) {  // "5km", "gpt4", "3pm"
      alphanumeric(word);
      return;
    }
    // Contractions.
    if (word.ends_with("n't")) {
      ++f.negations;
      f.terms.push_back("#not");
      word = word == "won't" ? "will" : word == "can't" ? "can" : word.substr(0, word.size() - 3);
    } else if (is_en_negation_contraction(word)) {
      ++f.negations;
      f.terms.push_back("#not");
      return;
    } else if (auto p = word.find('\''); p != std::string::npos) {
      std::string tail = word.substr(p + 1);
      word = word.substr(0, p);
      if (tail == "ll") f.content.push_back("#future");
    }
    if (word.empty()) return;
    if (is_en_negation(word)) { ++f.negations; f.terms.push_back("#not"); return; }
    if (auto n = en_number_word(word); !n.empty()) {
      f.numbers.push_back(n);
      f.terms.push_back(n);
      last_number = int(f.numbers.size()) - 1;
      return;
    }
    // When, relative to something: before / after ("stretch before running"), and a period counted
    // from now ("next week", "last month").
    const std::string previous = std::exchange(last_word, word);
    if (auto order = en_order_word(word); !order.empty()) {
      f.numbers.push_back(order);
      f.terms.push_back(order);
      return;
    }
    if (auto rel = en_relative_period(previous, word); !rel.empty()) {
      f.numbers.push_back(rel);
      f.terms.push_back(rel);
      return;
    }
    if (auto t = en_temporal_word(word, capital && !at_start); !t.empty()) {
      f.numbers.push_back(t);
      f.terms.push_back(t);
      return;
    }
    if (auto tense = en_tense_word(word); !tense.empty()) { f.content.push_back(tense); f.terms.push_back(tense); return; }
    if (auto scope = en_scope_word(word); !scope.empty()) f.scope.push_back(scope);
    // In Chinese text a capitalised Latin word is a name wherever it stands, even a common one ("Go
    // 怎么读取 JSON 文件").
    if (in_cjk_text && capital) {
      f.entities.push_back(word);
      f.content.push_back(word);
      f.terms.push_back(word);
      return;
    }
    if (is_en_stopword(word)) { f.terms.push_back(word); return; }
    // Acronyms and mixed case ("NASA", "iPhone"), and capitalised words not at a sentence start.
    size_t uppers = 0;
    for (size_t i = 0; i < original.size();) {
      char32_t c = text::utf8_decode(original, i, len);
      uppers += u_isupper(static_cast<UChar32>(c)) ? 1 : 0;
      i += len;
    }
    const WordNet* wn = WordNet::shared();
    const std::vector<std::string> forms = wn ? wn->forms(word) : std::vector<std::string>{};
    // A capitalised first word is a name only when it is not a common word ("Sorry, how do I …").
    const bool common_at_start = at_start && (is_en_common_starter(word) || !forms.empty());
    bool entity = uppers >= 2 || (uppers == 1 && !capital) || (capital && !common_at_start);
    if (word == "i") entity = false;
    // A word WordNet knows stays as written (the guards compare it through its forms and synsets), and
    // the embedder sees the synsets of its most frequent senses, which many synonyms share; other words
    // are stemmed.
    if (!entity && !forms.empty()) {
      f.content.push_back(forms.front());  // the word when it is a lemma ("papers"), else its base
      f.terms.push_back(forms.front());
      for (auto& s : wn->first_senses(forms)) f.terms.push_back("#" + s);
      return;
    }
    std::string stem = en_synonym(english_stem(word));
    if (entity) f.entities.push_back(stem);
    f.content.push_back(stem);
    f.terms.push_back(stem);
  }

  // A word of letters and digits. Digits first are a quantity, with its unit when the letters are one
  // ("5km", "2kg"), else counted as the number ("4g", "2fa", "3pm") beside the word as a name; letters
  // first are a name that holds a number ("k8s", "win11", "gpt4", "b1"), not a quantity.
  void alphanumeric(const std::string& word) {
    size_t digits = 0;
    while (digits < word.size() && ((word[digits] >= '0' && word[digits] <= '9') || word[digits] == '.')) ++digits;
    if (digits > 0) {
      const Unit u = en_unit(std::string_view(word).substr(digits));
      f.numbers.push_back(canonical_number(word.substr(0, digits)));
      if (u.factor > 0 && digits < word.size()) {
        last_number = int(f.numbers.size()) - 1;
        apply_unit(u);
        return;
      }
      f.terms.push_back(f.numbers.back());
      last_number = -1;
    }
    f.entities.push_back(word);
    f.content.push_back(word);
    f.terms.push_back(word);
  }

  void number(std::string_view word) {
    sentence_start = false;
    f.words.emplace_back(word);
    degree_sign = false;
    // "38度5": a digit right after a number and 度 is its tenths (38.5 degrees), as Chinese says a temperature.
    if (tenths_of >= 0 && word.size() == 1 && word[0] >= '0' && word[0] <= '9') {
      std::string& n = f.numbers[size_t(tenths_of)];
      n = std::to_string(std::atoi(n.c_str())) + "." + std::string(word) + "c";
      tenths_of = -1;
      return;
    }
    tenths_of = -1;
    if (std::any_of(word.begin(), word.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); })) {
      last_number = -1;
      alphanumeric(std::string(word));
      return;
    }
    f.numbers.push_back(canonical_number(word));
    f.terms.push_back(f.numbers.back());
    last_number = int(f.numbers.size()) - 1;
  }

  // "1/2 cup", "3/4": a fraction when the numerator is smaller and the denominator small; otherwise
  // the pair as written ("24/7", "140/90", "6/28") is one value.
  void fraction(const std::string& num, const std::string& den) {
    const double x = std::strtod(num.c_str(), nullptr), y = std::strtod(den.c_str(), nullptr);
    if (!f.numbers.empty() && last_number == int(f.numbers.size()) - 1) {
      f.numbers.pop_back();
      f.terms.pop_back();
    }
    f.words.push_back(den);
    if (y > 0 && x < y && y <= 16) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.4g", x / y);
      f.numbers.emplace_back(buf);
    } else {
      f.numbers.push_back(canonical_number(num) + "/" + canonical_number(den));
    }
    f.terms.push_back(f.numbers.back());
    last_number = int(f.numbers.size()) - 1;
  }

  // A run of CJK text (consecutive Cjk spans), processed as one for negation/number masks.
  void chinese(const std::vector<std::string>& tokens) {
    sentence_start = false;
    std::string joined;
    for (const auto& t : tokens) joined += t;
    std::u32string run = text::utf8_to_u32(joined);
    // `excepted`: inside a word where 不/无/一… do not negate or count (非常, 未来, 一些);
    // `consumed`: characters read as a negation or a number, left out of the content words.
    std::vector<bool> excepted(run.size(), false), consumed(run.size(), false);
    for (std::u32string_view w : zh_masked_words()) {
      for (size_t p = run.find(w); p != std::u32string::npos; p = run.find(w, p + 1))
        std::fill(excepted.begin() + p, excepted.begin() + p + w.size(), true);
    }
    // Negations (A-not-A questions such as 是不是, 有没有, 可不可以 ask, they do not negate).
    // A negated adjective that has a one-character antonym reads as that antonym (考不好 = 差, 不多
    // = 少): two wordings of one fact then agree on polarity and on content.
    static constexpr std::pair<char32_t, char32_t> kAntonyms[] = {
        {U'好', U'差'}, {U'差', U'好'}, {U'多', U'少'}, {U'高', U'低'}, {U'低', U'高'}, {U'长', U'短'},
        {U'短', U'长'}, {U'远', U'近'}, {U'近', U'远'}, {U'早', U'晚'}, {U'晚', U'早'}, {U'对', U'错'}};
    for (size_t i = 0; i < run.size(); ++i) {
      if (excepted[i] || !is_zh_negation(run[i])) continue;
      consumed[i] = true;
      if (i > 0 && i + 1 < run.size() && run[i - 1] == run[i + 1]) { consumed[i + 1] = true; continue; }
      if (run[i] == U'不' && i + 1 < run.size() && !excepted[i + 1]) {
        const auto* a = std::find_if(std::begin(kAntonyms), std::end(kAntonyms),
                                     [&](const auto& p) { return p.first == run[i + 1]; });
        if (a != std::end(kAntonyms)) {
          consumed[i + 1] = true;
          const std::string word = zh_synonym(text::u32_to_utf8(std::u32string(1, a->second)));
          f.content.push_back(word);
          f.terms.push_back(word);
          continue;
        }
      }
      ++f.negations;
      f.terms.push_back("#not");
    }
    // A unit right after a number written in digits before this run ("60分钟").
    if (size_t len = 0; last_number >= 0) {
      const int number = last_number;
      Unit u = zh_unit_prefix(run, len);
      apply_unit(u);
      std::fill(consumed.begin(), consumed.begin() + len, true);
      if (u.base == "c" && len == run.size()) tenths_of = number;
    }
    last_number = -1;
    // A scope word inside a longer word is part of that word's name (个人 in 个人所得税, a tax everyone
    // pays), not whose question it is; across words it counts (单 / 人间 is 单人间).
    std::vector<size_t> token_end;  // code point offset where each token ends
    for (size_t k = 0, at = 0; k < tokens.size(); ++k) token_end.push_back(at += text::utf8_to_u32(tokens[k]).size());
    auto inside_longer_word = [&](size_t p, size_t n) {
      size_t start = 0;
      for (size_t end : token_end) {
        if (p < end) return p + n <= end && end - start >= n + 2;
        start = end;
      }
      return false;
    };
    for (const auto& [w, tag] : zh_scope_words())
      for (size_t p = run.find(w); p != std::u32string::npos; p = run.find(w, p + 1))
        if (!inside_longer_word(p, w.size())) {
          f.scope.push_back(tag);
          break;
        }
    // Time words anywhere in the run (segmentation may glue 本周六 into one word): 本周 + 周六.
    for (const auto& [w, tag] : zh_temporal_words()) {
      for (size_t p = run.find(w); p != std::u32string::npos; p = run.find(w, p + 1)) {
        // Overlaps are kept (本周六 is 本周 and 周六); a span already read whole is not read twice.
        if (std::all_of(consumed.begin() + p, consumed.begin() + p + w.size(), [](bool c) { return c; })) continue;
        f.numbers.push_back(tag);
        f.terms.push_back(tag);
        std::fill(consumed.begin() + p, consumed.begin() + p + w.size(), true);
      }
    }
    // Numbers: numeral runs ("二十五"), with 一 before a measure word read as the article "a".
    for (size_t i = 0; i < run.size();) {
      if (excepted[i] || consumed[i] || !is_zh_numeral(run[i])) { ++i; continue; }
      size_t j = i;
      while (j < run.size() && !excepted[j] && is_zh_numeral(run[j])) ++j;
      size_t unit_len = 0;
      const Unit unit = zh_unit_prefix(std::u32string_view(run).substr(j), unit_len);
      // 一次 / 一回 count (once); 一个 / 一本 are the article.
      bool article = j == i + 1 && run[i] == U'一' && j < run.size() && is_zh_measure(run[j]) && unit.factor <= 0 &&
                     run[j] != U'次' && run[j] != U'回' && run[j] != U'遍';
      bool unit_only = zh_digit(run[i]) < 0 && j == i + 1;  // a lone 十/百/千/万 inside a word
      if (unit_only) { i = j; continue; }
      if (!article) {
        f.numbers.push_back(chinese_number(run.substr(i, j - i)));
        f.terms.push_back(f.numbers.back());
        last_number = int(f.numbers.size()) - 1;
        apply_unit(unit);
        j += unit_len;
        last_number = -1;
      }
      std::fill(consumed.begin() + i, consumed.begin() + j, true);
      i = j;
    }
    // Before / after something (饭后, 打疫苗前, 起飞前): the tag names what it is relative to, so 游泳后…吃饭
    // and 饭后…游泳 differ.
    for (size_t k = 0; k < tokens.size(); ++k) {
      std::string anchor;
      const std::string order = zh_order_word(tokens[k], k > 0 ? tokens[k - 1] : std::string(), anchor);
      if (order.empty()) continue;
      f.numbers.push_back(order + ":" + zh_synonym(anchor));
      f.terms.push_back(f.numbers.back());
    }
    size_t pos = 0;
    // ICU's dictionary splits a word it does not know into single characters (布/洛/芬, 抖/音, 改/签):
    // consecutive single characters that are neither stop words nor measure words are read as one word.
    // (The embedder still sees the characters as ICU split them.) Runs of more than three are left
    // split: those are more often several one-character words (电/饭/煲/做).
    std::u32string pending;
    // "How many days / times" (几天, 多少 天, 几次) asks for a quantity: the question's form, not its
    // content (多久, 多长时间 and 时间 say the same).
    bool after_how_many = false;
    auto counted_unit = [](std::u32string_view u) {
      size_t len = 0;
      return (u.size() == 1 && is_zh_measure(u[0])) || (zh_unit_prefix(u, len).factor > 0 && len == u.size());
    };
    auto content_word = [&](const std::u32string& rest, bool term) {
      std::string word = zh_synonym(text::u32_to_utf8(rest));
      if (auto c = country_name(word, word); !c.empty()) {  // the same name as its English forms
        if (term) f.terms.push_back(c);
        f.entities.push_back(c);
        f.content.push_back(c);
        return;
      }
      if (term) f.terms.push_back(word);
      const bool how_many = after_how_many;
      after_how_many = word == "多少";
      if (how_many && counted_unit(rest)) return;
      if (rest.size() >= 2 && rest[0] == U'几' && counted_unit(std::u32string_view(rest).substr(1))) return;
      if (is_zh_stopword(word) || (rest.size() == 1 && is_zh_measure(rest[0]))) return;
      if (is_zh_name(rest)) f.entities.push_back(word);
      f.content.push_back(word);
      // What the dictionary says it means first, in English: the embedder then puts 退款 near "refund"
      // and 资料 near 材料 ("material").
      if (const Cedict* cd = Cedict::shared())
        if (const Cedict::Gloss* g = cd->gloss(word))
          for (size_t k = 0; k < std::min<size_t>(g->first, 3); ++k) {
            // as an English word's term: its lemma ("documents" → "document")
            const std::vector<std::string> forms = wn_forms(g->words[k]);
            f.terms.push_back(forms.empty() ? g->words[k] : forms.front());
          }
    };
    auto flush = [&] {
      if (pending.size() <= 3) {
        if (!pending.empty()) content_word(pending, false);
      } else {
        for (char32_t c : pending) content_word(std::u32string(1, c), false);
      }
      pending.clear();
    };
    for (const auto& t : tokens) {
      std::u32string u = text::utf8_to_u32(t);
      f.words.push_back(t);
      // Drop the negation/numeral characters counted above; what is left is the content.
      std::u32string rest;
      bool whole = true;
      for (size_t k = 0; k < u.size(); ++k)
        if (!consumed[pos + k]) rest.push_back(u[k]);
        else whole = false;
      pos += u.size();
      const bool single = whole && rest.size() == 1 && !is_zh_measure(rest[0]) && !is_zh_stopword(text::u32_to_utf8(rest)) &&
                          zh_synonym(text::u32_to_utf8(rest)) == text::u32_to_utf8(rest);
      if (single) {
        pending += rest;
        f.terms.push_back(text::u32_to_utf8(rest));
        continue;
      }
      flush();
      if (!rest.empty()) content_word(rest, true);
    }
    flush();
  }
};

// Particles that make a phrasal verb with the verb before them ("turn down", "send back", "opt out").
// Not over, in, through: more often a preposition's ("stocks held over a year" is not "hold over").
bool is_en_particle(std::string_view w) {
  static const char* kParticles[] = {"up", "down", "out", "off", "back", "on", "away"};
  return std::any_of(std::begin(kParticles), std::end(kParticles), [&](const char* p) { return w == p; });
}

// A word that may open or continue a collocation: a content word, as the guards see it (not a stop
// word, negation, number, time or scope word, which carry their own meaning to the guards).
bool collocation_part(const std::string& w) {
  if (w.empty() || has_digit(w) || is_en_stopword(w) || is_en_negation(w) || is_en_negation_contraction(w)) return false;
  if (w.find('\'') != std::string::npos) return false;
  return en_number_word(w).empty() && en_order_word(w).empty() && en_temporal_word(w, false).empty() &&
         en_scope_word(w).empty() && en_tense_word(w).empty();
}

// The phrasal verb WordNet lists for 2 or 3 folded words written apart, ending in a particle
// ("turning down" → "turn_down", "send back" → "send_back", "opt out" → "opt_out"; the verb
// inflected), or "". Only phrasal verbs: their meaning is in neither word ("turn down" is "decline"),
// while a noun compound ("credit card") says what its words say, and as one word it would count once
// where its words counted twice towards the content guard's coverage.
std::string en_collocation(const std::vector<std::string>& words, const WordNet& wn) {
  if (words.size() < 2 || !collocation_part(words.front()) || !is_en_particle(words.back())) return "";
  for (size_t i = 1; i + 1 < words.size(); ++i)
    if (!collocation_part(words[i])) return "";
  std::string rest;
  for (size_t i = 1; i < words.size(); ++i) rest += "_" + words[i];
  std::vector<std::string> verbs = wn.forms(words.front());
  verbs.insert(verbs.begin(), words.front());
  for (const auto& verb : verbs)
    if (!wn.forms(verb + rest).empty()) return verb + rest;
  return "";
}

void sort_unique(std::vector<std::string>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

}  // namespace

QueryFeatures query_features(std::string_view input) {
  std::string text_in = en_standard_forms(zh_standard_forms(text::utf8_sanitize(input)));
  Builder b;
  b.in_cjk_text = text::has_cjk(text_in);
  std::vector<std::string> cjk_run;
  auto flush_cjk = [&] {
    if (!cjk_run.empty()) b.chinese(cjk_run);
    cjk_run.clear();
  };
  const auto spans = text::segment(text_in);
  auto piece_of = [&](size_t i) { return std::string_view(text_in).substr(spans[i].begin, spans[i].end - spans[i].begin); };
  // Spans i, i+1, i+2 written together (no space): a number, "/" and a number ("1/2"); a word, "-"
  // and a number ("W-2", "COVID-19": a name).
  auto joined = [&](size_t i, text::SpanKind first, std::string_view mid) {
    return i + 2 < spans.size() && spans[i].kind == first && spans[i + 1].kind == text::SpanKind::Punct &&
           piece_of(i + 1) == mid && spans[i + 2].kind == text::SpanKind::Number && spans[i].end == spans[i + 1].begin &&
           spans[i + 1].end == spans[i + 2].begin;
  };
  for (size_t i = 0; i < spans.size(); ++i) {
    const auto& span = spans[i];
    std::string_view piece = piece_of(i);
    if (span.kind != text::SpanKind::Cjk) flush_cjk();
    if (joined(i, text::SpanKind::Number, "/")) {
      b.number(text::normalize(piece));
      b.fraction(text::normalize(piece), text::normalize(piece_of(i + 2)));
      i += 2;
      continue;
    }
    if (joined(i, text::SpanKind::Word, "-") && !text::has_cjk(piece)) {
      b.sentence_start = false;
      b.alphanumeric(text::normalize(piece) + "-" + text::normalize(piece_of(i + 2)));
      b.f.words.push_back(text::normalize(piece));
      i += 2;
      continue;
    }
    switch (span.kind) {
      case text::SpanKind::Cjk: cjk_run.push_back(text::normalize(piece)); break;
      case text::SpanKind::Word: {
        // A verb and particle WordNet lists as one lemma are one word: "turn down" is "decline", which
        // neither "turn" nor "down" says. Three words first, then two, separated by spaces only.
        std::vector<std::string> run{text::normalize(piece)};
        std::vector<size_t> ends{i};
        for (size_t j = i + 2; run.size() < 3 && j < spans.size() && spans[j - 1].kind == text::SpanKind::Space &&
                               spans[j].kind == text::SpanKind::Word && !text::has_cjk(piece_of(j));
             j += 2) {
          run.push_back(text::normalize(piece_of(j)));
          ends.push_back(j);
        }
        std::string lemma;
        if (const WordNet* wn = WordNet::shared(); wn && !text::has_cjk(piece)) {
          while (run.size() >= 2 && (lemma = en_collocation(run, *wn)).empty()) {
            run.pop_back();
            ends.pop_back();
          }
        }
        if (lemma.empty()) {
          b.english(piece, text::normalize(piece));
        } else {
          b.english(piece, lemma);
          b.f.words.push_back(run.back());  // the particle, which the guards still read ("turn on" / "turn off")
          i = ends.back();
        }
        break;
      }
      case text::SpanKind::Number: b.number(text::normalize(piece)); break;
      case text::SpanKind::Punct:
        if (is_sentence_end(piece)) b.sentence_start = true;
        // "39°C": the degree sign joins a number to its scale.
        if (piece == "°" && b.last_number >= 0) {
          b.degree_sign = true;
          break;
        }
        if ((piece == "℃" || piece == "℉") && b.last_number >= 0) {  // one character: "38.5℃"
          b.apply_unit(en_temperature_unit(piece == "℃" ? "c" : "f"));
          break;
        }
        b.last_number = -1;
        break;
      case text::SpanKind::Space: break;
    }
  }
  flush_cjk();
  // Saturday and Sunday are the weekend.
  if (auto sat = std::find(b.f.numbers.begin(), b.f.numbers.end(), "@sat"); sat != b.f.numbers.end()) {
    if (auto sun = std::find(b.f.numbers.begin(), b.f.numbers.end(), "@sun"); sun != b.f.numbers.end()) {
      *sat = "@weekend";
      b.f.numbers.erase(sun);
    }
  }

  // Normalised text: NFKC + fold, whitespace collapsed, trailing sentence punctuation dropped.
  std::string norm = text::normalize(text_in);
  std::string collapsed;
  bool space = false;
  for (char c : norm) {
    bool ws = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
    if (ws) { space = !collapsed.empty(); continue; }
    if (space) collapsed += ' ';
    space = false;
    collapsed += c;
  }
  for (bool changed = true; changed;) {
    changed = false;
    for (std::string_view tail : {"?", "!", ".", "。", "？", "！", " "}) {
      if (collapsed.size() >= tail.size() && collapsed.ends_with(tail)) {
        collapsed.resize(collapsed.size() - tail.size());
        changed = true;
      }
    }
  }
  b.f.normalized = std::move(collapsed);
  std::sort(b.f.numbers.begin(), b.f.numbers.end());
  sort_unique(b.f.entities);
  sort_unique(b.f.content);
  sort_unique(b.f.scope);
  return std::move(b.f);
}

}  // namespace kuai::cache
