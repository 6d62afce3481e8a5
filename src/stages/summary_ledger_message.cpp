#include "stages/summary_ledger_message.h"

#include "text/ascii.h"
#include "text/pattern_set.h"
#include "text/utf8.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>

namespace kuai::stages {
namespace {

bool is_cjk(char32_t cp) { return (cp >= 0x3400 && cp <= 0x9FFF) || (cp >= 0xF900 && cp <= 0xFAFF); }

constexpr std::string_view kStop[] = {
    "the", "and", "for", "you", "your", "that", "this", "with", "are", "was", "were", "have", "has", "had",
    "but", "not", "can", "could", "would", "should", "will", "what", "which", "how", "when", "where", "why",
    "who", "there", "here", "then", "than", "them", "they", "their", "from", "into", "about", "just", "also",
    "any", "all", "some", "been", "being", "does", "did", "doing", "its", "it's", "i'm", "i've", "i'll",
    "i'd", "you're", "yes", "now", "too", "very", "really", "much", "more", "most", "one", "get", "got",
    "let", "me", "my", "our", "out", "off", "over", "okay", "ok", "so", "if", "is", "it", "to", "of", "in",
    "on", "at", "or", "an", "be", "do", "am", "we", "us", "he", "she", "his", "her", "him", "a", "i"};

// Words that make a sentence a constraint, preference or decision (Latin: prefixes of a word), by
// kind: health and diet, limits and rules, choices and changes, the records a support chat refers to,
// dates, the state of a system, identifiers introduced by name, incidents.
constexpr std::string_view kMarkWords[] = {
    "allerg", "intoleran", "vegan", "vegetarian", "gluten", "halal", "kosher", "pregnan", "diabet",
    "lactose", "dairy", "shellfish", "asthma", "epilep", "insulin", "blood pressure", "medication",
    "prescription", "disab", "mobility", "hearing aid",
    "passport", "visa", "licence", "license", "warranty", "membership", "subscription", "contract",
    "only", "must", "never", "always", "cannot", "can't", "don't", "doesn't", "won't", "without", "except",
    "budget", "limit", "maximum", "minimum", "at most", "at least", "under", "deadline", "due", "expire",
    "until", "prefer", "rather", "instead", "changed", "change", "switch", "decided", "decide", "let's",
    "go with", "actually", "final", "require", "need", "stay on", "avoid", "wheelchair", "order", "policy",
    "ticket", "account", "invoice", "claim", "version", "plan", "address", "ship", "deliver", "refund",
    "january", "february", "march", "april", "june", "july", "august", "september", "october", "november",
    "december", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "tomorrow",
    "tonight", "next week",
    // constraints of an environment or a situation
    "stuck", "unable", "not allowed", "no longer", "locked", "running", "installed", "supported",
    // identifiers introduced by name
    "name is", "last name", "called", "id is", "number is", "server", "region", "model",
    // incidents (what broke, what was lost)
    "broke", "broken", "crack", "damage", "warp", "leak", "burst", "lost", "stolen", "missing", "stopped"};
constexpr std::string_view kMarkCjk[] = {
    "过敏", "不吃", "忌口", "只有", "只能", "必须", "不能", "不要", "没有", "预算", "不超过", "以内", "别超过", "最多",
    "至少", "怀孕", "心脏", "糖尿病", "高血压", "要求", "想住", "想要", "喜欢", "爱吃", "那就", "还是", "改成", "改为",
    "换成", "决定", "定了", "就定", "算了", "不换", "订单", "单号", "账号", "保单", "版本", "地址", "出发", "到期",
    "截止", "之前", "以前", "今年", "明年", "去年", "下周", "周末", "今晚", "明天", "户口", "社保", "合同", "考试",
    // health, documents and records (the kinds above, more of their words)
    "哮喘", "乳糖", "海鲜", "血压", "胰岛素", "轮椅", "护照", "签证", "驾照", "学号", "工号", "运单", "快递单",
    "保修", "会员", "学期", "课本",
    // constraints of an environment or a situation
    "不了", "无法", "没法", "不让", "不允许", "禁止", "不支持",
    // identifiers introduced by name
    "区服", "服务器", "角色", "型号", "编号", "尾号", "名字", "账户", "年级", "教材",
    // incidents (what broke, what was lost)
    "丢了", "弄丢", "坏了", "损坏", "破损", "漏水", "摔", "被盗"};
// Self-corrections: Latin ones (lowercase) where a word starts, CJK ones anywhere.
constexpr std::string_view kCorrectionLatin[] = {"i meant", "correction", "i misspoke", "scratch that", "make that",
                                                 "i was wrong", "typo"};
constexpr std::string_view kCorrectionCjk[] = {"说错了", "写错了", "更正", "纠正", "改一下", "提高到", "降到",
                                               "降低到", "增加到", "减少到", "调整为", "调整到", "改到"};
bool cjk_numeral(char32_t cp) {
  switch (cp) {
    case U'一': case U'二': case U'三': case U'四': case U'五': case U'六': case U'七': case U'八': case U'九':
    case U'十': case U'两': case U'百': case U'千': case U'万':
      return true;
    default:
      return false;
  }
}

// A unit of a dropped message: the span a fact is carried in (a clause, a user's sentence, a list).
struct Sentence {
  size_t msg = 0;
  size_t begin = 0, end = 0;  // bytes in the message, trailing spaces excluded
  double score = 0;
  bool chosen = false;
  int64_t tokens = 0;
  size_t sentence = 0;        // units of one sentence share it
  bool list = false;          // a list of values: parallel clauses with numbers, or items with numbers
                              // between 、 ("10元10G月包、20元25G月包、…"): a price list, a size chart
};

bool has_ascii_digit(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return text::ascii_digit(c); });
}

