// Small UTF-8 and GPT-2 byte-level helpers for the tokenizers. Pure functions, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kuai::engine::tok {

// Length in bytes of the UTF-8 sequence that starts with `lead` (1 for continuation/invalid bytes,
// so a walk over any byte string always advances).
inline size_t utf8_len(uint8_t lead) {
  static constexpr uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLen[lead >> 4];
}

// Appends the UTF-8 encoding of code point cp.
void utf8_append(std::string& out, uint32_t cp);

// Decodes the code point at s[i] (advancing i); invalid sequences give U+FFFD and advance one byte.
uint32_t utf8_next(std::string_view s, size_t& i);

// GPT-2 byte-level encoding: every byte maps to one printable code point (bytes 0x21-0x7E, 0xA1-0xAC,
// 0xAE-0xFF map to themselves; the other 68 bytes map to U+0100 onward). Used for BPE vocabularies.
std::string bytes_to_unicode(std::string_view bytes);
// The inverse; code points outside the map are copied through as their UTF-8 bytes.
std::string unicode_to_bytes(std::string_view text);

// Replaces every ' ' with U+2581 (▁), and back.
std::string escape_spaces(std::string_view text);
std::string unescape_spaces(std::string_view text);

}  // namespace kuai::engine::tok
