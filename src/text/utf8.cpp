#include "text/utf8.h"

namespace kuai::text {
namespace {

constexpr char32_t kReplacement = 0xFFFD;

bool is_cont(unsigned char c) { return (c & 0xC0) == 0x80; }

}  // namespace

char32_t utf8_decode_slow(std::string_view s, size_t i, size_t& len) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + i;
  const size_t left = s.size() - i;
  const unsigned char c = p[0];
  len = 1;
  if (c < 0x80) return c;
  size_t need;
  char32_t cp;
  char32_t min;
  if ((c & 0xE0) == 0xC0) { need = 2; cp = c & 0x1F; min = 0x80; }
  else if ((c & 0xF0) == 0xE0) { need = 3; cp = c & 0x0F; min = 0x800; }
  else if ((c & 0xF8) == 0xF0) { need = 4; cp = c & 0x07; min = 0x10000; }
  else return kReplacement;
  if (left < need) return kReplacement;
  for (size_t k = 1; k < need; ++k) {
    if (!is_cont(p[k])) return kReplacement;
    cp = (cp << 6) | (p[k] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return kReplacement;
  len = need;
  return cp;
}

void utf8_append(std::string& out, char32_t cp) {
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = kReplacement;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::u32string utf8_to_u32(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t len;
    out.push_back(utf8_decode(s, i, len));
    i += len;
  }
  return out;
}

std::string u32_to_utf8(std::u32string_view s) {
  std::string out;
  for (char32_t c : s) utf8_append(out, c);
  return out;
}

bool utf8_valid(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t len;
    char32_t cp = utf8_decode(s, i, len);
    if (cp == kReplacement && len == 1 && static_cast<unsigned char>(s[i]) >= 0x80) return false;
    i += len;
  }
  return true;
}

std::string utf8_sanitize(std::string_view s) {
  if (utf8_valid(s)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 8);
  for (size_t i = 0; i < s.size();) {
    size_t len;
    char32_t cp = utf8_decode(s, i, len);
    if (len == 1 && static_cast<unsigned char>(s[i]) >= 0x80) cp = kReplacement;
    utf8_append(out, cp);
    i += len;
  }
  return out;
}

size_t utf8_floor(std::string_view s, size_t pos) {
  if (pos >= s.size()) return s.size();
  // Step back over at most 3 continuation bytes to the lead byte.
  size_t i = pos;
  for (int k = 0; k < 3 && i > 0 && is_cont(static_cast<unsigned char>(s[i])); ++k) --i;
  if (i == pos) return pos;
  size_t len;
  utf8_decode(s, i, len);
  // pos was inside a well-formed sequence that starts at i: cut before it. Otherwise pos is on a stray
  // continuation byte, which is its own (invalid) unit.
  return (i + len > pos) ? i : pos;
}

size_t utf8_length(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += !is_cont(c);
  return n;
}

}  // namespace kuai::text
