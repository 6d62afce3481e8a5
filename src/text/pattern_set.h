// PatternSet: which of a fixed list of UTF-8 patterns occur in a text, found in one pass over the
// text's code points (the patterns are indexed by their first code point: ASCII in a table, others by
// lead byte, then a 1024-bit filter, then a flat hash table), instead of one substring search per
// pattern: a lexicon of a few hundred CJK words against a sentence costs a table probe per character.
// Matching is byte-exact (no case folding).
// Thread-safety: immutable after construction; present() from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kuai::text {

class PatternSet {
 public:
  PatternSet() = default;
  explicit PatternSet(std::vector<std::string> patterns);

  const std::vector<std::string>& patterns() const { return patterns_; }
  size_t size() const { return patterns_.size(); }
  // Sets `out` to the indices (ascending, each once) of the non-empty patterns that occur in `s`.
  void present(std::string_view s, std::vector<uint32_t>& out) const;
  // How many distinct patterns occur in `s`, counting up to `limit`.
  size_t count_present(std::string_view s, size_t limit) const;
  // Sets `out` to every occurrence (pattern index, byte offset in `s`), overlapping ones included,
  // by offset and, at one offset, in the patterns' order.
  void matches(std::string_view s, std::vector<std::pair<uint32_t, uint32_t>>& out) const;

 private:
  template <class F>
  void scan(std::string_view s, F&& on_match) const;
  // The patterns starting with code point `cp` (not ASCII); null when none.
  const std::vector<uint32_t>* starting_with(char32_t cp) const;

  std::vector<std::string> patterns_;
  std::vector<uint32_t> by_ascii_[128];  // ASCII first byte → patterns
  // Other first code points → patterns: open addressing, a power of two of slots (cp 0: empty).
  std::vector<std::pair<char32_t, std::vector<uint32_t>>> by_first_;
  bool lead_[256] = {};            // first bytes of every pattern (ASCII and by_first_'s lead bytes)
  bool single_[256] = {};          // one-byte patterns
  uint64_t pair_bits_[64] = {};    // first two bytes of the longer patterns, hashed to 4096 bits
  static size_t pair_slot(unsigned char a, unsigned char b) { return (a * 0x9E5u + b) & 4095; }
  uint64_t first_bits_[16] = {};   // by_first_'s code points, modulo 1024
};

}  // namespace kuai::text
