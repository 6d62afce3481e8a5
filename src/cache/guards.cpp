#include "cache/guards.h"

#include "cache/word_lists.h"
#include "cache/wordnet.h"
#include "text/script.h"
#include "text/utf8.h"

#include <algorithm>
#include <cstdlib>

namespace kuai::cache {
namespace {

bool contains(const std::vector<std::string>& sorted, const std::string& w) {
  return std::binary_search(sorted.begin(), sorted.end(), w);
}

// One edit (insert, delete or substitute) apart, for ASCII words.
bool one_edit_apart(std::string_view a, std::string_view b) {
  if (a.size() > b.size()) std::swap(a, b);
  if (b.size() - a.size() > 1) return false;
  size_t i = 0, j = 0;
  bool edited = false;
  while (i < a.size() && j < b.size()) {
    if (a[i] == b[j]) { ++i; ++j; continue; }
    if (edited) return false;
    edited = true;
    if (a.size() == b.size()) ++i;
    ++j;
  }
  return true;
}

// Two Chinese words that share characters: related (退钱 / 退款, 孕妇 / 怀孕, 电饭煲 / 电饭锅) when at
// least half the shorter one is shared; opposite (Polar) when what differs is a polar pair (升值 / 贬值).
enum class Relation { None, Same, Polar };

Relation zh_relation(const std::string& a, const std::string& b) {
  if (a.find(b) != std::string::npos || b.find(a) != std::string::npos) return Relation::Same;
  std::u32string x = text::utf8_to_u32(a), y = text::utf8_to_u32(b);
  std::u32string only_x, only_y;
  size_t shared = 0;
  for (char32_t c : x) {
    if (y.find(c) != std::u32string::npos) ++shared;
    else only_x.push_back(c);
  }
  for (char32_t c : y)
    if (x.find(c) == std::u32string::npos) only_y.push_back(c);
  for (char32_t c : only_x)
    for (char32_t d : only_y)
      if (zh_polar_pair(c, d) && (shared > 0 || x.size() == y.size())) return Relation::Polar;
  // Most of the shorter word shared, and either two characters or the first: 退钱 / 退款 and 电饭煲 /
  // 电饭锅 are the same thing; 孔子 / 孟子, 法语 / 德语, 男性 / 女性 share only their head character
  // and are different things of one kind.
  if (shared == 0 || 2 * shared < std::min(x.size(), y.size())) return Relation::None;
  return shared >= 2 || x[0] == y[0] ? Relation::Same : Relation::None;
}

// Opposite English words: WordNet antonyms, or one prefix swapped for its opposite (upload / download,
// import / export, overcharge / undercharge).
bool en_polar(const std::string& a, const std::string& b, const WordNet* wn) {
  static const std::pair<std::string_view, std::string_view> kPrefixes[] = {
      {"up", "down"}, {"im", "ex"}, {"in", "ex"}, {"in", "out"}, {"over", "under"}, {"pre", "post"},
      {"inc", "dec"}, {"en", "dis"}, {"", "un"}, {"", "dis"}};
  for (const auto& [p, q] : kPrefixes) {
    for (int flip = 0; flip < 2; ++flip) {
      std::string_view x = flip ? b : a, y = flip ? a : b;
      if (x.starts_with(p) && y.starts_with(q) && x.size() - p.size() >= 3 && x.substr(p.size()) == y.substr(q.size()))
        return true;
    }
  }
  return wn && wn->antonyms(a, b);
}

// The same English word written another way: an abbreviation that starts it ("temp" / "temperature"),
// a derivation ("renew" / "renewal"), a typo, or a WordNet synonym ("papers" / "documents").
bool en_related(const std::string& a, const std::string& b, const WordNet* wn) {
  if (a == b) return true;
  const std::string& shorter = a.size() < b.size() ? a : b;
  const std::string& longer = a.size() < b.size() ? b : a;
  if (shorter.size() >= 4 && longer.starts_with(shorter)) return true;
  if (shorter.size() >= 5 && longer.size() - shorter.size() <= 3 && longer.compare(0, shorter.size() - 1, shorter, 0, shorter.size() - 1) == 0)
    return true;  // renew / renewal, forgive / forgiven, apply / application is left to WordNet
  if (shorter.size() >= 7 && one_edit_apart(a, b)) return true;
  return wn && wn->synonyms(a, b);
}

// Whether word `w` of one query is present in the other query `q`: the same content word; for CJK, a
// substring of its text or a word sharing most of its characters; for English, a word related as above.
// Entities only match exactly (or as CJK text): "iceland" is not "ireland".
bool present_in(const std::string& w, const QueryFeatures& q, bool loose, const WordNet* wn) {
  if (contains(q.content, w)) return true;
  if (text::has_cjk(w)) {
    if (q.normalized.find(w) != std::string::npos) return true;
    if (!loose) return false;
    for (const auto& v : q.content)
      if (text::has_cjk(v) && zh_relation(w, v) == Relation::Same) return true;
    return false;
  }
  if (!loose || w[0] == '#') return false;
  for (const auto& v : q.content)
    if (v[0] != '#' && !text::has_cjk(v) && en_related(w, v, wn)) return true;
  // A synonym the other says with a word too common to be content ("required" / "need").
  for (const auto& v : q.words)
    if (!v.empty() && !text::has_cjk(v) && wn && wn->synonyms(w, v)) return true;
  return false;
}

bool has_marker(const QueryFeatures& q) {
  return std::any_of(q.content.begin(), q.content.end(), [](const std::string& w) { return w[0] == '#'; });
}

std::vector<std::string> unmatched(const std::vector<std::string>& words, const QueryFeatures& other, bool loose,
                                   const WordNet* wn) {
  std::vector<std::string> out;
  // A tense marker ("#past", "#future") only conflicts with another tense, not with a question that
  // leaves the time open ("Will 60 minutes be enough" / "Is 1 hour enough").
  const bool other_has_marker = has_marker(other);
  for (const auto& w : words) {
    if (w[0] == '#' && !other_has_marker) continue;
    if (!present_in(w, other, loose, wn)) out.push_back(w);
  }
  return out;
}

// A Chinese word of `a` whose opposite (one character swapped for its polar partner: 加湿 → 除湿)
// is written in `b`, however `b` was segmented.
bool zh_opposite_in(const std::string& x, const QueryFeatures& b) {
  std::u32string w = text::utf8_to_u32(x);
  for (size_t i = 0; i < w.size(); ++i) {
    for (char32_t partner : zh_polar_partners(w[i])) {
      std::u32string swapped = w;
      swapped[i] = partner;
      if (b.normalized.find(text::u32_to_utf8(swapped)) != std::string::npos) return true;
    }
  }
  return false;
}

// A word of one query and a word of the other that mean opposite things.
bool opposite_words(const QueryFeatures& a, const QueryFeatures& b, const WordNet* wn) {
  for (const auto& x : a.content)
    if (text::has_cjk(x) && text::utf8_length(x) >= 2 && !contains(b.content, x) && zh_opposite_in(x, b)) return true;
  for (const auto& x : b.content)
    if (text::has_cjk(x) && text::utf8_length(x) >= 2 && !contains(a.content, x) && zh_opposite_in(x, a)) return true;
  for (const auto& x : a.content) {
    if (contains(b.content, x) || x[0] == '#') continue;
    for (const auto& y : b.content) {
      if (contains(a.content, y) || y[0] == '#') continue;
      const bool zx = text::has_cjk(x), zy = text::has_cjk(y);
      if (zx && zy && zh_relation(x, y) == Relation::Polar) return true;
      if (!zx && !zy && en_polar(x, y, wn)) return true;
    }
  }
  return false;
}

// How much of `a`'s content `b` covers, from 0 to 1: English words count 1 when present in `b` (as
// above), generic words a third; a Chinese word counts its characters, each found in `b`'s text or not
// (segmentation cuts the same phrase differently: 退换 / 退货, 额度 / 提额).
double coverage(const QueryFeatures& a, const QueryFeatures& b, const WordNet* wn) {
  double total = 0, found = 0;
  const bool b_has_marker = has_marker(b);
  for (const auto& w : a.content) {
    if (w[0] == '#' && !b_has_marker) continue;
    if (text::has_cjk(w)) {
      for (size_t i = 0; i < w.size();) {
        size_t len;
        text::utf8_decode(w, i, len);
        total += 1;
        found += b.normalized.find(w.substr(i, len)) != std::string::npos ? 1 : 0;
        i += len;
      }
    } else {
      double weight = is_generic_word(w) ? 0.3 : 1.0;
      total += weight;
      found += present_in(w, b, true, wn) ? weight : 0;
    }
  }
  return total > 0 ? found / total : 1.0;
}

// Words one query adds to an otherwise matched question: fine when they add little (generic words)
// and at most `max_other` other words.
bool only_harmless_extras(const std::vector<std::string>& extra, int max_other) {
  int other = 0;
  for (const auto& w : extra) other += is_generic_word(w) ? 0 : 1;
  return other <= max_other;
}

bool is_direction_word(const std::string& w) {
  static const char* kEn[] = {"from", "to", "into", "than", "onto", "toward", "towards"};
  for (const char* d : kEn)
    if (w == d) return true;
  // Chinese: a segment holding 到 成 往 向 给 比 转 (到, 转成, 调成, 换成 …).
  static const char* kZh[] = {"到", "成", "往", "向", "给", "比", "转"};
  for (const char* d : kZh)
    if (w.find(d) != std::string::npos) return true;
  return false;
}

// Which stretch between direction words each word of `q` is in ("from PayPal to my bank": PayPal 1,
// bank 2), for the words both queries hold.
std::vector<std::pair<std::string, int>> stretches(const QueryFeatures& q, const QueryFeatures& other) {
  std::vector<std::pair<std::string, int>> out;
  int stretch = 0;
  for (const auto& w : q.words) {
    if (is_direction_word(w)) {
      ++stretch;
      continue;
    }
    if (std::find(other.words.begin(), other.words.end(), w) != other.words.end()) out.emplace_back(w, stretch);
  }
  return out;
}

// Two words on the same sides of a direction word in one query and on swapped sides in the other.
bool reversed_direction(const QueryFeatures& a, const QueryFeatures& b) {
  auto sa = stretches(a, b), sb = stretches(b, a);
  auto stretch_in = [](const std::vector<std::pair<std::string, int>>& s, const std::string& w) {
    for (const auto& [x, n] : s)
      if (x == w) return n;
    return -1;
  };
  for (size_t i = 0; i < sa.size(); ++i)
    for (size_t j = 0; j < sa.size(); ++j) {
      if (sa[i].second >= sa[j].second) continue;
      int bi = stretch_in(sb, sa[i].first), bj = stretch_in(sb, sa[j].first);
      if (bi >= 0 && bj >= 0 && bi > bj) return true;
    }
  return false;
}

}  // namespace

Guard check_guards(const QueryFeatures& a, const QueryFeatures& b, const GuardConfig& cfg) {
  const WordNet* wn = WordNet::shared();
  if (cfg.negation && a.negations != b.negations) return Guard::Negation;
  if (cfg.number && a.numbers != b.numbers) return Guard::Number;
  if (cfg.entity && (!unmatched(a.entities, b, false, wn).empty() || !unmatched(b.entities, a, false, wn).empty()))
    return Guard::Entity;
  if (cfg.direction && reversed_direction(a, b)) return Guard::Direction;
  if (cfg.polarity && opposite_words(a, b, wn)) return Guard::Polarity;
  if (cfg.scope && a.scope != b.scope) return Guard::Scope;
  if (cfg.content) {
    // Every content word of each has its match in the other, except words one side adds to a question
    // the other fully covers. Two sides that each hold an unmatched word are two different questions
    // ("track" / "return my Amazon order"), unless those words are related as above.
    auto ua = unmatched(a.content, b, true, wn), ub = unmatched(b.content, a, true, wn);
    // Generic words ("time", "way", 方法) never decide; of the rest, words unmatched on both sides are
    // a substitution (another question), words on one side only are extras.
    auto drop_generic = [](std::vector<std::string>& v) { std::erase_if(v, [](const std::string& w) { return is_generic_word(w); }); };
    drop_generic(ua);
    drop_generic(ub);
    const bool matched = (ua.empty() || ub.empty()) && only_harmless_extras(ua.empty() ? ub : ua, cfg.content_max_diff);
    if (!matched && std::min(coverage(a, b, wn), coverage(b, a, wn)) < cfg.content_min_coverage) return Guard::Content;
  }
  return Guard::None;
}

std::string_view guard_name(Guard g) {
  switch (g) {
    case Guard::None: return "none";
    case Guard::Negation: return "negation";
    case Guard::Number: return "number";
    case Guard::Entity: return "entity";
    case Guard::Direction: return "direction";
    case Guard::Polarity: return "polarity";
    case Guard::Scope: return "scope";
    case Guard::Content: return "content";
  }
  return "none";
}

}  // namespace kuai::cache
