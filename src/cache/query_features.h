// What the cache knows about one query text, computed once (on lookup, and again when an entry is
// loaded from Redis, so only the text is ever stored): the exact-match key text and the features the
// guards compare (guards.h). English and Chinese (ICU segmentation through kuai_text).
// Pure functions; any thread. Cost: ~2–10 µs for a one-sentence query.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kuai::cache {

struct QueryFeatures {
  // NFKC + case fold, whitespace collapsed, trailing ?!.。？！ dropped: two queries with the same
  // `normalized` are the same query (the exact-match fast path hashes it).
  std::string normalized;
  // Every word/number token, folded ("Paris" → "paris"), in order.
  std::vector<std::string> words;
  // The embedder's input, in order: content words in their canonical form (stemmed, synonyms mapped,
  // contractions expanded), numbers canonical, "#not" per negation, stop words as they are.
  std::vector<std::string> terms;
  // Count of negation markers (EN not/no/never/…n't/without; ZH 不/没/别/非/无/未/… outside words
  // where they do not negate, e.g. 非常, 未来, 是不是).
  int negations = 0;
  // Numbers, quantities and dates, canonical ("1,000" → "1000", "three" → "3", "三" → "3",
  // "tomorrow" → "@tomorrow"), sorted (a multiset).
  std::vector<std::string> numbers;
  // Named entities: capitalised English words not at a sentence start (or at a start but not a common
  // word), acronyms, mixed letter/digit words, Chinese words with a place/organisation suffix. Folded,
  // sorted, unique.
  std::vector<std::string> entities;
  // Key content words: everything that is not a stop word, number or negation, folded, lightly stemmed
  // (English), synonyms mapped to one form; plus tense markers ("#past", "#future"). Sorted, unique.
  std::vector<std::string> content;
  // Scope tags: whose or how much the question is about ("#all", "#one", "#business", "#child" …),
  // sorted, unique (word_lists.h).
  std::vector<std::string> scope;
};

QueryFeatures query_features(std::string_view text);

}  // namespace kuai::cache
