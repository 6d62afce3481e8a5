#include "stages/slim_rules.h"

#include "stages/slim_courtesy.h"
#include "text/ascii.h"
#include "text/utf8.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <unordered_set>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace kuai::stages {
namespace {

#include "stages/slim_phrases.inc"

constexpr size_t npos = std::string_view::npos;

bool starts_with_at(std::string_view s, size_t i, std::string_view what) {
  return s.size() - i >= what.size() && s.compare(i, what.size(), what) == 0;
}

char32_t cp_at(std::string_view s, size_t i, size_t& len) {
  if (static_cast<unsigned char>(s[i]) < 0x80) {  // (most bytes: no call)
    len = 1;
    return static_cast<unsigned char>(s[i]);
  }
  return text::utf8_decode(s, i, len);
}

// Punctuation after which a new clause starts.
bool opens_clause(char32_t cp) {
  switch (cp) {
    case '.': case '!': case '?': case ',': case ';': case ':': case '(':
    case U'。': case U'！': case U'？': case U'，': case U'；': case U'：': case U'、': case U'（': case U'…':
      return true;
    default:
      return false;
  }
}

// Punctuation that may end a removed phrase (and is removed with it).
bool trails_phrase(char32_t cp) {
  switch (cp) {
    case '.': case '!': case '?': case ',': case ';': case ':': case '~':
    case U'。': case U'！': case U'？': case U'，': case U'；': case U'：': case U'、': case U'～': case U'…':
      return true;
    default:
      return false;
  }
}

bool is_decoration(char32_t cp) {
  switch (cp) {
    case '-': case '=': case '*': case '_': case '~': case '#': case '+':
    case U'·': case U'•': case U'★': case U'☆': case U'━': case U'─': case U'═': case U'—': case U'–':
    case U'＝': case U'－': case U'＊': case U'～': case U'◆': case U'◇': case U'■': case U'□': case U'●':
    case U'○': case U'▪': case U'❤': case U'♥':
      return true;
    default:
      return false;
  }
}

std::string normalise_phrase(std::string_view p) {
  std::string out;
  bool space = false;
  for (size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (text::ascii_space(c)) { space = !out.empty(); continue; }
    if (space) { out += ' '; space = false; }
    if (starts_with_at(p, i, "\xE2\x80\x99")) { out += '\''; i += 2; continue; }
    out += text::ascii_lower(c);
  }
  return out;
}

// A phrase may end here: end of text or line, clause punctuation, or spaces up to the end of the line.
bool clause_ends_at(std::string_view s, size_t e) {
  size_t j = e;
  while (j < s.size() && text::ascii_hspace(s[j])) ++j;
  if (j >= s.size() || s[j] == '\n') return true;
  if (j != e) return false;  // "hello there How are you": a word follows
  size_t len;
  return trails_phrase(cp_at(s, e, len)) || s[e] == ')' || starts_with_at(s, e, "）");
}

struct Line {
  size_t begin, end, next;  // end: before '\n'; next: after it
};

void split_lines(std::string_view s, std::vector<Line>& lines) {
  lines.clear();
  size_t i = 0;
  while (i < s.size()) {
    size_t eol = s.find('\n', i);
    if (eol == npos) { lines.push_back({i, s.size(), s.size()}); break; }
    lines.push_back({i, eol, eol + 1});
    i = eol + 1;
  }
}

bool blank(std::string_view s, const Line& l) {
  for (size_t i = l.begin; i < l.end; ++i)
    if (!text::ascii_space(s[i])) return false;
  return true;
}

std::string_view trimmed(std::string_view s, const Line& l) {
  size_t b = l.begin, e = l.end;
  while (b < e && text::ascii_space(s[b])) ++b;
  while (e > b && text::ascii_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

void mark(std::vector<uint8_t>& v, size_t b, size_t e) {
  std::fill(v.begin() + static_cast<std::ptrdiff_t>(b), v.begin() + static_cast<std::ptrdiff_t>(e), 1);
}

bool any(const std::vector<uint8_t>& v, size_t b, size_t e) {
  return e > b && std::memchr(v.data() + b, 1, e - b) != nullptr;
}

size_t paragraph_end(std::string_view s, size_t from) {
  size_t p = s.find("\n\n", from);
  return p == npos ? s.size() : p;
}

// Bytes no rule may touch: code (fenced, indented, inline), quotes, block quotes, URLs.
void protected_bytes(std::string_view s, const std::vector<Line>& lines, std::vector<uint8_t>& prot) {
  prot.assign(s.size(), 0);
  bool in_fence = false;
  char fence_ch = 0;
  size_t fence_len = 0;
  for (const Line& l : lines) {
    size_t k = l.begin;
    int indent = 0;
    while (k < l.end && s[k] == ' ' && indent < 4) { ++k; ++indent; }
    size_t run = 0;
    if (indent <= 3 && k < l.end && (s[k] == '`' || s[k] == '~'))
      while (k + run < l.end && s[k + run] == s[k]) ++run;
    if (in_fence) {
      mark(prot, l.begin, l.next);
      if (run >= fence_len && s[k] == fence_ch) in_fence = false;
    } else if (run >= 3) {
      in_fence = true;
      fence_ch = s[k];
      fence_len = run;
      mark(prot, l.begin, l.next);
    } else if ((indent >= 4 || (k < l.end && s[k] == '\t')) && !blank(s, l)) {
      mark(prot, l.begin, l.next);  // indented code (conservatively: any indented line)
    } else if (k < l.end && (s[k] == '>' || starts_with_at(s, k, "＞"))) {
      mark(prot, l.begin, l.next);  // block quote
    }
  }
  struct Pair { std::string_view open, close; };
  static constexpr Pair kQuotes[] = {{"\"", "\""}, {"“", "”"}, {"‘", "’"}, {"「", "」"},
                                     {"『", "』"}, {"«", "»"},  {"《", "》"}};
  // Only these bytes can open code, a quote or a URL.
  static constexpr auto kOpens = [] {
    std::array<bool, 256> t{};
    for (int o : {int{'`'}, int{'"'}, int{'h'}, int{'H'}, int{'f'}, int{'F'}, int{'w'}, int{'W'}, 0xE2, 0xE3, 0xC2})
      t[size_t(o)] = true;
    return t;
  }();
  const auto* bytes = reinterpret_cast<const unsigned char*>(s.data());
  for (size_t i = 0; i < s.size();) {
    while (i < s.size() && (prot[i] || !kOpens[bytes[i]])) ++i;  // (most bytes)
    if (i == s.size()) break;
    const char c = s[i];
    const auto u = static_cast<unsigned char>(c);
    if (c == '`') {
      size_t run = 0;
      while (i + run < s.size() && s[i + run] == '`') ++run;
      size_t eol = s.find('\n', i);
      size_t stop = paragraph_end(s, i);
      std::string ticks(run, '`');
      size_t close = s.find(ticks, i + run);
      size_t end = (close != npos && close < stop) ? close + run : (eol == npos ? s.size() : eol);
      mark(prot, i, end);
      i = end;
      continue;
    }
    // A quote opens here: " or one of the multi-byte marks (decoded once, not compared mark by mark).
    const Pair* q = nullptr;
    if (c == '"') {
      q = &kQuotes[0];
    } else if (u >= 0xC2) {
      size_t len;
      switch (cp_at(s, i, len)) {
        case U'“': q = &kQuotes[1]; break;
        case U'‘': q = &kQuotes[2]; break;
        case U'「': q = &kQuotes[3]; break;
        case U'『': q = &kQuotes[4]; break;
        case U'«': q = &kQuotes[5]; break;
        case U'《': q = &kQuotes[6]; break;
        default: break;
      }
    }
    if (q) {
      size_t stop = paragraph_end(s, i);
      size_t close = s.find(q->close, i + q->open.size());
      size_t end = (close != npos && close < stop) ? close + q->close.size() : stop;
      mark(prot, i, end);
      i = end;
      continue;
    }
    auto url_at = [&](size_t p) {
      for (std::string_view scheme : {"http://", "https://", "ftp://", "www.", "file://"}) {
        if (s.size() - p < scheme.size()) continue;
        bool eq = true;
        for (size_t k = 0; k < scheme.size() && eq; ++k) eq = text::ascii_lower(s[p + k]) == scheme[k];
        if (eq) return true;
      }
      return false;
    };
    // (a scheme's second letter first: most h, f and w start plain words)
    const char second = i + 1 < s.size() ? text::ascii_lower(s[i + 1]) : 0;
    if ((second == 't' || second == 'i' || second == 'w') && (i == 0 || !text::ascii_alnum(s[i - 1])) && url_at(i)) {
      size_t j = i;
      while (j < s.size() && !text::ascii_space(s[j]) && s[j] != '<' && s[j] != '>' && s[j] != '"') {
        size_t len;
        char32_t cp = cp_at(s, j, len);
        if (cp >= 0x3000 && (trails_phrase(cp) || cp == U'）' || cp == U'」')) break;
        j += len;
      }
      mark(prot, i, j);
      i = j;
      continue;
    }
    ++i;
  }
}

// The end of the kept run from i: the first dropped byte or collapsible whitespace at or after i (n:
// none). A lone whitespace byte between kept bytes is not collapsible (it is emitted as it is), so the
// run goes on over it.
size_t kept_run_end(std::string_view s, size_t i, const uint8_t* dropped, const uint8_t* protect, bool whitespace) {
  const size_t n = s.size();
  while (i < n) {
#if defined(__SSE2__)
    if (n - i >= 16) {  // 16 bytes at a time up to the next dropped byte or unprotected whitespace
      const auto load = [](const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); };
      const __m128i zero = _mm_setzero_si128(), c = load(s.data() + i);
      __m128i stop = _mm_cmpgt_epi8(load(dropped + i), zero);  // (flags are 0 or 1)
      if (whitespace) {
        // ' ' and '\t'..'\r' (tab, newline, vertical tab, form feed, carriage return)
        const __m128i space = _mm_or_si128(_mm_cmpeq_epi8(c, _mm_set1_epi8(' ')),
                                           _mm_and_si128(_mm_cmpgt_epi8(c, _mm_set1_epi8('\t' - 1)),
                                                         _mm_cmplt_epi8(c, _mm_set1_epi8('\r' + 1))));
        stop = _mm_or_si128(stop, _mm_andnot_si128(_mm_cmpgt_epi8(load(protect + i), zero), space));
      }
      const int mask = _mm_movemask_epi8(stop);
      if (mask == 0) {
        i += 16;
        continue;
      }
      i += static_cast<size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
    }
#endif
    if (dropped[i]) return i;
    if (whitespace && !protect[i] && text::ascii_space(s[i])) {
      if (i + 1 < n && !dropped[i + 1] && !text::ascii_space(s[i + 1])) {
        i += 2;
        continue;
      }
      return i;
    }
    ++i;
  }
  return n;
}

bool decoration_line(std::string_view s, const Line& l) {
  int marks = 0;
  for (size_t i = l.begin; i < l.end;) {
    if (text::ascii_space(s[i])) { ++i; continue; }
    size_t len;
    if (!is_decoration(cp_at(s, i, len))) return false;
    ++marks;
    i += len;
  }
  return marks >= 3;
}

std::string collapse_ws(std::string_view t) {
  std::string out;
  bool space = false;
  for (char c : t) {
    if (text::ascii_space(c)) { space = !out.empty(); continue; }
    if (space) { out += ' '; space = false; }
    out += c;
  }
  return out;
}

}  // namespace

void PhraseSet::add_list(std::string_view list) {
  size_t i = 0;
  while (i <= list.size()) {
    size_t eol = list.find('\n', i);
    if (eol == npos) eol = list.size();
    std::string_view line = list.substr(i, eol - i);
    size_t b = 0;
    while (b < line.size() && text::ascii_space(line[b])) ++b;
    if (b < line.size() && line[b] != '#') insert(line);
    i = eol + 1;
  }
  flatten();
}

void PhraseSet::add(std::string_view phrase) {
  if (insert(phrase)) flatten();
}

bool PhraseSet::insert(std::string_view phrase) {
  const std::string p = normalise_phrase(phrase);
  if (p.empty()) return false;
  uint32_t node = 0;
  for (char ch : p) {
    const auto c = static_cast<uint8_t>(ch);
    auto& kids = build_children_[node];
    auto it = std::lower_bound(kids.begin(), kids.end(), c, [](const auto& e, uint8_t x) { return e.first < x; });
    if (it == kids.end() || it->first != c) {
      const auto id = static_cast<uint32_t>(build_children_.size());
      kids.insert(it, {c, id});  // (kids is not used after this: the push_back below may move it)
      build_children_.emplace_back();
      build_terminal_.push_back(0);
      node = id;
    } else {
      node = it->second;
    }
  }
  if (build_terminal_[node]) return false;  // listed twice
  build_terminal_[node] = 1;
  ++count_;
  return true;
}

void PhraseSet::flatten() {
  std::vector<uint32_t> order{0}, id(build_children_.size(), 0);  // breadth-first: position → build node
  for (size_t q = 0; q < order.size(); ++q)
    for (auto [c, k] : build_children_[order[q]]) {
      id[k] = static_cast<uint32_t>(order.size());
      order.push_back(k);
    }
  root_.fill(0);
  first_edge_.assign(order.size() + 1, 0);
  terminal_.assign(order.size(), 0);
  labels_.clear();
  targets_.clear();
  for (size_t q = 0; q < order.size(); ++q) {
    terminal_[q] = build_terminal_[order[q]];
    first_edge_[q] = static_cast<uint32_t>(labels_.size());
    for (auto [c, k] : build_children_[order[q]]) {
      if (q == 0) root_[c] = id[k];
      labels_.push_back(c);
      targets_.push_back(id[k]);
    }
  }
  first_edge_[order.size()] = static_cast<uint32_t>(labels_.size());
}

size_t PhraseSet::match(std::string_view text, size_t pos) const {
  size_t best = npos;
  uint32_t node = 0;
  for (size_t i = pos; i < text.size();) {
    // The text's next character as a phrase writes it: a run of spaces and tabs as ' ', ’ as ', ASCII
    // letters in lower case.
    unsigned char c;
    size_t next = i + 1;
    if (text::ascii_hspace(text[i])) {
      c = ' ';
      while (next < text.size() && text::ascii_hspace(text[next])) ++next;
    } else if (text[i] == '\xE2' && text.size() - i >= 3 && text[i + 1] == '\x80' && text[i + 2] == '\x99') {
      c = '\'';
      next = i + 3;
    } else {
      c = static_cast<unsigned char>(text::ascii_lower(text[i]));
    }
    if (node == 0) {
      node = root_[c];
    } else {
      uint32_t e = first_edge_[node];
      const uint32_t end = first_edge_[node + 1];
      while (e < end && labels_[e] < c) ++e;
      node = e < end && labels_[e] == c ? targets_[e] : 0;
    }
    if (node == 0) break;
    i = next;
    if (terminal_[node] && clause_ends_at(text, i)) best = i;  // (a longer phrase may follow)
  }
  return best;
}

std::string_view builtin_phrases_en() { return kSlimPhrasesEn; }
std::string_view builtin_phrases_zh() { return kSlimPhrasesZh; }

const char* removed_kind_name(RemovedSpan::Kind k) {
  switch (k) {
    case RemovedSpan::Kind::Phrase: return "phrase";
    case RemovedSpan::Kind::Repeat: return "repeat";
    case RemovedSpan::Kind::Decoration: return "decoration";
    case RemovedSpan::Kind::Whitespace: return "whitespace";
    case RemovedSpan::Kind::Courtesy: return "courtesy";
  }
  return "unknown";
}

SlimResult slim_text(std::string_view s, const PhraseSet& phrases, const SlimOptions& opt,
                     const CourtesyLexicon* courtesy) {
  SlimResult result;
  const size_t n = s.size();
  // Per-thread scratch, reused by every message (no allocations per message once warm).
  thread_local std::vector<Line> lines_buf;
  thread_local std::vector<uint8_t> prot_buf, drop_buf;
  split_lines(s, lines_buf);
  protected_bytes(s, lines_buf, prot_buf);
  drop_buf.assign(n, 0);
  const std::vector<Line>& lines = lines_buf;
  const std::vector<uint8_t>& prot = prot_buf;
  std::vector<uint8_t>& drop = drop_buf;
  auto remove = [&](RemovedSpan::Kind kind, size_t b, size_t e) {
    if (e <= b) return;
    mark(drop, b, e);
    result.removed.push_back({kind, b, e - b});
  };

  // Whole lines: decoration, consecutive repeats, repeated paragraphs.
  if (opt.decoration || opt.repeats) {
    const Line* prev = nullptr;
    for (const Line& l : lines) {
      if (any(prot, l.begin, l.next) || blank(s, l)) { prev = &l; continue; }
      if (opt.decoration && decoration_line(s, l)) { remove(RemovedSpan::Kind::Decoration, l.begin, l.next); continue; }
      if (opt.repeats && prev && !blank(s, *prev) && trimmed(s, *prev) == trimmed(s, l)) {
        remove(RemovedSpan::Kind::Repeat, l.begin, l.next);
        continue;
      }
      prev = &l;
    }
  }
  if (opt.repeats && s.find("\n\n") != npos) {  // one paragraph cannot repeat another
    std::unordered_set<std::string> seen;
    for (size_t k = 0; k < lines.size();) {
      if (blank(s, lines[k])) { ++k; continue; }
      size_t first = k;
      while (k < lines.size() && !blank(s, lines[k])) ++k;
      size_t b = lines[first].begin, e = lines[k - 1].next;
      size_t after = e;  // swallow the blank lines after a removed paragraph
      for (size_t j = k; j < lines.size() && blank(s, lines[j]); ++j) after = lines[j].next;
      if (any(prot, b, e) || any(drop, b, e)) continue;
      std::string key = collapse_ws(s.substr(b, e - b));
      if (key.size() < 20) continue;
      if (!seen.insert(key).second) remove(RemovedSpan::Kind::Repeat, b, after);
    }
  }

  // Listed phrases, only where a clause starts.
  if (opt.phrases && phrases.size() > 0) {
    bool clause_start = true;
    for (size_t i = 0; i < n;) {
      if (drop[i]) { clause_start = true; ++i; continue; }
      const char c = s[i];
      if (c == '\n') { clause_start = true; ++i; continue; }
      if (text::ascii_hspace(c)) { ++i; continue; }
      if (clause_start && !prot[i]) {
        size_t end = phrases.match(s, i);
        if (end != npos && !any(prot, i, end) && !any(drop, i, end)) {
          size_t e = end;
          while (e < n && !prot[e] && !drop[e]) {
            size_t len;
            if (!trails_phrase(cp_at(s, e, len))) break;
            e += len;
          }
          while (e < n && !prot[e] && text::ascii_hspace(s[e])) ++e;
          size_t b = i;
          if (e >= n || s[e] == '\n') {
            // "…, thanks!" at the end of a line: the comma before it goes too.
            size_t j = b;
            while (j > 0 && text::ascii_hspace(s[j - 1]) && !prot[j - 1]) --j;
            if (j > 0 && s[j - 1] == ',' && !prot[j - 1] && !drop[j - 1]) b = j - 1;
            else if (j >= 3 && starts_with_at(s, j - 3, "，") && !any(prot, j - 3, j) && !any(drop, j - 3, j)) b = j - 3;
          }
          remove(RemovedSpan::Kind::Phrase, b, e);
          i = e;
          clause_start = true;
          continue;
        }
      }
      if (text::ascii_alnum(c)) {  // letters and digits open no clause: past the run at once
        clause_start = false;
        for (++i; i < n && text::ascii_alnum(s[i]) && !drop[i];) ++i;
        continue;
      }
      size_t len;
      clause_start = opens_clause(cp_at(s, i, len));
      i += len;
    }
  }

  // Courtesy sentences and clauses (never protected or already removed bytes).
  if (opt.courtesy && courtesy && !courtesy->empty()) {
    thread_local std::vector<uint8_t> skip_buf;
    thread_local std::vector<std::pair<size_t, size_t>> spans;
    skip_buf.resize(n);
    uint8_t* skip = skip_buf.data();
    const uint8_t* p = prot.data();
    const uint8_t* d = drop.data();
    for (size_t i = 0; i < n; ++i) skip[i] = static_cast<uint8_t>(p[i] | d[i]);
    spans.clear();
    courtesy_spans(s, skip_buf, *courtesy, spans);
    for (auto [b, e] : spans) remove(RemovedSpan::Kind::Courtesy, b, e);
  }

  // Emit the kept bytes; collapse whitespace outside protected bytes.
  std::string& out = result.text;
  out.reserve(n);
  std::vector<RemovedSpan> ws_spans;
  size_t run_begin = npos, run_bytes = 0, newlines = 0;
  std::string indent;  // the run's bytes after its last newline
  std::string run_text;
  auto flush = [&](bool at_end) {
    if (run_begin == npos) return;
    const size_t before = out.size();
    if (at_end) {
      // trailing whitespace goes
    } else if (out.empty()) {
      out += newlines ? indent : run_text;
    } else if (newlines) {
      out.append(std::min<size_t>(newlines, 2), '\n');
      out += indent;
    } else if (run_text.size() == 1) {
      out += run_text;
    } else {
      out += ' ';
    }
    const size_t emitted = out.size() - before;
    if (emitted < run_bytes) ws_spans.push_back({RemovedSpan::Kind::Whitespace, run_begin, run_bytes - emitted});
    run_begin = npos;
    run_bytes = newlines = 0;
    indent.clear();
    run_text.clear();
  };
  const uint8_t* dropped = drop.data();
  const uint8_t* protect = prot.data();
  for (size_t i = 0; i < n;) {
    if (dropped[i]) { ++i; continue; }
    const char c = s[i];
    if (opt.whitespace && !protect[i] && text::ascii_space(c)) {
      if (run_begin == npos) run_begin = i;
      ++run_bytes;
      run_text += c;
      if (c == '\n') { ++newlines; indent.clear(); }
      else if (c != '\r') indent += c;
      ++i;
      continue;
    }
    flush(false);
    // The kept bytes up to the next removed byte or collapsible space, in one append.
    size_t j = kept_run_end(s, i + 1, dropped, protect, opt.whitespace);
    out.append(s.data() + i, j - i);
    i = j;
  }
  flush(true);

  // A message that would become empty (a lone "Thanks!") is kept as it was, unless allowed.
  auto text_in = [](std::string_view t) {
    return std::any_of(t.begin(), t.end(), [](char c) { return !text::ascii_space(c); });
  };
  const bool has_text = text_in(out);
  const bool had_text = text_in(s);
  if (had_text && !has_text && !opt.allow_empty) return SlimResult{std::string(s), {}};

  result.removed.insert(result.removed.end(), ws_spans.begin(), ws_spans.end());
  std::sort(result.removed.begin(), result.removed.end(),
            [](const RemovedSpan& a, const RemovedSpan& b) { return a.offset < b.offset; });
  return result;
}

}  // namespace kuai::stages