bool code_line(std::string_view line) {
  static constexpr auto kCode = [] {
    std::array<bool, 256> t{};
    for (char c : std::string_view("()[]{}=<>`_'\"")) t[static_cast<unsigned char>(c)] = true;
    return t;
  }();
  for (char c : line)
    if (kCode[static_cast<unsigned char>(c)]) return true;
  return line.starts_with("from ") || line.starts_with("import ");
}

// Where the next 、 (E3 80 81) is in s from `from` (npos: none).
size_t find_dunhao(std::string_view s, size_t from) { return s.find("\xE3\x80\x81", from); }

// A text's terms as ledger_terms hashes them, unsorted.
using Terms = std::vector<uint64_t>;
void terms(std::string_view s, Terms& out);  // appends (with repeats)

// Two clauses of a list: both carry a number and they share a word ("42码对应26.5厘米" / "43码对应
// 27厘米"; "Plus 30GB at $43.20 including tax" / "Max at $64.80 including tax").
bool parallel(std::string_view a, std::string_view b) {
  if (!has_ascii_digit(a) || !has_ascii_digit(b)) return false;
  const Terms ta = ledger_terms(a), tb = ledger_terms(b);
  for (size_t i = 0, j = 0; i < ta.size() && j < tb.size();) {
    if (ta[i] == tb[j]) return true;
    ta[i] < tb[j] ? ++i : ++j;
  }
  return false;
}

