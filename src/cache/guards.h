// Guards against the false hits of cosine similarity: two queries close in embedding space can still
// ask different things ("flights to Paris" / "flights to London", "is it safe" / "is it not safe",
// "3 eggs" / "5 eggs"). A candidate hit is refused when the cached query and the new one differ in
//  - negation:  the number of negation markers (EN not/no/never/…n't; ZH 不/没/别/非/无/未 …);
//  - number:    any number, quantity or date (as a multiset);
//  - entity:    a named entity of one is absent from the other;
//  - content:   key content words (stop words, synonyms and light stemming aside) differ by more than
//               `content_max_diff` words in total.
// Pure; any thread.
#pragma once

#include "cache/query_features.h"

#include <string_view>

namespace kuai::cache {

enum class Guard { None, Negation, Number, Entity, Content };

struct GuardConfig {
  bool negation = true;
  bool number = true;
  bool entity = true;
  bool content = true;
  int content_max_diff = 0;  // unmatched content words allowed (both sides together)
};

// The first guard (in the order above) that refuses `query` being answered with `cached`'s answer;
// Guard::None when none does. Symmetric.
Guard check_guards(const QueryFeatures& cached, const QueryFeatures& query, const GuardConfig& cfg);

std::string_view guard_name(Guard g);  // "none" | "negation" | "number" | "entity" | "content"

}  // namespace kuai::cache
