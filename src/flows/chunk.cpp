#include "flows/chunk.h"

#include "text/estimate.h"

namespace kuai::flows {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Length of a sentence end mark starting at i (ASCII . ! ? or the full-width 。！？), or 0.
size_t end_mark(std::string_view t, size_t i) {
  char c = t[i];
  if (c == '.' || c == '!' || c == '?') return 1;
  for (std::string_view m : {"。", "！", "？"})
    if (t.substr(i, m.size()) == m) return m.size();
  return 0;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Cuts an over-long sentence at spaces into pieces of at most max_tokens.
void cut_words(std::string_view s, int64_t max_tokens, std::vector<std::string>& out) {
  std::string cur;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(' ', i);
    j = j == std::string_view::npos ? s.size() : j + 1;
    std::string_view word = s.substr(i, j - i);
    if (!cur.empty() && text::estimate_tokens(cur) + text::estimate_tokens(word) > max_tokens) {
      out.emplace_back(trim(cur));
      cur.clear();
    }
    cur.append(word);
    i = j;
  }
  if (!trim(cur).empty()) out.emplace_back(trim(cur));
}

}  // namespace

std::vector<std::string_view> split_sentences(std::string_view t) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (size_t i = 0; i < t.size(); ++i) {
    size_t m = t[i] == '\n' ? 1 : end_mark(t, i);
    if (m == 0) continue;
    size_t end = i + m;
    bool cjk = m > 1;
    if (!cjk && t[i] != '\n' && end < t.size() && !is_space(t[end])) continue;  // "3.14", "e.g.x"
    while (end < t.size() && is_space(t[end])) ++end;
    out.push_back(t.substr(start, end - start));
    start = end;
    i = end - 1;
  }
  if (start < t.size()) out.push_back(t.substr(start));
  return out;
}

std::vector<std::string> chunk_text(std::string_view text, int64_t max_tokens) {
  std::vector<std::string> out;
  if (max_tokens < 1) max_tokens = 1;
  std::string cur;
  int64_t cur_tokens = 0;
  for (std::string_view s : split_sentences(text)) {
    int64_t n = text::estimate_tokens(s);
    if (cur_tokens + n > max_tokens && !trim(cur).empty()) {
      out.emplace_back(trim(cur));
      cur.clear();
      cur_tokens = 0;
    }
    if (n > max_tokens) {
      cut_words(s, max_tokens, out);
      continue;
    }
    cur.append(s);
    cur_tokens += n;
  }
  if (!trim(cur).empty()) out.emplace_back(trim(cur));
  return out;
}

}  // namespace kuai::flows
