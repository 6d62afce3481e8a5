#include "stages/summary_ledger.h"

#include "text/utf8.h"

#include <algorithm>
#include <string_view>
#include <unordered_set>

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

// Words that make a sentence a constraint, preference or decision (Latin: prefixes of a word).
constexpr std::string_view kMarkWords[] = {
    "allerg", "intoleran", "vegan", "vegetarian", "gluten", "halal", "kosher", "pregnan", "diabet",
    "only", "must", "never", "always", "cannot", "can't", "don't", "doesn't", "won't", "without", "except",
    "budget", "limit", "maximum", "minimum", "at most", "at least", "under", "deadline", "due", "expire",
    "until", "prefer", "rather", "instead", "changed", "change", "switch", "decided", "decide", "let's",
    "go with", "actually", "final", "require", "need", "stay on", "avoid", "wheelchair", "order", "policy",
    "ticket", "account", "invoice", "claim", "version", "plan", "address", "ship", "deliver", "refund",
    "january", "february", "march", "april", "june", "july", "august", "september", "october", "november",
    "december", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "tomorrow",
    "tonight", "next week"};
constexpr std::string_view kMarkCjk[] = {
    "过敏", "不吃", "忌口", "只有", "只能", "必须", "不能", "不要", "没有", "预算", "不超过", "以内", "别超过", "最多",
    "至少", "怀孕", "心脏", "糖尿病", "高血压", "要求", "想住", "想要", "喜欢", "爱吃", "那就", "还是", "改成", "改为",
    "换成", "决定", "定了", "就定", "算了", "不换", "订单", "单号", "账号", "保单", "版本", "地址", "出发", "到期",
    "截止", "之前", "以前", "今年", "明年", "去年", "下周", "周末", "今晚", "明天", "户口", "社保", "合同", "考试"};
constexpr std::string_view kCjkNumerals = "一二三四五六七八九十两百千万";

// A clause of a sentence of a dropped message: the unit a fact is carried in.
struct Sentence {
  size_t msg = 0;
  size_t begin = 0, end = 0;  // bytes in the message, trailing spaces excluded
  double score = 0;
  bool chosen = false;
  int64_t tokens = 0;
  size_t sentence = 0;        // clauses of one sentence share it
};

// Splits the sentence s[b, e) into clauses at ， ； ： and at , ; before a space.
void clauses(std::string_view s, size_t msg, size_t b, size_t e, size_t sentence, std::vector<Sentence>& out) {
  // A line of code or a log line is one unit ("from x import a, b", "Error: No module named 'x'").
  std::string_view line = s.substr(b, e - b);
  if (line.find_first_of("()[]{}=<>`_'\"") != std::string_view::npos || line.starts_with("from ") ||
      line.starts_with("import ")) {
    out.push_back({msg, b, e, 0, false, 0, sentence});
    return;
  }
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
}

// Sentences of s: up to and including . ! ? (before a space or the end), 。！？…, or a line end.
void sentences(std::string_view s, size_t msg, size_t& sentence_id, std::vector<Sentence>& out) {
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
    if (t > b) clauses(s, msg, b, t, sentence_id++, out);
    b = e;
  }
}

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
  return out;
}

// Latin words (3+ letters, stop words out) and CJK bigrams.
void terms(std::string_view s, std::unordered_set<std::string>& out) {
  static const std::unordered_set<std::string_view> stop(std::begin(kStop), std::end(kStop));
  std::string word;
  char32_t prev_cjk = 0;
  size_t prev_at = 0;
  auto flush = [&] {
    if (word.size() >= 3 && !stop.contains(word)) out.insert(word);
    word.clear();
  };
  for (size_t i = 0; i < s.size();) {
    size_t len;
    char32_t cp = text::utf8_decode(s, i, len);
    if (cp < 0x80 && (alpha(static_cast<char>(cp)) || digit(static_cast<char>(cp)) || cp == '\'')) {
      word += static_cast<char>((cp >= 'A' && cp <= 'Z') ? cp + ('a' - 'A') : cp);
    } else {
      flush();
    }
    if (is_cjk(cp)) {
      if (prev_cjk) out.insert(std::string(s.substr(prev_at, i + len - prev_at)));
      prev_cjk = cp;
      prev_at = i;
    } else {
      prev_cjk = 0;
    }
    i += len;
  }
  flush();
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
    if (kCjkNumerals.find(s.substr(i, len)) != std::string_view::npos && len == 3 && i + len < s.size()) {
      size_t len2;
      char32_t next = text::utf8_decode(s, i + len, len2);
      if (next == U'个' || next == U'位' || next == U'岁' || next == U'天' || next == U'次' || next == U'元' ||
          next == U'人' || next == U'月' || next == U'年' || next == U'周' || next == U'点' || next == U'块')
        has_digit = true;
    }
    (void)cp;
    i += len;
  }
  if (has_digit) score += 2;
  if (has_id) score += 2;
  score += std::min(names, 2);
  std::string low = lower_ascii(s);
  int words = 0;
  for (std::string_view w : kMarkWords) {
    size_t at = low.find(w);
    if (at != std::string::npos && (at == 0 || !alpha(low[at - 1]))) ++words;
  }
  for (std::string_view w : kMarkCjk)
    if (s.find(w) != std::string_view::npos) ++words;
  score += 1.5 * std::min(words, 2);
  return score;
}

}  // namespace