// Splits the sentence s[b, e) into clauses at ， ； ： and at , ; before a space; then clauses in a
// row that each carry a digit and share a word become one unit (a list of values is one fact: "42码对应26.5厘米，43码
// 对应27厘米，…", "Plus 30GB at $43; and Max at $64").
void clauses(std::string_view s, size_t msg, size_t b, size_t e, size_t sentence, std::vector<Sentence>& out) {
  const size_t first = out.size();
  size_t cb = b;
  for (size_t i = b; i < e;) {
    if (text::ideograph_at(s, i) && i + 3 < e) {  // (cuts nothing, and is not the last character)
      i += 3;
      continue;
    }
    size_t len;
    char32_t cp = text::utf8_decode(s, i, len);
    i += len;
    bool cut = cp == U'，' || cp == U'；' || cp == U'：' || ((cp == ',' || cp == ';') && i < e && text::ascii_hspace(s[i]));
    if (!cut && i < e) continue;
    size_t ce = std::min(i, e);
    if (cut && ce < e) {
      // the clause keeps its separator out: "a, b" → "a" | "b"
      ce -= len;
    }
    size_t t = ce;
    while (t > cb && text::ascii_hspace(s[t - 1])) --t;
    if (t > cb) out.push_back({msg, cb, t, 0, false, 0, sentence});
    cb = i;
    while (cb < e && text::ascii_hspace(s[cb])) ++cb;
  }
  auto text_of = [&](size_t k) { return s.substr(out[k].begin, out[k].end - out[k].begin); };
  size_t w = first;
  for (size_t r = first; r < out.size();) {
    size_t k = r;
    while (k + 1 < out.size() && parallel(text_of(k), text_of(k + 1))) ++k;
    Sentence u = out[r];
    u.end = out[k].end;
    u.list = k > r;
    out[w++] = u;
    r = k + 1;
  }
  out.resize(w);
}

// Units of one sentence s[b, e). A line of code or a log line is one unit ("from x import a, b").
// A user's sentence is one unit when short (what a user says is mostly content, and its clauses lean
// on each other: "我上初二，用的是人教版教材"), except that a question at its end is a unit of its own
// ("对了，发票我弄丢了一张，怎么办？" carries a fact and then asks). Assistant sentences go by clauses.
constexpr size_t kUserSentenceBytes = 200;
void units(std::string_view s, size_t msg, bool user, size_t b, size_t e, size_t sentence, std::vector<Sentence>& out) {
  std::string_view line = s.substr(b, e - b);
  if (code_line(line)) {
    out.push_back({msg, b, e, 0, false, 0, sentence});
    return;
  }
  if (!user || e - b > kUserSentenceBytes) {
    clauses(s, msg, b, e, sentence, out);
    return;
  }
  const bool asks = line.ends_with("?") || line.ends_with("？");
  if (asks) {
    // the last clause cut: after the last ， ； ： or , ; before a space (one backward scan)
    size_t cut = std::string_view::npos, next = 0;
    for (size_t at = line.size(); at-- > 0;) {
      const char c = line[at];
      if ((c == ',' || c == ';') && at + 1 < line.size() && line[at + 1] == ' ') {
        cut = at;
        next = at + 2;
        break;
      }
      if (c == '\xEF' && at + 2 < line.size() && line[at + 1] == '\xBC' &&
          (line[at + 2] == '\x8C' || line[at + 2] == '\x9B' || line[at + 2] == '\x9A')) {  // ， ； ：
        cut = at;
        next = at + 3;
        break;
      }
    }
    if (cut != std::string_view::npos && cut > 0) {
      out.push_back({msg, b, b + cut, 0, false, 0, sentence});
      while (next < line.size() && text::ascii_hspace(line[next])) ++next;
      if (next < line.size()) out.push_back({msg, b + next, e, 0, false, 0, sentence});
      return;
    }
  }
  out.push_back({msg, b, e, 0, false, 0, sentence});
}

