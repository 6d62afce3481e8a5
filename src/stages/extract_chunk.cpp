#include "stages/extract_chunk.h"

#include "text/utf8.h"

#include <algorithm>

namespace kuai::stages::extract {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Chinese/full-width sentence enders, and closers that stay with the sentence before them.
constexpr std::string_view kCjkEnders[] = {"。", "！", "？", "；", "…"};
constexpr std::string_view kClosers[] = {"”", "’", "」", "』", "）", "\"", "'", ")"};

size_t match_any(std::string_view text, size_t pos, const std::string_view* list, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (text.substr(pos, list[i].size()) == list[i]) return list[i].size();
  return 0;
}

// Blank line: '\n', optional spaces, '\n'. Returns the length of the whole whitespace run, or 0.
size_t blank_line_at(std::string_view text, size_t pos) {
  if (text[pos] != '\n') return 0;
  size_t j = pos + 1;
  bool second = false;
  while (j < text.size() && is_space(text[j])) {
    if (text[j] == '\n') second = true;
    ++j;
  }
  return second ? j - pos : 0;
}

}  // namespace

std::vector<Sentence> split_sentences(std::string_view text) {
  std::vector<Sentence> out;
  size_t start = 0;
  bool paragraph = true;
  size_t i = 0;
  auto emit = [&](size_t end, bool next_paragraph) {
    if (end > start) out.push_back({text.substr(start, end - start), paragraph});
    start = end;
    paragraph = next_paragraph;
  };
  while (i < text.size()) {
    char c = text[i];
    size_t end_len = 0;
    if (c == '.' || c == '!' || c == '?') {
      end_len = 1;
      // An English end needs whitespace (or the end) after it: "3.14" and "e.g.x" stay whole.
      size_t after = i + 1;
      while (after < text.size() && match_any(text, after, kClosers, std::size(kClosers)))
        after += match_any(text, after, kClosers, std::size(kClosers));
      if (after < text.size() && !is_space(text[after])) {
        ++i;
        continue;
      }
      end_len = after - i;
    } else if (size_t n = match_any(text, i, kCjkEnders, std::size(kCjkEnders))) {
      end_len = n;
      size_t after = i + n;
      while (after < text.size()) {
        size_t more = match_any(text, after, kCjkEnders, std::size(kCjkEnders));
        if (!more) more = match_any(text, after, kClosers, std::size(kClosers));
        if (!more) break;
        after += more;
      }
      end_len = after - i;
    } else if (c == '\n') {
      size_t blank = blank_line_at(text, i);
      size_t end = i + (blank ? blank : 1);
      emit(end, blank > 0);
      i = end;
      continue;
    }
    if (end_len == 0) {
      ++i;
      continue;
    }
    // Take the whitespace after the end, but stop before a blank line so it marks the paragraph.
    size_t end = i + end_len;
    while (end < text.size() && is_space(text[end]) && !blank_line_at(text, end)) ++end;
    size_t blank = end < text.size() ? blank_line_at(text, end) : 0;
    emit(end + blank, blank > 0);
    i = end + blank;
  }
  emit(text.size(), false);
  return out;
}

std::vector<std::string> chunk_text(std::string_view text, int64_t max_tokens, const TokenFn& tokens) {
  std::vector<std::string> chunks;
  if (max_tokens < 1) max_tokens = 1;
  std::string cur;
  int64_t cur_tokens = 0;
  auto flush = [&] {
    if (!cur.empty()) chunks.push_back(std::move(cur));
    cur.clear();
    cur_tokens = 0;
  };
  const auto sentences = split_sentences(text);
  for (size_t s = 0; s < sentences.size(); ++s) {
    std::string_view piece = sentences[s].text;
    int64_t t = tokens(piece);
    if (t > max_tokens) {
      // One sentence longer than a chunk: cut it into pieces of about max_tokens each.
      flush();
      const size_t step = std::max<size_t>(1, piece.size() * static_cast<size_t>(max_tokens) / static_cast<size_t>(t));
      while (!piece.empty()) {
        size_t cut = text::utf8_floor(piece, std::min(step, piece.size()));
        if (cut == 0) {  // the step ends inside the first code point: take that code point
          size_t len = 1;
          text::utf8_decode(piece, 0, len);
          cut = std::min(len, piece.size());
        }
        chunks.emplace_back(piece.substr(0, cut));
        piece.remove_prefix(cut);
      }
      continue;
    }
    if (cur_tokens + t > max_tokens) {
      flush();
    } else if (sentences[s].starts_paragraph && !cur.empty()) {
      // Start a paragraph in a fresh chunk when the whole paragraph would not fit in this one.
      int64_t para = 0;
      for (size_t j = s; j < sentences.size() && (j == s || !sentences[j].starts_paragraph); ++j)
        para += tokens(sentences[j].text);
      if (cur_tokens + para > max_tokens) flush();
    }
    cur += piece;
    cur_tokens += t;
  }
  flush();
  return chunks;
}

DocumentAndQuestion split_question(std::string_view message, int64_t max_question_tokens, const TokenFn& tokens) {
  DocumentAndQuestion out;
  auto trim = [](std::string_view s) {
    size_t b = 0, e = s.size();
    while (b < e && is_space(s[b])) ++b;
    while (e > b && is_space(s[e - 1])) --e;
    return s.substr(b, e - b);
  };
  // Last paragraph as the question.
  size_t last_break = std::string_view::npos;
  for (size_t i = 0; i < message.size(); ++i)
    if (size_t blank = blank_line_at(message, i)) last_break = i, i += blank - 1;
  const std::string_view body = trim(message);
  if (body.empty()) return out;
  if (last_break != std::string_view::npos) {
    std::string_view q = trim(message.substr(last_break));
    std::string_view doc = trim(message.substr(0, last_break));
    int64_t qt = tokens(q);
    if (!q.empty() && !doc.empty() && qt <= max_question_tokens && qt < tokens(doc)) {
      out = {true, std::string(doc), std::string(q), false};
      return out;
    }
  }
  // First paragraph (or first line) as the question, when it introduces the rest.
  size_t first_break = std::string_view::npos;
  for (size_t i = 0; i < body.size(); ++i)
    if (body[i] == '\n') {
      first_break = i;
      break;
    }
  if (first_break != std::string_view::npos) {
    std::string_view q = trim(body.substr(0, first_break));
    std::string_view doc = trim(body.substr(first_break));
    auto ends = [&](std::string_view e) { return q.size() >= e.size() && q.substr(q.size() - e.size()) == e; };
    bool introduces = ends(":") || ends("：") || ends("?") || ends("？");
    if (introduces && !doc.empty() && tokens(q) <= max_question_tokens && tokens(q) < tokens(doc)) {
      out = {true, std::string(doc), std::string(q), true};
      return out;
    }
  }
  return out;
}

}  // namespace kuai::stages::extract
