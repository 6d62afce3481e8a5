#include "stages/slim_courtesy.h"

#include "text/ascii.h"
#include "text/utf8.h"

#include <algorithm>
#include <array>

namespace kuai::stages {
namespace {

#include "stages/slim_courtesy.inc"

constexpr size_t kMaxWildcardWords = 3;
constexpr int kMaxSmallTalkWords = 5;        // rule 3: other Latin words a removed sentence may hold
constexpr int kMaxSmallTalkCjk = 24;         // rule 3: other CJK characters
constexpr int kMaxPureCjk = 2;               // rule 2: other CJK characters a pure courtesy may hold

bool is_cjk(char32_t cp) {
  return (cp >= 0x3400 && cp <= 0x9FFF) || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x20000 && cp <= 0x2FFFF);
}
bool has_cjk(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t len;
    if (is_cjk(text::utf8_decode(s, i, len))) return true;
    i += len;
  }
  return false;
}

bool ends_sentence(char32_t cp) { return cp == U'。' || cp == U'！' || cp == U'？' || cp == U'…'; }
bool ends_clause(char32_t cp) {
  switch (cp) {
    case ',': case ';': case ':': case '~':
    case U'—': case U'–': case U'，': case U'；': case U'：': case U'、': case U'～':
      return true;
    default:
      return false;
  }
}
bool quote_mark(char32_t cp) {
  switch (cp) {
    case '"': case '`': case U'“': case U'”': case U'‘': case U'「': case U'」': case U'『': case U'』':
    case U'«': case U'»': case U'《': case U'》':
      return true;
    default:
      return false;
  }
}

// Latin words of s[b, e): letters/digits with inner apostrophes and hyphens, each as the hash of its
// lower case form (’ read as ').
void latin_words(std::string_view s, size_t b, size_t e, std::vector<CourtesyLexicon::Word>& out) {
  out.clear();
  size_t i = b;
  while (i < e) {
    if (!text::ascii_alnum(s[i])) { ++i; continue; }
    // The word's fields live in registers and are stored once, field by field: a Word built on the
    // stack and copied in was a store-forwarding stall per word (a quarter of this file's time).
    const size_t begin = i;
    uint64_t hash = CourtesyLexicon::kHashSeed;
    bool digit = false;
    while (i < e) {
      char c = s[i];
      char lc;
      if (text::ascii_alnum(c)) {
        lc = text::ascii_lower(c);
        digit |= text::ascii_digit(c);
        ++i;
      } else if ((c == '\'' || c == '-') && i + 1 < e && text::ascii_alpha(s[i + 1])) {
        lc = c;
        ++i;
      } else if (e - i >= 4 && s.compare(i, 3, "\xE2\x80\x99") == 0 && text::ascii_alpha(s[i + 3])) {
        lc = '\'';
        i += 3;
      } else {
        break;
      }
      hash = CourtesyLexicon::hash_step(hash, lc);
    }
    CourtesyLexicon::Word& w = out.emplace_back();
    w.begin = begin;
    w.end = i;
    w.hash = hash;
    w.digit = digit;
    // "I" and its contractions: i alone, or i and an apostrophe (' or ’, read only before a letter)
    const size_t second = begin + 1;
    w.pronoun_i = text::ascii_lower(s[begin]) == 'i' && (second == i || s[second] == '\'' || s[second] == '\xE2');
  }
}

