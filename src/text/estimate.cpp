#include "text/estimate.h"

#include "text/script.h"
#include "text/utf8.h"

#include <utf8proc.h>

namespace kuai::text {
namespace {

enum class Run { None, Latin, OtherLetters, Digits };

int64_t run_tokens(Run run, int64_t n) {
  switch (run) {
    case Run::Latin: return 1 + (n - 1) / 6;
    case Run::OtherLetters: return 1 + (n - 1) / 3;
    case Run::Digits: return (n + 2) / 3;
    case Run::None: return 0;
  }
  return 0;
}

}  // namespace

int64_t estimate_tokens(std::string_view s) {
  int64_t tokens = 0;
  Run run = Run::None;
  int64_t run_len = 0;
  auto flush = [&] {
    tokens += run_tokens(run, run_len);
    run = Run::None;
    run_len = 0;
  };
  auto extend = [&](Run kind) {
    if (run != kind) flush();
    run = kind;
    ++run_len;
  };
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') {  // a run of ASCII letters in one step (most text)
        size_t j = i + 1;
        while (j < s.size() && (static_cast<unsigned char>(s[j]) | 0x20) >= 'a' &&
               (static_cast<unsigned char>(s[j]) | 0x20) <= 'z')
          ++j;
        if (run != Run::Latin) flush();
        run = Run::Latin;
        run_len += static_cast<int64_t>(j - i);
        i = j;
        continue;
      }
      ++i;
      if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') extend(Run::Latin);
      else if (c >= '0' && c <= '9') extend(Run::Digits);
      else if (c == ' ' || (c >= '\t' && c <= '\r')) flush();
      else if (c < 0x20 || c == 0x7F) flush();  // other control characters: nothing
      else { flush(); ++tokens; }               // punctuation, symbols, '_'
      continue;
    }
    size_t len;
    char32_t cp;
    if ((c & 0xF0) == 0xE0 && i + 2 < s.size() && (static_cast<unsigned char>(s[i + 1]) & 0xC0) == 0x80 &&
        (static_cast<unsigned char>(s[i + 2]) & 0xC0) == 0x80) {  // 3-byte sequence (CJK) decoded inline
      cp = (static_cast<char32_t>(c & 0x0F) << 12) | (static_cast<char32_t>(s[i + 1] & 0x3F) << 6) |
           static_cast<char32_t>(s[i + 2] & 0x3F);
      len = 3;
      if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)) cp = utf8_decode(s, i, len);  // invalid: as before
    } else {
      cp = utf8_decode(s, i, len);
    }
    i += len;
    if (is_cjk(cp)) { flush(); ++tokens; continue; }
    auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
    if (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) {
      extend(cp < 0x250 ? Run::Latin : Run::OtherLetters);  // Latin-1 / Latin Extended letters stay Latin
    } else if (cat >= UTF8PROC_CATEGORY_MN && cat <= UTF8PROC_CATEGORY_ME) {
      if (run == Run::None) extend(Run::OtherLetters); else ++run_len;  // a mark joins its letter's run
    } else if (cat == UTF8PROC_CATEGORY_ND) {
      extend(Run::Digits);
    } else if (cat >= UTF8PROC_CATEGORY_ZS && cat <= UTF8PROC_CATEGORY_ZP) {
      flush();
    } else if (cat >= UTF8PROC_CATEGORY_CC) {
      flush();  // control, format (ZWJ…), private use, unassigned: nothing
    } else {
      flush();
      ++tokens;  // punctuation, symbols, emoji, letter-like numbers
    }
  }
  flush();
  return tokens;
}

}  // namespace kuai::text