// Sentences of s: up to and including . ! ? (before a space or the end), 。！？…, or a line end.
void sentences(std::string_view s, size_t msg, bool user, size_t& sentence_id, std::vector<Sentence>& out) {
  size_t b = 0;
  const size_t n = s.size();
  while (b < n) {
    while (b < n && (text::ascii_hspace(s[b]) || s[b] == '\n')) ++b;
    if (b >= n) break;
    size_t e = b;
    while (e < n) {
      if (text::ideograph_at(s, e)) {  // (ends no sentence)
        e += 3;
        continue;
      }
      size_t len;
      char32_t cp = text::utf8_decode(s, e, len);
      if (cp == '\n') break;
      e += len;
      bool end = cp == U'。' || cp == U'！' || cp == U'？' || cp == U'…' ||
                 ((cp == '.' || cp == '!' || cp == '?') && (e >= n || text::ascii_hspace(s[e]) || s[e] == '\n'));
      if (end) {
        while (e < n && (s[e] == '.' || s[e] == '!' || s[e] == '?')) ++e;
        break;
      }
    }
    size_t t = e;
    while (t > b && text::ascii_hspace(s[t - 1])) --t;
    if (t > b) units(s, msg, user, b, t, sentence_id++, out);
    b = e;
  }
}

// Items with numbers between 、 ("10元10G月包、20元25G月包、30元40G月包").
bool enumerates(std::string_view s) {
  int items = 0;
  size_t b = 0;
  if (find_dunhao(s, 0) == std::string_view::npos) return false;  // one item
  for (size_t at = find_dunhao(s, 0); b <= s.size(); at = find_dunhao(s, b)) {
    std::string_view item = s.substr(b, at == std::string_view::npos ? std::string_view::npos : at - b);
    items += has_ascii_digit(item);
    if (at == std::string_view::npos) break;
    b = at + std::string_view("、").size();
  }
  return items >= 3;
}

// Latin words (3+ letters, stop words out) and CJK bigrams.
uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}

void terms(std::string_view s, Terms& out) {
  static const HashSet64 stop = [] {  // (a flat table: no std::unordered_set division per word)
    HashSet64 h(std::size(kStop));
    for (std::string_view w : kStop) h.insert(fnv1a(w));
    return h;
  }();
  // The current Latin word's FNV-1a hash (of its lowercase bytes), built as it is read.
  uint64_t word_hash = 1469598103934665603ull;
  size_t word_len = 0;
  char32_t prev_cjk = 0;
  auto flush = [&] {
    if (word_len >= 3 && !stop.contains(word_hash)) out.push_back(word_hash & ~uint64_t{1});
    word_hash = 1469598103934665603ull;
    word_len = 0;
  };
  for (size_t i = 0; i < s.size();) {
    const char c = s[i];
    if (text::ascii_alnum(c) || c == '\'') {  // ASCII: no decoding
      const char l = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
      word_hash = (word_hash ^ static_cast<unsigned char>(l)) * 1099511628211ull;
      ++word_len;
      prev_cjk = 0;
      ++i;
      continue;
    }
    size_t len;
    char32_t cp = text::utf8_decode(s, i, len);
    flush();
    if (is_cjk(cp)) {
      // A bigram is its two code points (21 bits each), mixed.
      if (prev_cjk) out.push_back(((uint64_t{prev_cjk} << 21 | cp) * 0x9E3779B97F4A7C15ull) | 1);
      prev_cjk = cp;
    } else {
      prev_cjk = 0;
    }
    i += len;
  }
  flush();
}

// The bucket of a mark word by its first two bytes (a-z, ' or space each); kNoPair for others.
constexpr size_t kNoPair = ~size_t{0};
size_t pair_index(char a, char b) {
  auto at = [](char c) -> size_t { return c >= 'a' && c <= 'z' ? size_t(c - 'a') : c == '\'' ? 26 : c == ' ' ? 27 : kNoPair; };
  const size_t x = at(a), y = at(b);
  return x == kNoPair || y == kNoPair ? kNoPair : x * 28 + y;
}