std::vector<std::string> split_words(std::string_view line) {
  std::vector<std::string> words;
  std::string cur;
  for (char c : line) {
    if (text::ascii_hspace(c)) {
      if (!cur.empty()) words.push_back(std::move(cur)), cur.clear();
      continue;
    }
    cur += static_cast<char>((c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c);
  }
  if (!cur.empty()) words.push_back(std::move(cur));
  return words;
}

struct Analysis {
  bool trigger = false;
  bool veto = false;      // a content mark other than '?'
  bool question = false;  // '?' / '？' outside a trigger
  int words = 0;          // Latin words that are neither trigger nor soft
  int cjk = 0;            // CJK characters that are neither trigger nor soft
  bool pure() const { return trigger && !veto && words == 0 && cjk <= kMaxPureCjk; }
  bool small_talk() const {
    return trigger && !veto && !question && words <= kMaxSmallTalkWords && cjk <= kMaxSmallTalkCjk;
  }
};

struct Scratch {
  // The message's, found once for all its sentences and clauses (no word crosses their bounds):
  std::vector<CourtesyLexicon::Word> words;                // Latin words
  std::vector<std::pair<uint32_t, uint32_t>> triggers;     // CJK trigger occurrences (pattern, offset)
  // The range's:
  std::vector<uint8_t> covered;   // per word of the range: 1 trigger
  std::vector<uint8_t> cjk_mark;  // per byte of the range: 1 trigger, 2 soft
  std::vector<uint8_t> probe;     // cjk_mark with the vetoes
  std::vector<std::pair<uint32_t, uint32_t>> occurrences;  // of a lexicon's patterns in the range
};

// Marks the bytes of each occurrence (pattern, offset in the range) of `set`'s patterns with `value`
// where unmarked (patterns in their order: longest first; a pattern's occurrences left to right, each
// resuming after the previous one); returns whether any was marked. An occurrence counts where none of
// its bytes is marked, or, with `overhang`, where any is: a veto that runs past a trigger's end still
// marks content ("一点都不行": the trigger 一点都不 ends inside the veto 不行, a limit).
bool mark_cjk(const text::PatternSet& set, std::vector<std::pair<uint32_t, uint32_t>>& occurrences,
              std::vector<uint8_t>& mark, uint8_t value, bool overhang = false) {
  bool found = false;
  std::sort(occurrences.begin(), occurrences.end());  // by pattern, then offset
  uint32_t pattern = ~0u;
  size_t resume = 0;
  for (auto [k, at] : occurrences) {
    const size_t len = set.patterns()[k].size();
    if (k != pattern) {
      pattern = k;
      resume = 0;
    }
    if (at < resume) continue;  // overlaps the previous occurrence of the same pattern
    resume = at + len;
    size_t unmarked = 0;
    for (size_t q = at; q < at + len; ++q) unmarked += mark[q] == 0;
    if (overhang ? unmarked == 0 : unmarked < len) continue;
    std::fill_n(mark.begin() + static_cast<std::ptrdiff_t>(at), len, value);
    found = true;
  }
  return found;
}

// The courtesy analysis of s[b, e), a sentence or a clause of the message whose words and CJK triggers
// `sc` holds.
Analysis analyse(std::string_view s, size_t b, size_t e, const CourtesyLexicon& lex, Scratch& sc) {
  Analysis a;
  // CJK: triggers, then vetoes not inside them, then soft words; count what is left.
  bool cjk_here = false;
  for (size_t i = b + text::ascii_prefix(s.substr(b, e - b)); i < e && !cjk_here; ++i)
    cjk_here = static_cast<unsigned char>(s[i]) >= 0xE3;
  sc.cjk_mark.assign(e - b, 0);
  if (cjk_here) {
    sc.occurrences.clear();
    const auto& patterns = lex.cjk_trigger().patterns();
    for (auto [k, at] : sc.triggers)
      if (at >= b && at + patterns[k].size() <= e) sc.occurrences.emplace_back(k, static_cast<uint32_t>(at - b));
    a.trigger = mark_cjk(lex.cjk_trigger(), sc.occurrences, sc.cjk_mark, 1);
  }
  // Latin words (the message's in [b, e): indices first..last) and their triggers.
  const auto& w = sc.words;
  const auto index_of = [&](size_t at) {  // the first word that begins at or after `at`
    const auto before = [](const CourtesyLexicon::Word& x, size_t p) { return x.begin < p; };
    return static_cast<size_t>(std::lower_bound(w.begin(), w.end(), at, before) - w.begin());
  };
  const size_t first = index_of(b), last = index_of(e);
  sc.covered.assign(last - first, 0);
  const auto covered = [&](size_t i) -> uint8_t& { return sc.covered[i - first]; };  // indexed like w
  for (size_t i = first; i < last;) {
    if (!lex.latin_trigger().may_start(w[i].hash)) { ++i; continue; }  // (most words: no call)
    size_t n = CourtesyLexicon::match_at(lex.latin_trigger(), w, i, last);
    if (n == 0) { ++i; continue; }
    std::fill_n(&covered(i), n, 1);
    a.trigger = true;
    i += n;
  }
  // No trigger: not courtesy, whatever the rest (most sentences stop here).
  if (!a.trigger) return a;
  if (cjk_here) {
    sc.probe = sc.cjk_mark;
    lex.cjk_veto().matches(s.substr(b, e - b), sc.occurrences);
    if (mark_cjk(lex.cjk_veto(), sc.occurrences, sc.probe, 3, /*overhang=*/true)) a.veto = true;
    lex.cjk_soft().matches(s.substr(b, e - b), sc.occurrences);
    mark_cjk(lex.cjk_soft(), sc.occurrences, sc.cjk_mark, 2);
  }
  for (size_t i = b; i < e;) {
    size_t len;
    char32_t cp = text::utf8_decode(s, i, len);
    if (sc.cjk_mark[i - b] == 0) {
      if (is_cjk(cp)) ++a.cjk;
      else if (cp == '?' || cp == U'？') a.question = true;
      else if (quote_mark(cp) || (cp >= U'０' && cp <= U'９')) a.veto = true;
    }
    i += len;
  }
  for (size_t i = first; i < last; ++i) {
    if (covered(i)) continue;
    if (w[i].digit) { a.veto = true; continue; }
    size_t run = i;
    while (run < last && !covered(run)) ++run;
    if (CourtesyLexicon::match_at(lex.latin_veto(), w, i, run) > 0) a.veto = true;
    // A capitalised word inside the sentence is a name ("I" and its contractions are not).
    const bool capital = s[w[i].begin] >= 'A' && s[w[i].begin] <= 'Z';
    const bool soft = lex.latin_soft(w[i].hash);
    if (capital && !w[i].pronoun_i) {
      size_t k = w[i].begin;
      while (k > b && text::ascii_hspace(s[k - 1])) --k;
      const bool starts = k == b || s[k - 1] == '\n' || s[k - 1] == '.' || s[k - 1] == '!' || s[k - 1] == '?' ||
                          s[k - 1] == '"' || s[k - 1] == '(';
      if (!starts && !soft) a.veto = true;
    }
    if (!soft) ++a.words;
  }
  return a;
}

bool any_skip(const std::vector<uint8_t>& skip, size_t b, size_t e) {
  for (size_t i = b; i < e; ++i)
    if (skip[i]) return true;
  return false;
}

}  // namespace

