#include "text/estimate.h"

#include "text/script.h"
#include "text/utf8.h"

#include <utf8proc.h>

#include <array>
#include <bit>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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
#if defined(__SSE2__)
    // 16 ASCII bytes at once (most text between CJK characters): letter, digit and punctuation masks;
    // each punctuation byte is a token, and the letter and digit runs are walked run by run, carrying
    // the run across blocks exactly as the byte loop below does.
    if (n - i >= 16) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i));
      if (_mm_movemask_epi8(v) == 0) {
        const __m128i low = _mm_or_si128(v, _mm_set1_epi8(0x20));
        const auto in = [](__m128i x, char lo, char hi) {
          return static_cast<uint32_t>(_mm_movemask_epi8(
              _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8(static_cast<char>(lo - 1))),
                            _mm_cmplt_epi8(x, _mm_set1_epi8(static_cast<char>(hi + 1))))));
        };
        const uint32_t letters = in(low, 'a', 'z'), digits = in(v, '0', '9');
        const uint32_t printable = in(v, 0x21, 0x7E);
        const uint32_t punct = printable & ~(letters | digits);
        for (uint32_t p = punct; p; p &= p - 1) ++tokens;  // (std::popcount: a libgcc call on baseline x86-64)
        const uint32_t words = letters | digits;
        uint32_t pos = 0;
        while (pos < 16) {
          const uint32_t ahead = words >> pos;
          if (ahead == 0) { flush(); break; }  // only spaces / punctuation left in the block
          const uint32_t start = pos + static_cast<uint32_t>(std::countr_zero(ahead));
          if (start > pos) flush();  // a space or punctuation byte ends the run
          const bool letter = (letters >> start) & 1;
          const uint32_t same = (letter ? letters : digits) >> start;
          const uint32_t end = start + static_cast<uint32_t>(std::countr_zero(~same));
          const Run kind = letter ? Run::Latin : Run::Digits;
          if (run != kind) flush();
          run = kind;
          run_len += static_cast<int64_t>(end - start);
          pos = end;
        }
        i += 16;
        continue;
      }
    }
#endif
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
    if (len == 3 && ((cp >= 0x3000 && cp < 0x3040) || (cp >= 0xFF00 && cp < 0xFFF0))) {
      // CJK punctuation (，。！？、): from the table, no is_cjk call. A punctuation mark or symbol is one
      // token whether or not is_cjk claims it; the rest of these blocks takes the general path.
      const auto cat = category(cp);
      if (cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_SO) {
        flush();
        ++tokens;
        continue;
      }
    }
    if ((cp >= 0x4E00 && cp <= 0x9FFF) || is_cjk(cp)) {  // (the common block first)
      flush();
      ++tokens;
      // The characters that follow with lead bytes E4..E9 (U+4000..U+9FFF: Extension A's end, the
      // Yijing hexagrams, the common block: one token each either way), without decoding.
      while (n - i >= 3 && static_cast<unsigned>(b[i] - 0xE4) < 6 && (b[i + 1] & 0xC0) == 0x80 &&
             (b[i + 2] & 0xC0) == 0x80) {
        ++tokens;
        i += 3;
      }
      continue;
    }
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
