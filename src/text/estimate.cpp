#include "text/estimate.h"

#include "text/script.h"
#include "text/utf8.h"

#include <utf8proc.h>

#include <array>

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

// utf8proc's category, from a table for the CJK punctuation blocks (U+3000..303F, U+FF00..FFEF:
// the commas and stops of every Chinese sentence) built from utf8proc itself, so the same answer.
utf8proc_category_t category(char32_t cp) {
  static const auto kTables = [] {
    std::array<uint8_t, 0x40 + 0xF0> t{};
    for (char32_t c = 0; c < 0x40; ++c) t[c] = static_cast<uint8_t>(utf8proc_category(static_cast<utf8proc_int32_t>(0x3000 + c)));
    for (char32_t c = 0; c < 0xF0; ++c)
      t[0x40 + c] = static_cast<uint8_t>(utf8proc_category(static_cast<utf8proc_int32_t>(0xFF00 + c)));
    return t;
  }();
  if (cp >= 0x3000 && cp < 0x3040) return static_cast<utf8proc_category_t>(kTables[cp - 0x3000]);
  if (cp >= 0xFF00 && cp < 0xFFF0) return static_cast<utf8proc_category_t>(kTables[0x40 + cp - 0xFF00]);
  return utf8proc_category(static_cast<utf8proc_int32_t>(cp));
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
  // ASCII classes: 0 breaks a run (space, control), 1 letter, 2 digit, 3 punctuation / symbol / '_'.
  static constexpr auto kAscii = [] {
    std::array<uint8_t, 128> t{};
    for (int c = 0x21; c < 0x7F; ++c) t[size_t(c)] = 3;
    for (int c = 'a'; c <= 'z'; ++c) t[size_t(c)] = t[size_t(c - 'a' + 'A')] = 1;
    for (int c = '0'; c <= '9'; ++c) t[size_t(c)] = 2;
    return t;
  }();
  const size_t n = s.size();
  const auto* b = reinterpret_cast<const unsigned char*>(s.data());
  for (size_t i = 0; i < n;) {
    const unsigned char c = b[i];
    if (c < 0x80) {
      const uint8_t k = kAscii[c];
      if (k == 1 || k == 2) {  // a run of ASCII letters or digits in one step (most text)
        size_t j = i + 1;
        while (j < n && b[j] < 0x80 && kAscii[b[j]] == k) ++j;
        const Run kind = k == 1 ? Run::Latin : Run::Digits;
        if (run != kind) flush();
        run = kind;
        run_len += static_cast<int64_t>(j - i);
        i = j;
        continue;
      }
      flush();
      tokens += k == 3;  // punctuation, symbols, '_'; space and control characters: nothing
      ++i;
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
    if ((cp >= 0x4E00 && cp <= 0x9FFF) || is_cjk(cp)) { flush(); ++tokens; continue; }  // (the common block first)
    const auto cat = category(cp);
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