// Fact marks of a sentence (0: none).
double marks(std::string_view s) {
  double score = 0;
  bool has_digit = false, has_id = false;
  int names = 0;
  // Tokens of letters/digits and the joiners of an identifier. Byte kinds: 1 starts a token (a letter,
  // a digit, # or $), 2 continues one (_ %), 3 continues one when a letter or digit follows (. , - ').
  static constexpr auto kToken = [] {
    std::array<uint8_t, 256> t{};
    for (int c = 0; c < 128; ++c)
      if (text::ascii_alnum(static_cast<char>(c))) t[size_t(c)] = 1;
    t['#'] = t['$'] = 1;
    t['_'] = t['%'] = 2;
    t['.'] = t[','] = t['-'] = t['\''] = 3;
    return t;
  }();
  const auto kind = [&](size_t i) { return kToken[static_cast<unsigned char>(s[i])]; };
  for (size_t i = 0; i < s.size();) {
    if (kind(i) != 1) { ++i; continue; }
    size_t b = i;
    bool letters = false, digits = false, upper = s[i] >= 'A' && s[i] <= 'Z';
    while (i < s.size() && kind(i) != 0) {
      if (kind(i) == 3 && (i + 1 >= s.size() || !text::ascii_alnum(s[i + 1]))) break;
      letters |= text::ascii_alpha(s[i]);
      digits |= text::ascii_digit(s[i]);
      ++i;
    }
    has_digit |= digits;
    has_id |= digits && (letters || s[b] == '#');
    if (upper && !digits) {
      size_t k = b;
      while (k > 0 && text::ascii_hspace(s[k - 1])) --k;
      bool starts = k == 0 || s[k - 1] == '.' || s[k - 1] == '!' || s[k - 1] == '?' || s[k - 1] == ':' || s[k - 1] == '\n';
      std::string_view w = s.substr(b, i - b);
      if (!starts && w != "I" && w.rfind("I'", 0) != 0) ++names;
    }
  }
  const bool ascii_digits = has_digit;
  // Chinese numerals with a measure word ("六个人", "两个景点"): three-byte characters, so only bytes
  // from 0xE0 are decoded.
  for (size_t i = 0; i < s.size() && !has_digit;) {
    if (static_cast<unsigned char>(s[i]) < 0xE0) { ++i; continue; }
    size_t len;
    char32_t cp = text::utf8_decode(s, i, len);
    if (len == 3 && i + len < s.size() && cjk_numeral(cp)) {
      size_t len2;
      char32_t next = text::utf8_decode(s, i + len, len2);
      // 一 is also "a" ("一点" a little, "一次函数" a linear function): only with money, age and time.
      const bool one = cp == U'一';
      if (next == U'岁' || next == U'天' || next == U'元' || next == U'年' || next == U'周' || next == U'块' ||
          next == U'万' || next == U'千' || next == U'百' ||
          (!one && (next == U'个' || next == U'位' || next == U'次' || next == U'人' || next == U'月' || next == U'点')))
        has_digit = true;
    }
    i += len;
  }
  if (has_digit) score += 2;
  // Each further value adds (a unit stating the balance, the rate and the term carries three facts).
  int values = 0;
  for (size_t i = 0; ascii_digits && i < s.size(); ++i)
    if (text::ascii_digit(s[i]) && (i == 0 || !(text::ascii_digit(s[i - 1]) || ((s[i - 1] == '.' || s[i - 1] == ',') && i > 1 && text::ascii_digit(s[i - 2])))))
      ++values;
  if (values > 1) score += 0.5 * std::min(values - 1, 4);
  if (has_id) score += 2;
  score += std::min(names, 2);
  // Mark words (Latin: prefixes of a word; each counted once), looked up by the first letter of each
  // word; CJK ones only when the text holds their first character.
  // Bucketed by the first two bytes (every mark word starts with two of a-z, ' and space: 28 x 28
  // buckets), so most word starts compare against nothing.
  static const auto by_pair = [] {
    std::array<std::vector<std::string_view>, 28 * 28> b;
    for (std::string_view w : kMarkWords) b[pair_index(w[0], w[1])].push_back(w);
    return b;
  }();
  int words = 0;
  std::string_view found[4];
  size_t n_found = 0;
  bool corrects = false;
  const auto at_start = [&](size_t start, std::string_view w) {  // (w is lower case)
    if (s.size() - start < w.size()) return false;
    for (size_t k = 0; k < w.size(); ++k)
      if (text::ascii_lower(s[start + k]) != w[k]) return false;
    return true;
  };
  // The letters a self-correction starts with (one test per word instead of one per correction).
  static const uint32_t correction_starts = [] {
    uint32_t m = 0;
    for (std::string_view w : kCorrectionLatin) m |= uint32_t{1} << (w[0] - 'a');
    return m;
  }();
  for (size_t i = 0; i + 1 < s.size() && (n_found < 4 || !corrects);) {
    if (!text::ascii_alpha(s[i])) { ++i; continue; }
    const size_t start = i;  // a word starts: the rest of it is skipped below
    for (++i; i < s.size() && text::ascii_alpha(s[i]);) ++i;
    const char first = text::ascii_lower(s[start]);
    if (!corrects && ((correction_starts >> (first - 'a')) & 1))
      corrects = std::any_of(std::begin(kCorrectionLatin), std::end(kCorrectionLatin),
                             [&](std::string_view w) { return w[0] == first && at_start(start, w); });
    if (n_found == 4) continue;
    const size_t bucket = pair_index(first, text::ascii_lower(s[start + 1]));
    if (bucket == kNoPair) continue;
    for (std::string_view w : by_pair[bucket]) {
      if (!at_start(start, w)) continue;
      if (std::find(found, found + n_found, w) == found + n_found) found[n_found++] = w;
      if (n_found == 4) break;
    }
  }
  words += static_cast<int>(n_found);
  // CJK mark words and self-corrections, one scan of the text for both: patterns [0, kMarks) are the
  // mark words, the rest the corrections.
  static const text::PatternSet cjk = [] {
    std::vector<std::string> p(std::begin(kMarkCjk), std::end(kMarkCjk));
    p.insert(p.end(), std::begin(kCorrectionCjk), std::end(kCorrectionCjk));
    return text::PatternSet(std::move(p));
  }();
  constexpr uint32_t kMarks = std::size(kMarkCjk);
  thread_local std::vector<uint32_t> present;
  present.clear();
  if (text::ascii_prefix(s) < s.size()) cjk.present(s, present);  // (ascending: marks first)
  const auto marks_end = std::lower_bound(present.begin(), present.end(), kMarks);
  if (words < 2) words += static_cast<int>(std::min<std::ptrdiff_t>(marks_end - present.begin(), 2));
  // A decision in Chinese' "X就Y吧" shape ("汤就番茄蛋花汤吧", "那就定大理吧").
  if ((s.ends_with("吧") || s.ends_with("吧。") || s.ends_with("吧！")) && s.find("就") != std::string_view::npos)
    ++words;
  score += 1.5 * std::min(words, 2);
  // A self-correction replaces an earlier value: it must reach the model.
  if (corrects || marks_end != present.end()) score += 2;
  return score;
}

