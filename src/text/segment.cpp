#include "text/segment.h"

#include "text/script.h"
#include "text/utf8.h"

#include <unicode/brkiter.h>
#include <unicode/locid.h>
#include <unicode/utext.h>
#include <utf8proc.h>

#include <memory>

namespace kuai::text {
namespace {

// One word iterator per thread: ICU iterators are not thread-safe, and creating one is costly.
icu::BreakIterator* word_iterator() {
  thread_local std::unique_ptr<icu::BreakIterator> it = [] {
    UErrorCode status = U_ZERO_ERROR;
    std::unique_ptr<icu::BreakIterator> bi(icu::BreakIterator::createWordInstance(icu::Locale::getRoot(), status));
    if (U_FAILURE(status)) bi.reset();
    return bi;
  }();
  return it.get();
}

bool is_space(char32_t cp) {
  if (cp < 0x80) return cp == ' ' || (cp >= '\t' && cp <= '\r');
  auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP ||
         cp == 0x85;
}

bool is_digit(char32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  return utf8proc_category(static_cast<utf8proc_int32_t>(cp)) == UTF8PROC_CATEGORY_ND;
}

bool is_letter(char32_t cp) {
  if (cp < 0x80) return ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') || cp == '_';
  auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_ME) || cat == UTF8PROC_CATEGORY_NL ||
         cat == UTF8PROC_CATEGORY_NO;
}

// The kind of a span ICU produced, from its rule status and its first code point.
SpanKind classify(std::string_view s, const Span& span, int32_t status) {
  size_t len;
  char32_t first = utf8_decode(s, span.begin, len);
  if (status >= UBRK_WORD_IDEO && status < UBRK_WORD_IDEO_LIMIT) return SpanKind::Cjk;
  if (status >= UBRK_WORD_KANA && status < UBRK_WORD_KANA_LIMIT) return SpanKind::Cjk;
  if (status >= UBRK_WORD_NUMBER && status < UBRK_WORD_NUMBER_LIMIT) return SpanKind::Number;
  if (status >= UBRK_WORD_LETTER && status < UBRK_WORD_LETTER_LIMIT)
    return is_cjk(first) ? SpanKind::Cjk : SpanKind::Word;
  if (is_space(first)) return SpanKind::Space;
  if (is_cjk(first)) return SpanKind::Cjk;
  if (is_digit(first)) return SpanKind::Number;
  if (is_letter(first)) return SpanKind::Word;
  return SpanKind::Punct;
}

// Fallback when ICU has no word iterator (no data): runs of letters/digits/spaces, one span per CJK
// character or punctuation code point.
std::vector<Span> segment_simple(std::string_view s) {
  std::vector<Span> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t len;
    char32_t cp = utf8_decode(s, i, len);
    Span span{i, i + len, SpanKind::Punct};
    if (is_cjk(cp)) {
      span.kind = SpanKind::Cjk;
    } else if (is_space(cp) || is_letter(cp) || is_digit(cp)) {
      span.kind = is_space(cp) ? SpanKind::Space : is_digit(cp) ? SpanKind::Number : SpanKind::Word;
      size_t j = i + len;
      while (j < s.size()) {
        size_t l2;
        char32_t c2 = utf8_decode(s, j, l2);
        bool same = span.kind == SpanKind::Space ? is_space(c2)
                                                  : (!is_cjk(c2) && (is_letter(c2) || is_digit(c2)));
        if (!same) break;
        j += l2;
      }
      span.end = j;
    }
    out.push_back(span);
    i = span.end;
  }
  return out;
}

}  // namespace

std::vector<Span> segment(std::string_view s) {
  std::vector<Span> out;
  if (s.empty()) return out;
  icu::BreakIterator* it = word_iterator();
  if (!it) return segment_simple(s);
  UErrorCode status = U_ZERO_ERROR;
  UText* ut = utext_openUTF8(nullptr, s.data(), static_cast<int64_t>(s.size()), &status);
  if (U_FAILURE(status)) {
    utext_close(ut);
    return segment_simple(s);
  }
  it->setText(ut, status);
  if (U_FAILURE(status)) {
    utext_close(ut);
    return segment_simple(s);
  }
  out.reserve(s.size() / 3 + 1);
  int32_t begin = it->first();
  for (int32_t end = it->next(); end != icu::BreakIterator::DONE; begin = end, end = it->next()) {
    Span span{static_cast<size_t>(begin), static_cast<size_t>(end), SpanKind::Word};
    // UText offsets for UTF-8 are native byte indices; keep them on code-point boundaries.
    span.begin = utf8_floor(s, span.begin);
    span.end = end >= static_cast<int32_t>(s.size()) ? s.size() : utf8_floor(s, span.end);
    if (span.end <= span.begin) continue;
    span.kind = classify(s, span, it->getRuleStatus());
    if (!out.empty() && out.back().end != span.begin) out.back().end = span.begin;
    out.push_back(span);
  }
  // Let the iterator drop its pointer into our UText before closing it.
  UText empty = UTEXT_INITIALIZER;
  UErrorCode st2 = U_ZERO_ERROR;
  utext_openUTF8(&empty, "", 0, &st2);
  it->setText(&empty, st2);
  utext_close(&empty);
  utext_close(ut);
  if (!out.empty()) {
    out.front().begin = 0;
    out.back().end = s.size();
  }
  return out;
}

std::vector<std::string> segment_words(std::string_view s) {
  std::vector<std::string> out;
  for (const Span& sp : segment(s)) {
    if (sp.kind == SpanKind::Word || sp.kind == SpanKind::Number || sp.kind == SpanKind::Cjk)
      out.emplace_back(s.substr(sp.begin, sp.end - sp.begin));
  }
  return out;
}

}  // namespace kuai::text