void CourtesyLexicon::add_list(std::string_view list) {
  enum { None, Trigger, Veto, Soft } section = None;
  size_t i = 0;
  while (i < list.size()) {
    size_t eol = list.find('\n', i);
    if (eol == std::string_view::npos) eol = list.size();
    std::string_view line = list.substr(i, eol - i);
    i = eol + 1;
    while (!line.empty() && (text::ascii_hspace(line.front()))) line.remove_prefix(1);
    while (!line.empty() && (text::ascii_hspace(line.back()))) line.remove_suffix(1);
    if (line.empty() || line[0] == '#') continue;
    if (line == "[trigger]") { section = Trigger; continue; }
    if (line == "[veto]") { section = Veto; continue; }
    if (line == "[soft]") { section = Soft; continue; }
    if (section == None) continue;
    if (has_cjk(line) || static_cast<unsigned char>(line[0]) >= 0x80 || line == "?") {
      auto& v = section == Trigger ? cjk_trigger_ : section == Veto ? cjk_veto_ : cjk_soft_;
      v.emplace_back(line);
      std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
      continue;
    }
    std::vector<std::string> words = split_words(line);
    for (auto& word : words) {  // ’ → ' (as the text's words are read)
      std::string plain;
      for (size_t k = 0; k < word.size(); ++k) {
        if (word.compare(k, 3, "\xE2\x80\x99") == 0) { plain += '\''; k += 2; continue; }
        plain += word[k];
      }
      word = std::move(plain);
    }
    std::vector<uint64_t> hashes;
    for (const auto& word : words) hashes.push_back(word == "*" ? kStar : hash_of(word));
    if (section == Soft) {
      for (uint64_t h : hashes) {
        latin_soft_.insert(h);
        soft_bits_[(h >> 6) & 63] |= uint64_t{1} << (h & 63);
      }
      continue;
    }
    auto& table = section == Trigger ? latin_trigger_ : latin_veto_;
    table.first_bits[(hashes[0] >> 6) & 63] |= uint64_t{1} << (hashes[0] & 63);
    auto& bucket = table.by_first[hashes[0]];
    bucket.push_back(std::move(hashes));
    std::stable_sort(bucket.begin(), bucket.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  }
  cjk_trigger_set_ = text::PatternSet(cjk_trigger_);
  cjk_veto_set_ = text::PatternSet(cjk_veto_);
  cjk_soft_set_ = text::PatternSet(cjk_soft_);
}

size_t CourtesyLexicon::match_at(const Patterns& table, const std::vector<Word>& words, size_t i, size_t end) {
  if (!table.may_start(words[i].hash)) return 0;
  auto it = table.by_first.find(words[i].hash);
  if (it == table.by_first.end()) return 0;
  size_t best = 0;
  for (const auto& p : it->second) {
    // Greedy-free match with `*` = 1..3 words (backtracking over the few wildcards a pattern has).
    auto rec = [&](auto& self, size_t pi, size_t wi) -> size_t {
      if (pi == p.size()) return wi;
      if (p[pi] == kStar) {
        for (size_t n = 1; n <= kMaxWildcardWords && wi + n <= end; ++n)
          if (size_t r = self(self, pi + 1, wi + n)) return r;
        return 0;
      }
      if (wi >= end || words[wi].hash != p[pi]) return 0;
      return self(self, pi + 1, wi + 1);
    };
    if (size_t r = rec(rec, 0, i); r > i) best = std::max(best, r - i);
  }
  return best;
}

std::string_view builtin_courtesy_en() { return kCourtesyEn; }
std::string_view builtin_courtesy_zh() { return kCourtesyZh; }

void courtesy_spans(std::string_view s, const std::vector<uint8_t>& skip, const CourtesyLexicon& lex,
                    std::vector<std::pair<size_t, size_t>>& out) {
  if (lex.empty()) return;
  thread_local Scratch sc;
  latin_words(s, 0, s.size(), sc.words);
  sc.triggers.clear();
  if (text::ascii_prefix(s) < s.size()) lex.cjk_trigger().matches(s, sc.triggers);
  static constexpr auto kEndsAscii = [] {
    std::array<bool, 128> t{};
    t['\n'] = t['.'] = t['!'] = t['?'] = true;
    return t;
  }();
  const size_t n = s.size();
  size_t b = 0;
  while (b < n) {
    // The sentence [b, e): up to and including its terminators and the spaces after them.
    size_t e = b;
    while (e < n) {
      // (ASCII other than a line end and . ! ? ends nothing, nor does an ideograph: no decoding)
      while (e < n && static_cast<unsigned char>(s[e]) < 0x80 && !kEndsAscii[static_cast<unsigned char>(s[e])]) ++e;
      if (e == n) break;
      if (text::ideograph_at(s, e)) {
        e += 3;
        continue;
      }
      size_t len;
      char32_t cp = text::utf8_decode(s, e, len);
      if (cp == '\n') { ++e; break; }
      if (ends_sentence(cp) ||
          ((cp == '.' || cp == '!' || cp == '?') && (e + 1 >= n || text::ascii_hspace(s[e + 1]) || s[e + 1] == '\n' ||
                                                     s[e + 1] == '!' || s[e + 1] == '?' || s[e + 1] == '.'))) {
        e += len;
        while (e < n) {
          char32_t c2 = text::utf8_decode(s, e, len);
          if (!(ends_sentence(c2) || c2 == '.' || c2 == '!' || c2 == '?' || c2 == U'～' || c2 == '~')) break;
          e += len;
        }
        break;
      }
      e += len;
    }
    while (e < n && text::ascii_hspace(s[e])) ++e;
    const size_t sb = b, se = e;
    b = e;
    size_t first = sb;
    while (first < se && (text::ascii_hspace(s[first]) || s[first] == '\n')) ++first;
    if (first >= se) continue;
    Analysis whole = analyse(s, first, se, lex, sc);
    if (!whole.trigger) continue;
    if (!any_skip(skip, first, se) && (whole.pure() || whole.small_talk())) {
      size_t end = se;
      if (end > first && s[end - 1] == '\n') --end;  // keep the line break
      out.emplace_back(first, end);
      continue;
    }
    // Clause by clause: only pure courtesy goes.
    size_t cb = first;
    while (cb < se) {
      size_t ce = cb;
      while (ce < se) {
        size_t len;
        char32_t cp = text::utf8_decode(s, ce, len);
        ce += len;
        if (ends_clause(cp)) break;
      }
      while (ce < se && text::ascii_hspace(s[ce])) ++ce;
      size_t end = ce;
      if (end > cb && s[end - 1] == '\n') --end;
      if (end > cb && !any_skip(skip, cb, end)) {
        Analysis a = analyse(s, cb, end, lex, sc);
        // A pure clause; the sentence's last clause keeps the sentence's terminator out of it.
        if (a.pure()) out.emplace_back(cb, end);
      }
      cb = ce;
    }
  }
}

}  // namespace kuai::stages
