// UTF-8 helpers shared by every text user (stages, cache, router): decoding one code point, validity,
// repair, and cutting a string only on a code-point boundary. Pure functions; any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace kuai::text {

// Decodes the code point starting at s[i]; sets `len` to its byte length (1 for an invalid byte, which
// decodes to U+FFFD). Requires i < s.size(). ASCII and valid 3-byte sequences (CJK) are decoded inline
// (the hot path of every text scan); the rest by utf8_decode_slow.
char32_t utf8_decode_slow(std::string_view s, size_t i, size_t& len);
inline char32_t utf8_decode(std::string_view s, size_t i, size_t& len) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + i;
  if (p[0] < 0x80) {
    len = 1;
    return p[0];
  }
  if ((p[0] & 0xF0) == 0xE0 && s.size() - i >= 3 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80) {
    const char32_t cp = (static_cast<char32_t>(p[0] & 0x0F) << 12) | (static_cast<char32_t>(p[1] & 0x3F) << 6) |
                        static_cast<char32_t>(p[2] & 0x3F);
    if (cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF)) {
      len = 3;
      return cp;
    }
  }
  return utf8_decode_slow(s, i, len);
}
// Whether s[i] starts a valid 3-byte sequence with lead byte E4..E9 (U+4000..U+9FFF: the common CJK
// ideographs, no punctuation among them): scans for punctuation step over it without decoding.
inline bool ideograph_at(std::string_view s, size_t i) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + i;
  return static_cast<unsigned>(p[0] - 0xE4) < 6 && s.size() - i >= 3 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80;
}
// Appends the UTF-8 encoding of `cp` (invalid code points become U+FFFD).
void utf8_append(std::string& out, char32_t cp);

// Whole strings between UTF-8 and code points (invalid bytes decode to U+FFFD).
std::u32string utf8_to_u32(std::string_view s);
std::string u32_to_utf8(std::u32string_view s);

bool utf8_valid(std::string_view s);
// `s` with every invalid byte replaced by U+FFFD (valid input is returned unchanged).
std::string utf8_sanitize(std::string_view s);

// The largest i <= pos that is not inside a multi-byte sequence (pos clamped to s.size()).
size_t utf8_floor(std::string_view s, size_t pos);
// Number of code points.
size_t utf8_length(std::string_view s);

}  // namespace kuai::text
