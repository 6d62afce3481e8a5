#include "stages/summary_ledger.h"

#include "text/pattern_set.h"
#include "text/utf8.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>

namespace kuai::stages {
namespace {

bool alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool digit(char c) { return c >= '0' && c <= '9'; }
bool hspace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }
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
// Self-corrections (lowercase; matched anywhere).
constexpr std::string_view kCorrection[] = {
    "i meant", "correction", "i misspoke", "scratch that", "make that", "i was wrong", "typo",
    "说错了", "写错了", "更正", "纠正", "改一下", "提高到", "降到", "降低到", "增加到", "减少到", "调整为", "调整到", "改到"};
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
  return std::any_of(s.begin(), s.end(), [](char c) { return digit(c); });
}

bool code_line(std::string_view line) {
  for (char c : line) {
    switch (c) {
      case '(': case ')': case '[': case ']': case '{': case '}': case '=': case '<': case '>': case '`': case '_':
      case '\'': case '"':
        return true;
      default:
        break;
    }
  }
  return line.starts_with("from ") || line.starts_with("import ");
}

// Where the next 、 (E3 80 81) is in s from `from` (npos: none); a byte loop, not memchr + memcmp on
// the lead byte every CJK punctuation mark shares.
size_t find_dunhao(std::string_view s, size_t from) {
  for (size_t i = from; i + 2 < s.size(); ++i)
    if (s[i] == '\xE3' && s[i + 1] == '\x80' && s[i + 2] == '\x81') return i;
  return std::string_view::npos;
}

// A text's terms, each as a 64-bit hash (FNV-1a of its bytes; lowercase for Latin words), the lowest
// bit 1 for a CJK bigram and 0 for a Latin word.
using Terms = std::vector<uint64_t>;
void terms(std::string_view s, Terms& out);  // appends (with repeats)
std::vector<uint64_t> sorted_terms(std::string_view s);

// Two clauses of a list: both carry a number and they share a word ("42码对应26.5厘米" / "43码对应
// 27厘米"; "Plus 30GB at $43.20 including tax" / "Max at $64.80 including tax").
bool parallel(std::string_view a, std::string_view b) {
  if (!has_ascii_digit(a) || !has_ascii_digit(b)) return false;
  const Terms ta = sorted_terms(a), tb = sorted_terms(b);
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
    size_t len;
    char32_t cp = text::utf8_decode(s, i, len);
    i += len;
    bool cut = cp == U'，' || cp == U'；' || cp == U'：' || ((cp == ',' || cp == ';') && i < e && hspace(s[i]));
    if (!cut && i < e) continue;
    size_t ce = std::min(i, e);
    if (cut && ce < e) {
      // the clause keeps its separator out: "a, b" → "a" | "b"
      ce -= len;
    }
    size_t t = ce;
    while (t > cb && hspace(s[t - 1])) --t;
    if (t > cb) out.push_back({msg, cb, t, 0, false, 0, sentence});
    cb = i;
    while (cb < e && hspace(s[cb])) ++cb;
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
      while (next < line.size() && hspace(line[next])) ++next;
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
    while (b < n && (hspace(s[b]) || s[b] == '\n')) ++b;
    if (b >= n) break;
    size_t e = b;
    while (e < n) {
      size_t len;
      char32_t cp = text::utf8_decode(s, e, len);
      if (cp == '\n') break;
      e += len;
      bool end = cp == U'。' || cp == U'！' || cp == U'？' || cp == U'…' ||
                 ((cp == '.' || cp == '!' || cp == '?') && (e >= n || hspace(s[e]) || s[e] == '\n'));
      if (end) {
        while (e < n && (s[e] == '.' || s[e] == '!' || s[e] == '?')) ++e;
        break;
      }
    }
    size_t t = e;
    while (t > b && hspace(s[t - 1])) --t;
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

// A question that asks to pick among options ("which plan…", "加哪个流量包", "选哪种").
bool asks_to_choose(std::string_view q) {
  std::string low(q);
  for (char& c : low)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
  for (std::string_view w : {"which", "what option", "best option", "cheapest", "哪个", "哪种", "哪款", "哪一", "选哪", "哪家"}) {
    size_t at = low.find(w);
    if (at != std::string::npos && (at == 0 || !alpha(low[at - 1]))) return true;
  }
  return false;
}

// A word that points back to what was said just before ("…is warped too. The contractor quoted
// another $2,150 for that."): the unit before it in the same message is its context.
bool points_back(std::string_view s) {
  static constexpr std::string_view kBack[] = {"that", "this", "it", "those", "these", "them", "same"};
  std::string word;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i < s.size() && alpha(s[i])) {
      word += static_cast<char>(s[i] | 0x20);
      continue;
    }
    for (std::string_view w : kBack)
      if (word == w) return true;
    word.clear();
  }
  for (std::string_view w : {"这", "那", "它"})
    if (s.find(w) != std::string_view::npos) return true;
  return false;
}

