// The courtesy classifier of the `slim` stage: finds sentences and clauses made of courtesy, apology,
// thanks, greeting, reassurance, praise, laughter and small talk, in English and Chinese, from a
// lexicon (data/slim/courtesy_en.txt, courtesy_zh.txt) rather than from listed whole phrases.
//
// A sentence ends at . ! ? (before a space or the end), 。！？…, or a newline; a clause ends at
// , ; : — ， ； ： 、 ～. For each sentence:
//   1. no trigger word in it → kept;
//   2. pure courtesy (every word is a trigger or a soft word, at most 2 other CJK characters) → removed;
//   3. a trigger and no content mark (a veto word not inside a trigger, a digit, '?', a quote, a
//      capitalised name inside the sentence) and at most 5 other words / 24 other CJK characters →
//      removed whole (small talk riding on a courtesy: "Sorry, my dog is barking, one moment.");
//   4. otherwise only its pure-courtesy clauses go ("Sorry if this is a silly question, but do I …"
//      keeps "but do I …").
// Bytes marked in `skip` (code, quotes, URLs, spans already removed) are never removed, and a sentence
// or clause holding one is never removed whole. Thread-safety: a lexicon is immutable after build;
// courtesy_spans is pure. Cost: linear in the text, no ICU (a 20-turn chat in a few µs).
#pragma once

#include "text/pattern_set.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace kuai::stages {

class CourtesyLexicon {
 public:
  // Adds a sectioned list ([trigger], [veto], [soft]; one entry a line, '#' comments).
  void add_list(std::string_view list);
  bool empty() const { return latin_trigger_.empty() && cjk_trigger_.empty(); }

  // Words are compared by the FNV-1a hash of their ASCII lower case form (’ → '): no string per word.
  static constexpr uint64_t kHashSeed = 1469598103934665603ull;
  static constexpr uint64_t hash_step(uint64_t h, char c) { return (h ^ static_cast<unsigned char>(c)) * 1099511628211ull; }
  static uint64_t hash_of(std::string_view lower) {
    uint64_t h = kHashSeed;
    for (char c : lower) h = hash_step(h, c);
    return h;
  }
  static constexpr uint64_t kStar = 0;  // `*` in a pattern (no word hashes to 0 in practice)
  struct Word {
    size_t begin, end;       // byte offsets in the text
    uint64_t hash;           // of the ASCII lower case form, ’ → '
    bool digit;              // holds a digit
    bool pronoun_i;          // "I", "I'm", "I'd"…
  };
  // Word sequences by their first word, with a 4096-bit filter of the first words' hashes (most words
  // of a text start no pattern: one bit test, no hash-table probe).
  struct Patterns {
    std::unordered_map<uint64_t, std::vector<std::vector<uint64_t>>> by_first;
    std::array<uint64_t, 64> first_bits{};
    bool may_start(uint64_t h) const { return (first_bits[(h >> 6) & 63] >> (h & 63)) & 1; }
    bool empty() const { return by_first.empty(); }
  };
  // Marks, for words[i..], the words of the longest pattern of `table` that matches at i; returns how
  // many words it spans (0: none).
  static size_t match_at(const Patterns& table, const std::vector<Word>& words, size_t i, size_t end);

  const Patterns& latin_trigger() const { return latin_trigger_; }
  const Patterns& latin_veto() const { return latin_veto_; }
  bool latin_soft(uint64_t hash) const {
    return ((soft_bits_[(hash >> 6) & 63] >> (hash & 63)) & 1) && latin_soft_.contains(hash);
  }
  // Non-Latin patterns (CJK words, full-width punctuation), longest first.
  const text::PatternSet& cjk_trigger() const { return cjk_trigger_set_; }
  const text::PatternSet& cjk_veto() const { return cjk_veto_set_; }
  const text::PatternSet& cjk_soft() const { return cjk_soft_set_; }

 private:
  Patterns latin_trigger_, latin_veto_;
  std::unordered_set<uint64_t> latin_soft_;
  std::array<uint64_t, 64> soft_bits_{};  // latin_soft_'s hashes modulo 4096
  std::vector<std::string> cjk_trigger_, cjk_veto_, cjk_soft_;  // longest first
  text::PatternSet cjk_trigger_set_, cjk_veto_set_, cjk_soft_set_;
};

// The built-in lexicons (data/slim/courtesy_*.txt, compiled into the binary).
std::string_view builtin_courtesy_en();
std::string_view builtin_courtesy_zh();

// Appends to `out` the byte ranges [begin, end) of `s` to remove, in order, non-overlapping.
// `skip` has s.size() entries; a non-zero byte is never removed.
void courtesy_spans(std::string_view s, const std::vector<uint8_t>& skip, const CourtesyLexicon& lexicon,
                    std::vector<std::pair<size_t, size_t>>& out);

}  // namespace kuai::stages
