// Word segmentation for English, Chinese and mixed text with ICU's word BreakIterator: spaces and
// punctuation delimit Latin words; Chinese/Japanese runs are split into words with ICU's dictionary
// ("我喜欢北京烤鸭" → 我 / 喜欢 / 北京 / 烤鸭). Offsets are byte offsets into the UTF-8 input.
// Thread-safety: any thread (one ICU iterator per thread, created on first use).
// Cost: ~0.2–1 µs per word; the first call on a thread loads ICU's dictionary (~ms).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace kuai::text {

enum class SpanKind {
  Word,    // letters (Latin, Cyrillic, …), possibly with inner apostrophes/hyphens as ICU decides
  Number,  // digits, with inner separators ("3.14", "1,000")
  Cjk,     // a dictionary word of ideographs/kana/hangul
  Punct,   // punctuation or symbols (one span per ICU boundary)
  Space,   // whitespace run
};

struct Span {
  size_t begin = 0;  // byte offset, on a code-point boundary
  size_t end = 0;    // exclusive
  SpanKind kind = SpanKind::Word;
};

// All spans, in order, covering the whole input (concatenating them gives the input back).
std::vector<Span> segment(std::string_view utf8);

// Only the Word, Number and Cjk spans, as strings (not normalised).
std::vector<std::string> segment_words(std::string_view utf8);

}  // namespace kuai::text