// Latin words (3+ letters, stop words out) and CJK bigrams.
uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}

// A set of 64-bit hashes, open addressing in one array (no allocation per element; the per-request
// sets of the ledger hold a few hundred).
class HashSet {
 public:
  explicit HashSet(size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2) cap <<= 1;
    slots_.assign(cap, kEmpty);
  }
  // True when x was not in the set.
  bool insert(uint64_t x) {
    if (x == kEmpty) {
      const bool fresh = !has_empty_;
      has_empty_ = true;
      return fresh;
    }
    if ((size_ + 1) * 2 > slots_.size()) grow();
    for (size_t i = slot(x);; i = (i + 1) & (slots_.size() - 1)) {
      if (slots_[i] == x) return false;
      if (slots_[i] == kEmpty) {
        slots_[i] = x;
        ++size_;
        return true;
      }
    }
  }
  bool contains(uint64_t x) const {
    if (x == kEmpty) return has_empty_;
    for (size_t i = slot(x);; i = (i + 1) & (slots_.size() - 1)) {
      if (slots_[i] == x) return true;
      if (slots_[i] == kEmpty) return false;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  size_t slot(uint64_t x) const { return static_cast<size_t>((x * 0x9E3779B97F4A7C15ull) >> 32) & (slots_.size() - 1); }
  void grow() {
    std::vector<uint64_t> old(slots_.size() * 2, kEmpty);
    old.swap(slots_);
    size_ = 0;
    for (uint64_t x : old)
      if (x != kEmpty) insert(x);
  }
  std::vector<uint64_t> slots_;
  size_t size_ = 0;
  bool has_empty_ = false;
};

void terms(std::string_view s, Terms& out) {
  static const HashSet stop = [] {  // (a flat table: no std::unordered_set division per word)
    HashSet h(std::size(kStop));
    for (std::string_view w : kStop) h.insert(fnv1a(w));
    return h;
  }();
  // The current Latin word's FNV-1a hash (of its lowercase bytes), built as it is read.
  uint64_t word_hash = 1469598103934665603ull;
  size_t word_len = 0;
  char32_t prev_cjk = 0;
  size_t prev_at = 0;
  auto flush = [&] {
    if (word_len >= 3 && !stop.contains(word_hash)) out.push_back(word_hash & ~uint64_t{1});
    word_hash = 1469598103934665603ull;
    word_len = 0;
  };
  for (size_t i = 0; i < s.size();) {
    const char c = s[i];
    if (alpha(c) || digit(c) || c == '\'') {  // ASCII: no decoding
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
      if (prev_cjk) out.push_back(fnv1a(s.substr(prev_at, i + len - prev_at)) | 1);
      prev_cjk = cp;
      prev_at = i;
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
  // Tokens of letters/digits and the joiners of an identifier.
  for (size_t i = 0; i < s.size();) {
    if (!(alpha(s[i]) || digit(s[i]) || s[i] == '#' || s[i] == '$')) { ++i; continue; }
    size_t b = i;
    bool letters = false, digits = false, upper = s[i] >= 'A' && s[i] <= 'Z';
    while (i < s.size() && (alpha(s[i]) || digit(s[i]) || s[i] == '#' || s[i] == '$' || s[i] == '-' ||
                            s[i] == '_' || s[i] == '.' || s[i] == ',' || s[i] == '%' || s[i] == '\'')) {
      if ((s[i] == '.' || s[i] == ',' || s[i] == '-' || s[i] == '\'') && (i + 1 >= s.size() || !(alpha(s[i + 1]) || digit(s[i + 1])))) break;
      letters |= alpha(s[i]);
      digits |= digit(s[i]);
      ++i;
    }
    has_digit |= digits;
    has_id |= digits && (letters || s[b] == '#');
    if (upper && !digits) {
      size_t k = b;
      while (k > 0 && hspace(s[k - 1])) --k;
      bool starts = k == 0 || s[k - 1] == '.' || s[k - 1] == '!' || s[k - 1] == '?' || s[k - 1] == ':' || s[k - 1] == '\n';
      std::string_view w = s.substr(b, i - b);
      if (!starts && w != "I" && w.rfind("I'", 0) != 0) ++names;
    }
  }
  // Chinese numerals with a measure word ("六个人", "两个景点").
  for (size_t i = 0; i < s.size() && !has_digit;) {
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
  for (size_t i = 0; i < s.size(); ++i)
    if (digit(s[i]) && (i == 0 || !(digit(s[i - 1]) || ((s[i - 1] == '.' || s[i - 1] == ',') && i > 1 && digit(s[i - 2])))))
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
  thread_local std::string low;
  low.assign(s);
  for (char& c : low)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
  int words = 0;
  std::string_view found[4];
  size_t n_found = 0;
  for (size_t i = 0; i + 1 < low.size() && n_found < 4; ++i) {
    if (low[i] < 'a' || low[i] > 'z' || (i > 0 && alpha(low[i - 1]))) continue;
    const size_t bucket = pair_index(low[i], low[i + 1]);
    if (bucket == kNoPair) continue;
    for (std::string_view w : by_pair[bucket]) {
      if (low.compare(i, w.size(), w) != 0) continue;
      if (std::find(found, found + n_found, w) == found + n_found) found[n_found++] = w;
      if (n_found == 4) break;
    }
  }
  words += static_cast<int>(n_found);
  static const text::PatternSet cjk_marks(std::vector<std::string>(std::begin(kMarkCjk), std::end(kMarkCjk)));
  if (words < 2) words += static_cast<int>(cjk_marks.count_present(s, 2));
  // A decision in Chinese' "X就Y吧" shape ("汤就番茄蛋花汤吧", "那就定大理吧").
  if (s.find("就") != std::string_view::npos && (s.ends_with("吧") || s.ends_with("吧。") || s.ends_with("吧！")))
    ++words;
  score += 1.5 * std::min(words, 2);
  // A self-correction replaces an earlier value: it must reach the model.
  static const text::PatternSet corrections(std::vector<std::string>(std::begin(kCorrection), std::end(kCorrection)));
  if (corrections.count_present(low, 1) > 0) score += 2;
  return score;
}

// Sorted, unique terms of a text.
std::vector<uint64_t> sorted_terms(std::string_view s) {
  std::vector<uint64_t> v;
  terms(s, v);
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

// Sorted, unique hashes of the numbers (digit runs) of a text.
std::vector<uint64_t> sorted_numbers(std::string_view s) {
  std::vector<uint64_t> v;
  for (size_t i = 0; i < s.size();) {
    if (!digit(s[i])) { ++i; continue; }
    size_t b = i;
    while (i < s.size() && digit(s[i])) ++i;
    v.push_back(fnv1a(s.substr(b, i - b)));
  }
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

bool holds(const std::vector<uint64_t>& sorted, uint64_t x) { return std::binary_search(sorted.begin(), sorted.end(), x); }

// Which 4-byte windows a set of texts holds (a Bloom filter of 2^16 bits): a unit whose first and last
// 4 bytes are not both in it is surely in none of the texts (no substring search needed).
class Windows {
 public:
  void add(std::string_view s) {
    for (size_t i = 0; i + 4 <= s.size(); ++i) set(at(s, i));
  }
  bool may_contain(std::string_view u) const {
    if (u.size() < 4) return true;
    return get(at(u, 0)) && get(at(u, u.size() - 4));
  }

 private:
  static uint32_t at(std::string_view s, size_t i) {
    uint32_t w;
    std::memcpy(&w, s.data() + i, 4);
    return (w * 2654435761u) >> 16;
  }
  void set(uint32_t h) { bits_[h >> 6] |= uint64_t{1} << (h & 63); }
  bool get(uint32_t h) const { return (bits_[h >> 6] >> (h & 63)) & 1; }
  std::array<uint64_t, 1024> bits_{};
};

}  // namespace

LedgerMessage analyse_ledger_message(std::string_view content, bool user,
                                     const std::function<int64_t(std::string_view)>& count_tokens) {
  LedgerMessage lm;
  lm.user = user;
  std::vector<Sentence> units;
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
    u.tokens = count_tokens(text);
    u.hash = fnv1a(text);
    const auto t = sorted_terms(text), n = sorted_numbers(text);
    u.terms_at = static_cast<uint32_t>(lm.pool.size());
    u.terms_n = static_cast<uint32_t>(t.size());
    lm.pool.insert(lm.pool.end(), t.begin(), t.end());
    u.numbers_at = static_cast<uint32_t>(lm.pool.size());
    u.numbers_n = static_cast<uint32_t>(n.size());
    lm.pool.insert(lm.pool.end(), n.begin(), n.end());
    lm.units.push_back(std::move(u));
  }
  if (user) {
    // The units cover every term and number of the text (they split only at spaces and punctuation,
    // never inside a word, a CJK run or a digit run): the whole text's are the union of theirs.
    for (const auto& u : lm.units) {
      lm.terms.insert(lm.terms.end(), lm.pool.begin() + u.terms_at, lm.pool.begin() + u.terms_at + u.terms_n);
      lm.numbers.insert(lm.numbers.end(), lm.pool.begin() + u.numbers_at, lm.pool.begin() + u.numbers_at + u.numbers_n);
    }
    for (auto* v : {&lm.terms, &lm.numbers}) {
      std::sort(v->begin(), v->end());
      v->erase(std::unique(v->begin(), v->end()), v->end());
    }
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

Ledger build_ledger(const std::vector<const api::Message*>& dropped, const std::vector<const api::Message*>& kept,
                    std::string_view question, int64_t budget_tokens,
                    const std::function<int64_t(std::string_view)>& count_tokens, LedgerMemo* memo,
                    std::string_view model) {
  LedgerMemo own(0);
  LedgerMemo& analyses = memo ? *memo : own;
  Ledger ledger;
  // Per message: its analysis (memoised: the same for every request that sends the message).
  std::vector<std::shared_ptr<const LedgerMessage>> info(dropped.size());
  struct Pick {
    size_t msg = 0;
    const LedgerMessage::Unit* unit = nullptr;
    size_t sentence = 0;  // request-wide
    double score = 0;
    bool chosen = false;
    size_t begin() const { return unit->begin; }
    size_t end() const { return unit->end; }
  };
  std::vector<Pick> sents;
  size_t sentence_base = 0;
  bool cjk = false;
  // What the user said (dropped and kept): an assistant unit made of it is an echo.
  std::vector<uint64_t> user_terms, user_numbers;
  for (size_t m = 0; m < dropped.size(); ++m) {
    const api::Message& msg = *dropped[m];
    if (msg.role != "user" && msg.role != "assistant") continue;
    info[m] = analyses.get(msg, model, count_tokens);
    for (const auto& u : info[m]->units) sents.push_back({m, &u, sentence_base + u.sentence, 0, false});
    sentence_base += info[m]->sentences;
    if (info[m]->user) {
      user_terms.insert(user_terms.end(), info[m]->terms.begin(), info[m]->terms.end());
      user_numbers.insert(user_numbers.end(), info[m]->numbers.begin(), info[m]->numbers.end());
    }
  }
  Windows kept_windows;
  for (const api::Message* k : kept) {
    kept_windows.add(k->content);
    if (k->role != "user") continue;
    auto a = analyses.get(*k, model, count_tokens);
    user_terms.insert(user_terms.end(), a->terms.begin(), a->terms.end());
    user_numbers.insert(user_numbers.end(), a->numbers.begin(), a->numbers.end());
  }
  for (auto* v : {&user_terms, &user_numbers}) {
    std::sort(v->begin(), v->end());
    v->erase(std::unique(v->begin(), v->end()), v->end());
  }
  for (size_t i = 0; i < question.size() && !cjk; ++i) cjk = static_cast<unsigned char>(question[i]) >= 0xE4;
  const std::vector<uint64_t> q_terms = sorted_terms(question);
  const bool choosing = asks_to_choose(question);
  // Units seen before in this request: the first unit with each hash (a collision is not a repeat).
  HashSet seen(sents.size());
  auto text_of = [&](const Pick& p) {
    return std::string_view(dropped[p.msg]->content).substr(p.begin(), p.end() - p.begin());
  };
  for (Pick& st : sents) {
    const LedgerMessage::Unit& u = *st.unit;
    const auto u_terms = info[st.msg]->terms_of(u), u_numbers = info[st.msg]->numbers_of(u);
    std::string_view text = text_of(st);
    // Already in the request (a block pasted again in a kept turn) or pasted twice: counted once.
    bool twice = false;
    if (!seen.insert(u.hash)) {
      for (const Pick& earlier : sents) {
        if (&earlier == &st) break;
        if (earlier.unit->hash == u.hash && text_of(earlier) == text) { twice = true; break; }
      }
    }
    if (twice || (kept_windows.may_contain(text) &&
                  std::any_of(kept.begin(), kept.end(), [&](const api::Message* k) { return k->content.find(text) != std::string::npos; }))) {
      st.score = -1;
      continue;
    }
    double mk = u.marks;
    // Shared terms; CJK bigrams overlap (a 4-character phrase is 3 of them), so each counts half.
    double shared = 0;
    for (uint64_t t : u_terms) shared += holds(q_terms, t) ? ((t & 1) ? 0.5 : 1.0) : 0.0;
    const bool user = info[st.msg]->user;
    const bool asks = u.asks;
    // The assistant's own questions and unmarked words are not facts; its marked ones (a quoted price,
    // a stated deductible) are, below what the user said.
    // (one constraint word alone — "符合要求", "policy" — is a comment, not a fact).
    if (!user && (mk < 2 || asks)) { st.score = -1; continue; }
    // An unmarked user clause must say something ("对了", "怎么办？" do not), and a question is not a fact.
    if (user && mk == 0 && (asks || u_terms.size() < 3)) { st.score = -1; continue; }
    if (!user) {
      // An echo: every number of it and most of its terms are the user's own ("收到，角色X#50217").
      bool numbers_echoed = std::all_of(u_numbers.begin(), u_numbers.end(), [&](uint64_t n) { return holds(user_numbers, n); });
      size_t echoed = 0;
      for (uint64_t t : u_terms) echoed += holds(user_terms, t);
      // (with numbers, a third of its terms suffice: "已查到订单YX20240612883" adds only "found")
      const size_t need = u_numbers.empty() ? (u_terms.size() + 1) / 2 : u_terms.size() / 3;
      if (numbers_echoed && (u_terms.empty() ? !u_numbers.empty() : echoed >= need)) { st.score = -1; continue; }
    }
    // A list of values: the options and prices a question picks from, above all a "which" question.
    if (u.list) mk += choosing ? 3.0 : 1.5;
    st.score = (mk + std::min(shared, 4.0) + (mk > 0 ? 1.0 : 0.0)) * (user ? 1.0 : 0.6) + (user ? 1.5 : 0.0);
    // A user's question carries a fact only by the way ("Can we bump it to 500?"): below statements.
    if (user && asks) st.score *= 0.5;
  }
  const std::string_view lead = cjk ? "此前对话中的事实（原文摘录，后出现的优先）：" : "Facts from earlier turns (verbatim; a later line wins):";
  int64_t used = count_tokens(lead);
  std::vector<size_t> order;
  for (size_t i = 0; i < sents.size(); ++i)
    if (sents[i].score > 0) order.push_back(i);
  // Clauses of the same message in a row merge into one span of the original bytes.
  // Value per token (a long clause must carry more to win), later first on ties (the latest value).
  auto density = [&](size_t i) { return sents[i].score / (1.0 + static_cast<double>(sents[i].unit->tokens) / 16.0); };
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (density(a) != density(b)) return density(a) > density(b);
    return a > b;
  });
  HashSet carried(64);  // terms of the chosen clauses
  for (size_t i : order) {
    const int64_t cost = sents[i].unit->tokens + 2;  // "\n- " (an adjacent clause costs its separator instead)
    if (used + cost > budget_tokens) continue;
    const auto t = info[sents[i].msg]->terms_of(*sents[i].unit);
    // A clause whose terms are all carried already (an echo: "记下了：订单号 X") adds nothing.
    if (!t.empty() && std::all_of(t.begin(), t.end(), [&](uint64_t w) { return carried.contains(w); })) continue;
    for (uint64_t w : t) carried.insert(w);
    sents[i].chosen = true;
    used += cost;
  }
  // With budget left, the unit before a chosen one that points back at it ("…is warped too. The
  // contractor quoted another $2,150 for that."), then the sentences a chosen clause belongs to.
  for (size_t i = 1; i < sents.size(); ++i) {
    if (!sents[i].chosen || sents[i - 1].chosen || sents[i - 1].msg != sents[i].msg || sents[i - 1].score <= 0) continue;
    if (!points_back(text_of(sents[i]))) continue;
    if (used + sents[i - 1].unit->tokens + 1 > budget_tokens) continue;
    sents[i - 1].chosen = true;
    used += sents[i - 1].unit->tokens + 1;
  }
  for (size_t i : order) {
    if (sents[i].chosen) continue;
    bool sibling = (i > 0 && sents[i - 1].chosen && sents[i - 1].sentence == sents[i].sentence) ||
                   (i + 1 < sents.size() && sents[i + 1].chosen && sents[i + 1].sentence == sents[i].sentence);
    if (!sibling || used + sents[i].unit->tokens + 1 > budget_tokens) continue;
    sents[i].chosen = true;
    used += sents[i].unit->tokens + 1;
  }
  // Whole user turns most relevant to the question, while the budget lasts.
  std::vector<std::pair<int, size_t>> turns;
  for (size_t m = 0; m < dropped.size(); ++m) {
    if (dropped[m]->role != "user" || dropped[m]->content.empty()) continue;
    int shared = 0;
    for (uint64_t t : info[m]->terms) shared += holds(q_terms, t);
    if (shared > 0) turns.push_back({shared, m});
  }
  std::stable_sort(turns.begin(), turns.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<size_t> whole;
  for (auto [shared, m] : turns) {
    // Only a turn that adds a unit worth carrying (not one already in the request or carried).
    bool adds = false;
    for (const Pick& st : sents)
      if (st.msg == m && !st.chosen && st.score > 0) adds = true;
    if (!adds) continue;
    const int64_t cost = info[m]->tokens + 4;
    if (used + cost > budget_tokens) continue;
    used += cost;
    whole.push_back(m);
  }
  // Chosen units in order, adjacent ones of one message as one span; then the whole turns.
  auto render = [&] {
    ledger.facts = ledger.turns = 0;
    std::string body;
    for (size_t i = 0; i < sents.size();) {
      if (!sents[i].chosen) { ++i; continue; }
      size_t j = i;
      while (j + 1 < sents.size() && sents[j + 1].chosen && sents[j + 1].msg == sents[i].msg) ++j;
      std::string_view content = dropped[sents[i].msg]->content;
      body += "\n- ";
      body += content.substr(sents[i].begin(), sents[j].end() - sents[i].begin());
      ++ledger.facts;
      i = j + 1;
    }
    if (body.empty() && whole.empty()) return std::string();
    std::string out = std::string(lead) + body;
    if (!whole.empty()) out += cjk ? "\n相关的较早提问：" : "\nRelevant earlier turns:";
    for (size_t m : whole) {
      out += "\n- user: ";
      out += dropped[m]->content;
      ++ledger.turns;
    }
    return out;
  };
  // The costs above are estimates per piece (separators, the bytes between merged units): the note
  // as a whole must fit, or the window would drop the turns it keeps. Over: the last whole turn goes,
  // then the least valuable unit.
  for (size_t tries = 0; tries <= sents.size() + whole.size(); ++tries) {
    ledger.text = render();
    if (ledger.text.empty() || count_tokens(ledger.text) <= budget_tokens) break;
    if (!whole.empty()) {
      whole.pop_back();
      continue;
    }
    auto worst = std::find_if(order.rbegin(), order.rend(), [&](size_t i) { return sents[i].chosen; });
    if (worst == order.rend()) break;
    sents[*worst].chosen = false;
  }
  if (!ledger.text.empty() && count_tokens(ledger.text) > budget_tokens) ledger = Ledger{};
  return ledger;
}

}  // namespace kuai::stages
