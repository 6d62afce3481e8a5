#include "cache/query_features.h"

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

void add_digit_runs(std::string_view s, std::vector<std::string>& numbers) {
  for (size_t i = 0; i < s.size();) {
    if (s[i] >= '0' && s[i] <= '9') {
      size_t j = i;
      while (j < s.size() && ((s[j] >= '0' && s[j] <= '9') || s[j] == '.' || s[j] == ',')) ++j;
      numbers.push_back(canonical_number(s.substr(i, j - i)));
      i = j;
    } else {
      ++i;
    }
  }
}

struct Builder {
  QueryFeatures f;
  bool sentence_start = true;
  int last_number = -1;  // index in f.numbers of the number just read, while a unit may follow it
  std::string last_word;  // the English word before this one ("next" before "week")
  bool in_cjk_text = false;  // the query holds Chinese text

  // "1 hour" and "60 minutes", 一周 and 七天: a quantity becomes its size in the unit's base ("60min").
  void apply_unit(const Unit& u) {
    if (last_number < 0 || u.factor <= 0) return;
    std::string& n = f.numbers[size_t(last_number)];
    char* end = nullptr;
    double v = std::strtod(n.c_str(), &end);
    if (end == n.c_str() || *end != '\0') return;  // a date or tag, not a plain number
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.6g%.*s", v * u.factor, int(u.base.size()), u.base.data());
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
    if (Unit u = en_unit(word); last_number >= 0 && u.factor > 0) {
      f.words.push_back(word);
      apply_unit(u);
      return;
    }
    last_number = -1;
    f.words.push_back(word);
    size_t len;
    char32_t first = text::utf8_decode(original, 0, len);
    bool capital = u_isupper(static_cast<UChar32>(first));
    bool at_start = sentence_start;
    sentence_start = false;

    if (has_digit(word)) {  // "5km", "gpt4", "3pm"
      add_digit_runs(word, f.numbers);
      f.entities.push_back(word);
      f.content.push_back(word);
      f.terms.push_back(word);
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
      for (auto& s : wn->first_senses(forms)) f.terms.push_back("#" + s);
      return;
    }
    std::string stem = en_synonym(english_stem(word));
    if (entity) f.entities.push_back(stem);
    f.content.push_back(stem);
    f.terms.push_back(stem);
  }

  void number(std::string_view word) {
    sentence_start = false;
    f.words.emplace_back(word);
    f.numbers.push_back(canonical_number(word));
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
    for (size_t i = 0; i < run.size(); ++i) {
      if (excepted[i] || !is_zh_negation(run[i])) continue;
      consumed[i] = true;
      if (i > 0 && i + 1 < run.size() && run[i - 1] == run[i + 1]) { consumed[i + 1] = true; continue; }
      ++f.negations;
      f.terms.push_back("#not");
    }
    // A unit right after a number written in digits before this run ("60分钟").
    if (size_t len = 0; last_number >= 0) {
      Unit u = zh_unit_prefix(run, len);
      apply_unit(u);
      std::fill(consumed.begin(), consumed.begin() + len, true);
    }
    last_number = -1;
    for (const auto& [w, tag] : zh_scope_words())
      if (run.find(w) != std::u32string::npos) f.scope.push_back(tag);
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
    for (const auto& t : tokens) {
      std::u32string u = text::utf8_to_u32(t);
      f.words.push_back(t);
      // Drop the negation/numeral characters counted above; what is left is the content.
      std::u32string rest;
      for (size_t k = 0; k < u.size(); ++k)
        if (!consumed[pos + k]) rest.push_back(u[k]);
      pos += u.size();
      if (rest.empty()) continue;
      std::string word = zh_synonym(text::u32_to_utf8(rest));
      f.terms.push_back(word);
      if (is_zh_stopword(word) || (rest.size() == 1 && is_zh_measure(rest[0]))) continue;
      if (rest.size() >= 2 && is_zh_entity_suffix(rest.back())) f.entities.push_back(word);
      f.content.push_back(word);
    }
  }
};

void sort_unique(std::vector<std::string>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

}  // namespace

QueryFeatures query_features(std::string_view input) {
  std::string text_in = zh_standard_forms(text::utf8_sanitize(input));
  Builder b;
  b.in_cjk_text = text::has_cjk(text_in);
  std::vector<std::string> cjk_run;
  auto flush_cjk = [&] {
    if (!cjk_run.empty()) b.chinese(cjk_run);
    cjk_run.clear();
  };
  for (const auto& span : text::segment(text_in)) {
    std::string_view piece = std::string_view(text_in).substr(span.begin, span.end - span.begin);
    if (span.kind != text::SpanKind::Cjk) flush_cjk();
    switch (span.kind) {
      case text::SpanKind::Cjk: cjk_run.push_back(text::normalize(piece)); break;
      case text::SpanKind::Word: b.english(piece, text::normalize(piece)); break;
      case text::SpanKind::Number: b.number(text::normalize(piece)); break;
      case text::SpanKind::Punct:
        if (is_sentence_end(piece)) b.sentence_start = true;
        b.last_number = -1;
        break;
      case text::SpanKind::Space: break;
    }
  }
  flush_cjk();

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
