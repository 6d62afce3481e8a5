// ASCII character classes by one table load (the byte loops of slim, the courtesy classifier and the
// ledger test every byte of a request against several classes; a chain of range compares per test
// cost them more than the rest of their work). Bytes from 0x80 are in no class.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace kuai::text {

namespace ascii_detail {
enum : uint8_t { kUpper = 1, kLower = 2, kDigit = 4, kHspace = 8, kNewline = 16 };
inline constexpr std::array<uint8_t, 256> kClass = [] {
  std::array<std::uint8_t, 256> t{};
  for (int c = 'A'; c <= 'Z'; ++c) t[std::size_t(c)] = kUpper;
  for (int c = 'a'; c <= 'z'; ++c) t[std::size_t(c)] = kLower;
  for (int c = '0'; c <= '9'; ++c) t[std::size_t(c)] = kDigit;
  for (char c : {' ', '\t', '\r', '\f', '\v'}) t[static_cast<unsigned char>(c)] = kHspace;
  t['\n'] = kNewline;
  return t;
}();
constexpr std::uint8_t class_of(char c) { return kClass[static_cast<unsigned char>(c)]; }
}  // namespace ascii_detail

constexpr bool ascii_alpha(char c) { return ascii_detail::class_of(c) & (ascii_detail::kUpper | ascii_detail::kLower); }
constexpr bool ascii_upper(char c) { return ascii_detail::class_of(c) & ascii_detail::kUpper; }
constexpr bool ascii_digit(char c) { return ascii_detail::class_of(c) & ascii_detail::kDigit; }
constexpr bool ascii_alnum(char c) {
  return ascii_detail::class_of(c) & (ascii_detail::kUpper | ascii_detail::kLower | ascii_detail::kDigit);
}
// Space, tab, CR, form feed, vertical tab (not '\n').
constexpr bool ascii_hspace(char c) { return ascii_detail::class_of(c) & ascii_detail::kHspace; }
// ascii_hspace or '\n'.
constexpr bool ascii_space(char c) {
  return ascii_detail::class_of(c) & (ascii_detail::kHspace | ascii_detail::kNewline);
}
// 'A'..'Z' to lower case, branch-free (vectorizes over a string); every other byte unchanged.
constexpr char ascii_lower(char c) { return static_cast<char>(c + ((static_cast<unsigned char>(c - 'A') < 26) << 5)); }

// The length of s's leading run of ASCII bytes (16 at a time where SSE2 is there).
inline std::size_t ascii_prefix(std::string_view s) {
  std::size_t i = 0;
#if defined(__SSE2__)
  for (; s.size() - i >= 16; i += 16) {
    const int high = _mm_movemask_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + i)));
    if (high) return i + static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(high)));
  }
#endif
  while (i < s.size() && static_cast<unsigned char>(s[i]) < 0x80) ++i;
  return i;
}

}  // namespace kuai::text