Ledger build_ledger(const std::vector<const api::Message*>& dropped, std::string_view question,
                    int64_t budget_tokens, const std::function<int64_t(std::string_view)>& count_tokens) {
  Ledger ledger;
  std::vector<Sentence> sents;
  size_t sentence_id = 0;
  bool cjk = false;
  for (size_t m = 0; m < dropped.size(); ++m) {
    const api::Message& msg = *dropped[m];
    if (msg.role != "user" && msg.role != "assistant") continue;
    sentences(msg.content, m, sentence_id, sents);
  }
  for (size_t i = 0; i < question.size() && !cjk; ++i) cjk = static_cast<unsigned char>(question[i]) >= 0xE4;
  std::unordered_set<std::string> q_terms;
  terms(question, q_terms);
  std::unordered_set<std::string> s_terms, seen;
  for (Sentence& st : sents) {
    std::string_view text = std::string_view(dropped[st.msg]->content).substr(st.begin, st.end - st.begin);
    double mk = marks(text);
    s_terms.clear();
    terms(text, s_terms);
    int shared = 0;
    for (const auto& t : s_terms) shared += q_terms.contains(t);
    const bool user = dropped[st.msg]->role == "user";
    const bool asks = !text.empty() && (text.back() == '?' || text.ends_with("？"));
    // The assistant's own questions and unmarked words are not facts; its marked ones (a quoted price,
    // a stated deductible) are, below what the user said.
    if (!user && (mk == 0 || asks)) { st.score = -1; continue; }
    // An unmarked user clause must say something ("对了", "怎么办？" do not), and a question is not a fact.
    if (user && mk == 0 && (asks || s_terms.size() < 2)) { st.score = -1; continue; }
    if (!seen.insert(std::string(text)).second) { st.score = -1; continue; }  // pasted twice
    st.score = (mk + std::min(shared, 4) + (mk > 0 ? 1.0 : 0.0)) * (user ? 1.0 : 0.6) + (user ? 1.5 : 0.0);
    st.tokens = count_tokens(text);
  }
  const std::string_view lead = cjk ? "此前对话中的事实（原文摘录，后出现的优先）：" : "Facts from earlier turns (verbatim; a later line wins):";
  int64_t used = count_tokens(lead);
  std::vector<size_t> order;
  for (size_t i = 0; i < sents.size(); ++i)
    if (sents[i].score > 0) order.push_back(i);
  // Clauses of the same message in a row merge into one span of the original bytes.
  // Value per token (a long clause must carry more to win), later first on ties (the latest value).
  auto density = [&](size_t i) { return sents[i].score / (1.0 + static_cast<double>(sents[i].tokens) / 16.0); };
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (density(a) != density(b)) return density(a) > density(b);
    return a > b;
  });
  std::unordered_set<std::string> carried;  // terms of the chosen clauses
  for (size_t i : order) {
    const int64_t cost = sents[i].tokens + 2;  // "\n- " (an adjacent clause costs its separator instead)
    if (used + cost > budget_tokens) continue;
    s_terms.clear();
    terms(std::string_view(dropped[sents[i].msg]->content).substr(sents[i].begin, sents[i].end - sents[i].begin), s_terms);
    // A clause whose terms are all carried already (an echo: "记下了：订单号 X") adds nothing.
    if (!s_terms.empty() && std::all_of(s_terms.begin(), s_terms.end(), [&](const std::string& w) { return carried.contains(w); }))
      continue;
    carried.insert(s_terms.begin(), s_terms.end());
    sents[i].chosen = true;
    used += cost;
  }
  // With budget left, complete the sentences a chosen clause belongs to (a fact may span clauses).
  for (size_t i : order) {
    if (sents[i].chosen) continue;
    bool sibling = (i > 0 && sents[i - 1].chosen && sents[i - 1].sentence == sents[i].sentence) ||
                   (i + 1 < sents.size() && sents[i + 1].chosen && sents[i + 1].sentence == sents[i].sentence);
    if (!sibling || used + sents[i].tokens + 1 > budget_tokens) continue;
    sents[i].chosen = true;
    used += sents[i].tokens + 1;
  }
  // Print chosen sentences in order; adjacent ones of one message as one span.
  std::string body;
  for (size_t i = 0; i < sents.size();) {
    if (!sents[i].chosen) { ++i; continue; }
    size_t j = i;
    while (j + 1 < sents.size() && sents[j + 1].chosen && sents[j + 1].msg == sents[i].msg) ++j;
    std::string_view content = dropped[sents[i].msg]->content;
    body += "\n- ";
    body += content.substr(sents[i].begin, sents[j].end - sents[i].begin);
    ++ledger.facts;
    i = j + 1;
  }
  // Whole user turns most relevant to the question, while the budget lasts.
  std::vector<std::pair<int, size_t>> turns;
  for (size_t m = 0; m < dropped.size(); ++m) {
    if (dropped[m]->role != "user" || dropped[m]->content.empty()) continue;
    s_terms.clear();
    terms(dropped[m]->content, s_terms);
    int shared = 0;
    for (const auto& t : s_terms) shared += q_terms.contains(t);
    if (shared > 0) turns.push_back({shared, m});
  }
  std::stable_sort(turns.begin(), turns.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::string whole;
  for (auto [shared, m] : turns) {
    bool all_in = true;
    for (const Sentence& st : sents)
      if (st.msg == m && !st.chosen) all_in = false;
    if (all_in) continue;
    const int64_t cost = count_tokens(dropped[m]->content) + 4;
    if (used + cost > budget_tokens) continue;
    used += cost;
    whole += "\n- user: ";
    whole += dropped[m]->content;
    ++ledger.turns;
  }
  if (body.empty() && whole.empty()) return ledger;
  ledger.text = std::string(lead) + body;
  if (!whole.empty()) ledger.text += std::string(cjk ? "\n相关的较早提问：" : "\nRelevant earlier turns:") + whole;
  return ledger;
}

}  // namespace kuai::stages
