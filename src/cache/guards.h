// Guards against the false hits of cosine similarity: two queries close in embedding space can still
// ask different things ("flights to Paris" / "flights to London", "is it safe" / "is it not safe",
// "3 eggs" / "5 eggs"). A candidate hit is refused when the cached query and the new one differ in
//  - language:  (off by default) one is written in Chinese and the other not: the cached answer is in
//               the other language, which a product that answers in the user's language cannot serve;
//  - negation:  the number of negation markers (EN not/no/never/…n't; ZH 不/没/别/非/无/未 …);
//  - number:    numbers, quantities, dates, before/after (as a multiset);
//  - entity:    a named entity of one is absent from the other;
//  - direction: both name the same things around a direction word (from/to/into, 到/成/往/向/给/比) but
//               in another order ("PayPal to my bank" / "my bank to PayPal", 上海到杭州 / 杭州到上海);
//  - polarity:  a word of one is the opposite of a word of the other (WordNet antonyms, up-/down-,
//               im-/ex- …; 升/降, 加/减 … in Chinese words that otherwise share their characters);
//  - scope:     whose or how much ("all" / "one", "personal" / "business", 我的 / 孩子的);
//  - content:   each side must say at least `content_min_coverage` of the other's content words, each
//               weighted by how closely it is said (the same word, a WordNet relation, an abbreviation
//               or typo; for Chinese shared characters), and two queries that keep most words and swap
//               one for a word that is no close match ask different things.
// Pure; any thread.
#pragma once

#include "cache/query_features.h"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kuai::cache {

enum class Guard { None, Negation, Number, Entity, Direction, Polarity, Scope, Content, Language };
inline constexpr int kGuardKinds = static_cast<int>(Guard::Language) + 1;  // how many Guard values there are

struct GuardConfig {
  bool negation = true;
  bool number = true;
  bool entity = true;
  bool direction = true;
  bool polarity = true;
  bool scope = true;
  bool content = true;
  bool language = false;
  // Each side must cover this share of the other's content words (weighted by how closely they match).
  double content_min_coverage = 0.65;
  // A candidate at least this close (cosine) skips the content guard's coverage test: a model
  // embedder's similarity judges rewording better than word matching (stages.cache.embedder_trust);
  // above 1: never. One swapped word still refuses (the same frame of two or more words with one thing
  // swapped for an unrelated one is another question however close an embedder puts it).
  double content_trusted_similarity = 2.0;
  // Set per candidate by the store (sim >= content_trusted_similarity): skip the coverage test.
  bool wording_trusted = false;
};

// The first guard (in the order above) that refuses `query` being answered with `cached`'s answer;
// Guard::None when none does. Symmetric.
// `agreement`, when given, receives how much of each other's content the two say (the smaller of the
// two coverages, 0..1) when no guard refuses: among several candidates the best answers.
Guard check_guards(const QueryFeatures& cached, const QueryFeatures& query, const GuardConfig& cfg,
                   double* agreement = nullptr);

// How strongly each content word of `a` is said in `b` (0..1), as the content guard weighs it (generic
// words left out): what `kuai cache explain` shows.
std::vector<std::pair<std::string, double>> content_matches(const QueryFeatures& a, const QueryFeatures& b);

// "none" | "negation" | "number" | "entity" | "direction" | "polarity" | "scope" | "content" | "language"
std::string_view guard_name(Guard g);

}  // namespace kuai::cache
