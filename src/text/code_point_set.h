// CodePointSet: which code points a text holds, as a 1024-bit Bloom filter (one bit per code point
// modulo 1024: no false negatives). Lexicon scans use it to skip the patterns whose first code point
// the text lacks before searching for them: a few hundred CJK patterns against a sentence otherwise
// cost one memchr + memcmp run per pattern (most CJK characters share their first UTF-8 byte).
// A value type on the stack; any thread.
#pragma once

#include "text/utf8.h"

#include <cstdint>
#include <string_view>

namespace kuai::text {

class CodePointSet {
 public:
  explicit CodePointSet(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
      size_t len = 1;
      const auto b0 = static_cast<unsigned char>(s[i]);
      char32_t cp = b0 < 0x80 ? b0 : utf8_decode(s, i, len);
      bits_[(cp >> 6) & 15] |= uint64_t{1} << (cp & 63);
      i += len;
    }
  }
  bool may_contain(char32_t cp) const { return (bits_[(cp >> 6) & 15] >> (cp & 63)) & 1; }
  // May `s` hold `pattern`? (false: surely not; an empty pattern: true)
  bool may_hold(std::string_view pattern) const {
    if (pattern.empty()) return true;
    size_t len;
    return may_contain(utf8_decode(pattern, 0, len));
  }

 private:
  uint64_t bits_[16] = {};
};

}  // namespace kuai::text