void sort_unique(std::vector<uint64_t>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

// Sorted, unique hashes of the numbers (digit runs) of a text, into v.
void sorted_numbers(std::string_view s, std::vector<uint64_t>& v) {
  v.clear();
  for (size_t i = 0; i < s.size();) {
    if (!text::ascii_digit(s[i])) { ++i; continue; }
    size_t b = i;
    while (i < s.size() && text::ascii_digit(s[i])) ++i;
    v.push_back(fnv1a(s.substr(b, i - b)));
  }
  sort_unique(v);
}

}  // namespace

std::vector<uint64_t> ledger_terms(std::string_view s) {
  std::vector<uint64_t> v;
  terms(s, v);
  sort_unique(v);
  return v;
}

LedgerMessage analyse_ledger_message(std::string_view content, bool user,
                                     const std::function<int64_t(std::string_view)>& count_tokens) {
  LedgerMessage lm;
  lm.user = user;
  thread_local std::vector<Sentence> units;  // (per-thread scratch: no allocations per unit once warm)
  thread_local std::vector<uint64_t> t, n, pool, whole;  // (pool and whole: copied out once, sized)
  units.clear();
  pool.clear();
  size_t sentence_id = 0;
  sentences(content, 0, user, sentence_id, units);
  lm.sentences = static_cast<uint32_t>(sentence_id);
  lm.units.reserve(units.size());
  for (const Sentence& st : units) {
    std::string_view text = content.substr(st.begin, st.end - st.begin);
    LedgerMessage::Unit u;
    u.begin = static_cast<uint32_t>(st.begin);
    u.end = static_cast<uint32_t>(st.end);
    u.sentence = static_cast<uint32_t>(st.sentence);
    u.list = st.list || enumerates(text);
    u.asks = !text.empty() && (text.back() == '?' || text.ends_with("？"));
    u.marks = marks(text);
    u.hash = std::hash<std::string_view>{}(text);
    // An assistant unit with fewer marks than a fact needs, or a question, is never carried: build_ledger
    // reads only its hash, so its terms, numbers and tokens are not computed (most assistant clauses).
    if (!user && (u.marks < kAssistantFactMarks || u.asks)) {
      lm.units.push_back(u);
      continue;
    }
    u.tokens = count_tokens(text);
    t.clear();
    terms(text, t);
    sort_unique(t);
    sorted_numbers(text, n);
    u.terms_at = static_cast<uint32_t>(pool.size());
    u.terms_n = static_cast<uint32_t>(t.size());
    pool.insert(pool.end(), t.begin(), t.end());
    u.numbers_at = static_cast<uint32_t>(pool.size());
    u.numbers_n = static_cast<uint32_t>(n.size());
    pool.insert(pool.end(), n.begin(), n.end());
    lm.units.push_back(std::move(u));
  }
  lm.pool.assign(pool.begin(), pool.end());
  if (user) {
    // The units cover every term and number of the text (they split only at spaces and punctuation,
    // never inside a word, a CJK run or a digit run): the whole text's are the union of theirs.
    const auto unite = [&](uint32_t LedgerMessage::Unit::*at, uint32_t LedgerMessage::Unit::*count, std::vector<uint64_t>& out) {
      whole.clear();
      for (const auto& u : lm.units) whole.insert(whole.end(), pool.begin() + u.*at, pool.begin() + u.*at + u.*count);
      sort_unique(whole);
      out.assign(whole.begin(), whole.end());
    };
    unite(&LedgerMessage::Unit::terms_at, &LedgerMessage::Unit::terms_n, lm.terms);
    unite(&LedgerMessage::Unit::numbers_at, &LedgerMessage::Unit::numbers_n, lm.numbers);
    lm.tokens = count_tokens(content);  // only a user turn is ever carried whole
  }
  return lm;
}

size_t LedgerMessage::bytes() const {
  size_t b = sizeof(LedgerMessage) + (terms.size() + numbers.size()) * 8;
  b += units.size() * sizeof(Unit) + pool.size() * 8;
  return b;
}

std::shared_ptr<const LedgerMessage> LedgerMemo::get(const api::Message& m, std::string_view model,
                                                     const std::function<int64_t(std::string_view)>& count_tokens) {
  const bool user = m.role == "user";
  uint64_t key = std::hash<std::string_view>{}(m.content) ^ (fnv1a(model) * 31) ^ (user ? 0x5bd1e995ull : 0);
  std::shared_ptr<const LedgerMessage> value;
  if (lru_.find(key, [&](const Entry& e) {
        if (e.content != m.content || e.model != model || e.value->user != user) return false;
        value = e.value;
        return true;
      }))
    return value;
  value = std::make_shared<const LedgerMessage>(analyse_ledger_message(m.content, user, count_tokens));
  if (!lru_.enabled()) return value;
  const size_t bytes = m.content.size() + model.size() + value->bytes() + 64;
  lru_.put(key, Entry{m.content, std::string(model), value}, bytes);
  return value;
}

}  // namespace kuai::stages
