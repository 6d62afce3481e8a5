#include "text/script.h"

#include "text/utf8.h"

#include <utf8proc.h>

namespace kuai::text {

bool is_cjk(char32_t cp) {
  if (cp < 0x1100) return false;
  return (cp >= 0x4E00 && cp <= 0x9FFF) ||    // CJK Unified Ideographs
         (cp >= 0x3400 && cp <= 0x4DBF) ||    // Extension A
         (cp >= 0x20000 && cp <= 0x323AF) ||  // Extensions B..H
         (cp >= 0xF900 && cp <= 0xFAFF) ||    // Compatibility Ideographs
         (cp >= 0x2F800 && cp <= 0x2FA1F) ||  // Compatibility Supplement
         (cp >= 0x3040 && cp <= 0x30FF) ||    // Hiragana, Katakana
         (cp >= 0x31F0 && cp <= 0x31FF) ||    // Katakana Phonetic Extensions
         (cp >= 0xAC00 && cp <= 0xD7AF) ||    // Hangul Syllables
         (cp >= 0x1100 && cp <= 0x11FF) ||    // Hangul Jamo
         (cp >= 0x3130 && cp <= 0x318F);      // Hangul Compatibility Jamo
}

bool is_cjk_punct(char32_t cp) {
  if (cp >= 0x3000 && cp <= 0x303F) return true;
  if (cp >= 0xFF00 && cp <= 0xFFEF) {
    auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
    return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_SO;
  }
  return false;
}

bool has_cjk(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) { ++i; continue; }
    size_t len;
    if (is_cjk(utf8_decode(s, i, len))) return true;
    i += len;
  }
  return false;
}

double cjk_ratio(std::string_view s) {
  size_t letters = 0, cjk = 0;
  for (size_t i = 0; i < s.size();) {
    size_t len;
    char32_t cp = utf8_decode(s, i, len);
    i += len;
    if (is_cjk(cp)) { ++cjk; ++letters; continue; }
    if (cp < 0x80) { letters += (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z'; continue; }
    auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
    letters += cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
  }
  return letters == 0 ? 0.0 : static_cast<double>(cjk) / static_cast<double>(letters);
}

}  // namespace kuai::text
