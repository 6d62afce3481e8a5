// UTF-8 helpers shared by every text user (stages, cache, router): decoding one code point, validity,
// repair, and cutting a string only on a code-point boundary. Pure functions; any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace kuai::text {

// Decodes the code point starting at s[i]; sets `len` to its byte length (1 for an invalid byte, which
// decodes to U+FFFD). Requires i < s.size().
char32_t utf8_decode(std::string_view s, size_t i, size_t& len);
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
