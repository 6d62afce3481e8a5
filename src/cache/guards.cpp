#include "cache/guards.h"

#include "cache/cedict.h"
#include "cache/word_lists.h"
#include "cache/wordnet.h"
#include "text/script.h"
#include "text/utf8.h"

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <optional>

namespace kuai::cache {
namespace {

// WordNet relatedness (0..1, wordnet.h) at which two English words count as saying the same thing.
constexpr double kMinRelatedness = 0.6;

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
  std::u32string x = text::utf8_to_u32(a), y = text::utf8_to_u32(b);
  // One inside the other: 退 / 退款, 狂犬 / 狂犬病; but a single character at the end of a longer
  // word is that word's head, not the word (商 / 工商).
  const std::u32string& shorter = x.size() <= y.size() ? x : y;
  const std::u32string& longer = x.size() <= y.size() ? y : x;
  if (longer.find(shorter) != std::u32string::npos && (shorter.size() >= 2 || longer[0] == shorter[0]))
    return Relation::Same;
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
  // Most of the shorter word shared, starting with the same character: 退钱 / 退款 and 电饭煲 / 电饭锅
  // are the same thing. Words that differ at the start and share their head are different things of
  // one kind: 孔子 / 孟子, 法语 / 德语, 招商银行 / 工商银行, 单人间 / 双人间.
  if (shared == 0 || 2 * shared < std::min(x.size(), y.size())) return Relation::None;
  return x[0] == y[0] ? Relation::Same : Relation::None;
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
  // Opposite actions WordNet does not list as antonyms.
  static const std::pair<std::string_view, std::string_view> kOpposites[] = {
      {"add", "remove"}, {"add", "delete"}, {"add", "subtract"}, {"speed", "slow"}, {"raise", "lower"},
      {"open", "close"}, {"start", "stop"}, {"buy", "sell"}, {"lend", "borrow"}, {"join", "leave"},
      {"split", "merge"}, {"arrive", "depart"}, {"win", "lose"}, {"send", "receive"}, {"give", "take"},
      {"push", "pull"}, {"enter", "exit"}, {"attach", "detach"}, {"mute", "unmute"}, {"zoom", "shrink"}};
  for (const auto& [x, y] : kOpposites)
    if ((a == x && b == y) || (a == y && b == x)) return true;
  return wn && wn->antonyms(a, b);
}

// An abbreviation written as the word's consonants ("tbsp" / "tablespoon", "pwd" / "password",
// "msg" / "message", "str" / "string"): 2-5 letters, the same first letter, no vowel after it, each
// letter found in order in the longer word (at least twice as long).
bool consonant_abbreviation(std::string_view abbr, std::string_view word) {
  auto vowel = [](char c) { return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'; };
  if (abbr.size() < 2 || abbr.size() > 5 || word.size() < 2 * abbr.size() || abbr[0] != word[0]) return false;
  size_t j = 1;
  for (size_t i = 1; i < abbr.size(); ++i) {
    if (vowel(abbr[i]) || abbr[i] < 'a' || abbr[i] > 'z') return false;
    while (j < word.size() && word[j] != abbr[i]) ++j;
    if (j == word.size()) return false;
    ++j;
  }
  return true;
}

// The same English word written another way: an abbreviation that starts it ("temp" / "temperature")
// or spells its consonants ("tbsp" / "tablespoon"),
// a derivation ("renew" / "renewal"), a typo, or a word WordNet relates closely enough (a synonym,
// a derivation, a direct hypernym, a word of its definition: wordnet.h).
bool en_related(const std::string& a, const std::string& b, const WordNet* wn) {
  if (a == b) return true;
  const std::string& shorter = a.size() < b.size() ? a : b;
  const std::string& longer = a.size() < b.size() ? b : a;
  if (shorter.size() >= 4 && longer.starts_with(shorter)) return true;
  if (shorter.size() >= 5 && longer.size() - shorter.size() <= 3 && longer.compare(0, shorter.size() - 1, shorter, 0, shorter.size() - 1) == 0)
    return true;  // renew / renewal, forgive / forgiven, apply / application is left to WordNet
  if (shorter.size() >= 7 && one_edit_apart(a, b)) return true;
  if (consonant_abbreviation(shorter, longer)) return true;
  return wn && wn->relatedness(a, b) >= kMinRelatedness;
}

// The dictionary's bridge between Chinese and English (cedict.h): how strongly the English word `en`
// says the Chinese word `zh`: 0.9 when one of the first words of zh's definitions is `en` written
// another way (en_related without WordNet's looser links) or a WordNet synonym of it ("refund" / 退款,
// "boil" / 煮), else 0. Only synonyms: a word of many definitions (看: see, look, read, watch, visit,
// call …) is loosely related to almost any English word.
constexpr size_t kGlossWords = 8;  // later definitions are rarer senses

double zh_en_strength(const std::string& zh, const std::string& en, const WordNet* wn) {
  const Cedict* cd = Cedict::shared();
  const Cedict::Gloss* g = cd ? cd->gloss(zh) : nullptr;
  if (!g || en.empty() || en[0] == '#') return 0.0;
  for (size_t k = 0; k < std::min(g->words.size(), kGlossWords); ++k)
    if (en_related(g->words[k], en, nullptr) || (wn && wn->synonyms(g->words[k], en))) return 0.9;
  return 0.0;
}

// Two Chinese words whose main senses share a word that is neither generic nor part of a name
// (资料 / 材料: "material", 过期 / 到期: "expire"; not 联通 / 电信, "China Unicom" / "China Telecom"):
// 0.7, said in other words; else 0.
double zh_zh_strength(const std::string& a, const std::string& b) {
  const Cedict* cd = Cedict::shared();
  const Cedict::Gloss* ga = cd ? cd->gloss(a) : nullptr;
  const Cedict::Gloss* gb = cd ? cd->gloss(b) : nullptr;
  if (!ga || !gb) return 0.0;
  for (const auto& w : ga->common)
    if (!is_generic_word(w) && std::find(gb->common.begin(), gb->common.end(), w) != gb->common.end()) return 0.7;
  return 0.0;
}

// Whether a Chinese word of `q` says the English word `w` by the dictionary (长城 for "wall").
bool said_in_chinese(const std::string& w, const QueryFeatures& q, const WordNet* wn) {
  return std::any_of(q.content.begin(), q.content.end(),
                     [&](const std::string& v) { return text::has_cjk(v) && zh_en_strength(v, w, wn) > 0; });
}

// The words [first, last) of q.words that spell out `w`, a name written short, or nullopt: an acronym
// by the initials of consecutive words, small words between them skipped and a digit standing for its
// number word ("2fa" / "two-factor authentication", "dmv" / "department of motor vehicles"), or a
// numeronym by a word of that many letters between its first and last ("k8s" / "kubernetes", "i18n").
std::optional<std::pair<size_t, size_t>> spelled_out_span(const std::string& w, const QueryFeatures& q) {
  if (w.size() < 2 || w.size() > 6) return std::nullopt;
  for (char c : w)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return std::nullopt;
  // Numeronym: letter, count, letter.
  if (w.size() >= 3 && w.front() >= 'a' && w.back() >= 'a') {
    const std::string_view count(w.data() + 1, w.size() - 2);
    if (std::all_of(count.begin(), count.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      const size_t n = size_t(std::atoi(std::string(count).c_str())) + 2;
      for (size_t j = 0; j < q.words.size(); ++j)
        if (q.words[j].size() == n && q.words[j].front() == w.front() && q.words[j].back() == w.back())
          return std::pair{j, j + 1};
      return std::nullopt;
    }
  }
  static constexpr char kDigitInitial[] = "zottffssen";  // zero, one, two, … nine
  static const char* kSkipped[] = {"of", "and", "the", "for", "a", "an", "to", "&"};
  auto skipped = [](const std::string& v) {
    return std::any_of(std::begin(kSkipped), std::end(kSkipped), [&](const char* s) { return v == s; });
  };
  for (size_t start = 0; start < q.words.size(); ++start) {
    size_t i = 0, k = start;
    while (i < w.size() && k < q.words.size()) {
      const std::string& v = q.words[k];
      const char want = w[i] >= '0' && w[i] <= '9' ? kDigitInitial[w[i] - '0'] : w[i];
      if (!v.empty() && v[0] == want && !(i > 0 && skipped(v))) {
        ++i;
      } else if (i == 0 || !skipped(v)) {
        break;
      }
      ++k;
    }
    if (i == w.size()) return std::pair{start, k};
  }
  return std::nullopt;
}

bool spelled_out_in(const std::string& w, const QueryFeatures& q) { return spelled_out_span(w, q).has_value(); }

// The words of `own` that spell out a short name `q` writes ("two", "factor", "authentication" against
// "2fa").
std::vector<std::string> words_spelling_out_names_of(const QueryFeatures& own, const QueryFeatures& q) {
  std::vector<std::string> out;
  for (const auto& v : q.content)
    if (const auto span = spelled_out_span(v, own))
      out.insert(out.end(), own.words.begin() + std::ptrdiff_t(span->first), own.words.begin() + std::ptrdiff_t(span->second));
  return out;
}

// Whether word `w` of one query is present in the other query `q`: the same content word; for CJK, a
// substring of its text or a word sharing most of its characters; for English, a word related as above.
// Entities only match exactly (or as CJK text), or through a close WordNet link ("japan" / "japanese"):
// "iceland" is not "ireland".
bool present_in(const std::string& w, const QueryFeatures& q, bool loose, const WordNet* wn) {
  if (contains(q.content, w)) return true;
  if (text::has_cjk(w)) {
    if (q.normalized.find(w) != std::string::npos) return true;
    if (!loose) return false;
    for (const auto& v : q.content)
      if (text::has_cjk(v) && zh_relation(w, v) == Relation::Same) return true;
    return false;
  }
  if (w[0] == '#') return false;
  if (spelled_out_in(w, q)) return true;
  if (said_in_chinese(w, q, wn)) return true;  // a name the other writes in Chinese ("Great Wall" / 长城)
  if (!loose) {
    // A name said through its adjective or a synonym WordNet lists ("Japan" / "Japanese",
    // "Holland" / "Netherlands"): a shared synset or a pertainym/derivation link, nothing looser.
    if (!wn || wn->forms(w).empty()) return false;
    for (const auto& v : q.content)
      if (v[0] != '#' && !text::has_cjk(v) && wn->relatedness(w, v) >= 0.8) return true;
    return false;
  }
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
  // Opposite particles of phrasal verbs ("speed up" / "slow down", "turn on" / "turn off").
  auto has = [](const QueryFeatures& q, std::string_view w) { return std::find(q.words.begin(), q.words.end(), w) != q.words.end(); };
  for (auto [x, y] : {std::pair<std::string_view, std::string_view>{"up", "down"}, {"on", "off"}})
    if ((has(a, x) && !has(a, y) && has(b, y) && !has(b, x)) || (has(a, y) && !has(a, x) && has(b, x) && !has(b, y)))
      return true;
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

// Whether every character of `part` is in `whole`, in order.
bool in_order(std::u32string_view part, std::u32string_view whole) {
  size_t at = 0;
  for (char32_t c : part) {
    at = whole.find(c, at);
    if (at == std::u32string_view::npos) return false;
    ++at;
  }
  return true;
}

// Where `abbr` (2-3 characters, not written as such) spells a stretch of `text` by some of its
// characters in order, starting with its first: [begin, end) of the first such stretch no longer than
// 3 characters per character of `abbr`; npos when none.
std::pair<size_t, size_t> abbreviation_span(std::u32string_view abbr, std::u32string_view text) {
  constexpr size_t npos = std::u32string_view::npos;
  if (abbr.size() < 2 || abbr.size() > 3 || text.find(abbr) != npos) return {npos, npos};
  for (size_t begin = text.find(abbr[0]); begin != npos; begin = text.find(abbr[0], begin + 1)) {
    const std::u32string_view window = text.substr(begin, 3 * abbr.size());  // the stretch's limit
    size_t at = 1;
    bool ok = true;
    for (size_t i = 1; i < abbr.size() && ok; ++i) {
      at = window.find(abbr[i], at);
      ok = at != npos;
      if (ok) ++at;
    }
    if (ok) return {begin, begin + at};
  }
  return {npos, npos};
}

// Whether `abbr`, a word of the other query, abbreviates a stretch of `text` (the own query's) that
// holds word `w`.
bool abbreviates(std::u32string_view abbr, std::u32string_view text, std::u32string_view w) {
  const auto [begin, end] = abbreviation_span(abbr, text);
  if (begin == std::u32string::npos) return false;
  const size_t at = text.find(w);
  return at != std::u32string::npos && at < end && at + w.size() > begin;
}

// How strongly word `w` of query `own` is said in the other query `q`, from 0 to 1: the same word (1);
// for Chinese, its text in `q` (1), a word sharing most of its characters (0.9), an abbreviation (0.8),
// else the share of its characters `q` writes in words `own` does not say, scaled down (0 when that is
// only its head); for English, a related word (en_related: 0.9) or
// WordNet's relatedness (0.6–0.9). Entities only count when written the same way.
// What match_strength needs of the two queries beyond their features, computed once per direction
// (per-word work stays linear in the other query's words).
struct Pair {
  const QueryFeatures& own;  // the query whose word is matched
  const QueryFeatures& q;    // the query it is looked for in
  std::u32string own_text, q_text;
  // The Chinese words of `q` that `own` does not say too, concatenated: where characters of a
  // word of `own` are looked for (照片 is not said by the 照 of 护照 when both queries say 护照).
  std::string unshared;
  // The words of `own` that spell out a short name of `q` (words_spelling_out_names_of).
  std::vector<std::string> spelling_out;
  Pair(const QueryFeatures& o, const QueryFeatures& other)
      : own(o), q(other), spelling_out(words_spelling_out_names_of(o, other)) {
    if (!text::has_cjk(own.normalized) || !text::has_cjk(q.normalized)) return;
    own_text = text::utf8_to_u32(own.normalized);
    q_text = text::utf8_to_u32(q.normalized);
    for (const auto& v : q.words)
      if (text::has_cjk(v) && own.normalized.find(v) == std::string::npos) unshared += v;
  }
};

double match_strength(const std::string& w, const Pair& p, bool entity, const WordNet* wn) {
  const QueryFeatures& q = p.q;
  if (contains(q.content, w)) return 1.0;
  if (text::has_cjk(w)) {
    if (q.normalized.find(w) != std::string::npos) return 1.0;
    if (entity) return 0.0;
    double best = 0;
    const std::u32string wu = text::utf8_to_u32(w);
    for (const auto& v : q.content) {
      if (!text::has_cjk(v)) continue;
      if (zh_relation(w, v) == Relation::Same) best = 0.9;
      // The other says it abbreviated: every character of a shorter word, in order (个税 for
      // 个人所得税, 低保 for 最低生活保障, 重疾险 for 重大疾病险).
      const std::u32string vu = text::utf8_to_u32(v);
      if (vu.size() >= 2 && vu.size() < wu.size() && in_order(vu, wu)) best = std::max(best, 0.8);
      if (vu.size() >= 2 && vu.size() <= 3 && abbreviates(vu, p.own_text, wu)) best = std::max(best, 0.8);
    }
    // `w` abbreviates words of `q` that ICU split (低保 for 最低 / 生活 / 保障).
    if (wu.size() >= 2 && wu.size() <= 3 && abbreviation_span(wu, p.q_text).first != std::u32string::npos)
      best = std::max(best, 0.8);
    const std::string& unshared = p.unshared;
    size_t chars = 0, found = 0;
    bool first_found = false, last_found = false;
    for (size_t i = 0; i < w.size();) {
      size_t len;
      text::utf8_decode(w, i, len);
      const bool in_q = unshared.find(w.substr(i, len)) != std::string::npos;
      first_found = chars == 0 ? in_q : first_found;
      last_found = in_q;
      ++chars;
      found += in_q ? 1 : 0;
      i += len;
    }
    // Said in English, or in other Chinese words of the same meaning (the dictionary's bridge).
    for (const auto& v : q.content) {
      if (v[0] == '#') continue;
      best = std::max(best, text::has_cjk(v) ? zh_zh_strength(w, v) : zh_en_strength(w, v, wn));
    }
    // Only the head (last character) shared: another thing of the same kind (法语 / 德语, 工商 / 招商,
    // 平安 / 众安), not the same thing said another way.
    if (best == 0 && chars >= 2 && last_found && found == 1) return 0.0;
    return std::max(best, chars ? 0.8 * double(found) / double(chars) : 0.0);
  }
  if (w[0] == '#') return 0.0;
  if (entity) {  // a name matches only itself, its adjective or synonym ("japan" / "japanese"), or its spelling out
    if (spelled_out_in(w, q) || said_in_chinese(w, q, wn)) return 0.9;
    if (!wn || wn->forms(w).empty()) return 0.0;
    for (const auto& v : q.content)
      if (wn && v[0] != '#' && !text::has_cjk(v) && wn->relatedness(w, v) >= 0.8) return 0.9;
    return 0.0;
  }
  double best = 0;
  // One of the words that spell out a name the other writes short (content words are stemmed).
  for (const auto& x : p.spelling_out)
    if (x == w || (w.size() >= 4 && x.starts_with(w)) || (x.size() >= 4 && w.starts_with(x))) return 0.9;
  for (const auto& v : q.content) {
    if (v[0] == '#') continue;
    if (text::has_cjk(v)) {
      best = std::max(best, zh_en_strength(v, w, wn));
      continue;
    }
    if (en_related(w, v, nullptr)) return 0.9;
    if (wn) best = std::max(best, wn->relatedness(w, v));
  }
  // A synonym the other says with a word too common to be content ("required" / "need").
  for (const auto& v : q.words)
    if (best < 0.9 && !v.empty() && !text::has_cjk(v) && wn && wn->synonyms(w, v)) best = 0.9;
  return best >= kMinRelatedness ? best : 0.0;
}

// How much of what `a` asks `b` says too, from 0 to 1: each content word of `a` (generic words aside)
// weighs 1 and counts its match_strength in `b`. Also counts the words `b` says exactly (`same`) and those it says at best loosely
// (`loose`: said by no close word).
struct Coverage {
  double share = 1.0;
  int same = 0, loose = 0;
};
constexpr double kLooseBelow = 0.65;

Coverage coverage(const QueryFeatures& a, const QueryFeatures& b, const WordNet* wn) {
  Coverage c;
  const Pair pair(a, b);
  double total = 0, found = 0;
  const bool b_has_marker = has_marker(b);
  for (const auto& w : a.content) {
    if (is_generic_word(w) || (w[0] == '#' && !b_has_marker)) continue;
    total += 1;
    const double m = match_strength(w, pair, contains(a.entities, w), wn);
    found += m;
    c.same += m >= 1.0 ? 1 : 0;
    // Loose: said by no close word. A Chinese word whose characters the other writes in part
    // (改签几次 / 次数) is said, if weakly; an English word only a definition relates (0.6) is not.
    c.loose += (text::has_cjk(w) ? m == 0 : m < kLooseBelow) ? 1 : 0;
  }
  if (total > 0) c.share = found / total;
  return c;
}

// Two questions that say the same things except one word each (or a few), where those words are not
// synonyms: one thing asked in place of another ("track" / "return my Amazon order", 信用卡怎么分期 /
// 销户). Paraphrases rarely keep most words and swap one for an unrelated one; look-alikes do.
bool swapped_words(const Coverage& ab, const Coverage& ba) {
  return ab.loose > 0 && ba.loose > 0 && std::min(ab.same, ba.same) >= std::max(ab.loose, ba.loose);
}

// The narrow case of swapped_words that still holds when a sentence embedder vouches for the wording:
// exactly one word each side, in a frame of at least two shared words ("Can dogs eat blueberries" /
// "grapes", 华为 / 小米手机怎么截长图). Embedders put such pairs closest of all look-alikes.
bool swapped_one_word(const Coverage& ab, const Coverage& ba) {
  return ab.loose == 1 && ba.loose == 1 && std::min(ab.same, ba.same) >= 2;
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
// bank 2), for the content words both queries hold.
std::vector<std::pair<std::string, int>> stretches(const QueryFeatures& q, const QueryFeatures& other) {
  std::vector<std::pair<std::string, int>> out;
  int stretch = 0;
  for (const auto& w : q.words) {
    if (is_direction_word(w)) {
      ++stretch;
      continue;
    }
    // Only words that name things: "the" before and after "from" says nothing of the direction.
    const bool stop = text::has_cjk(w) ? is_zh_stopword(w) : is_en_stopword(w);
    if (!stop && std::find(other.words.begin(), other.words.end(), w) != other.words.end()) out.emplace_back(w, stretch);
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

// Whether two queries give different numbers, quantities or times. A value only one side gives is a
// difference ("convert 35 Celsius" is not "convert Celsius"), except two kinds a paraphrase adds or
// leaves out without changing the question:
//  - 1 with no unit: "one", "a single", "first", 一 are as often an article, a pronoun ("pay it off
//    with another one") or "for the first time" as a count;
//  - before/after something ("after booking" / "already booked", 打完疫苗 / 疫苗后): the other side
//    says it with a verb or not at all.
// Values both sides give must agree (as multisets): 1 against 2, before against after, are refused.
bool is_soft_number(const std::string& n) { return n == "1" || n.starts_with("@before") || n.starts_with("@after"); }

bool numbers_differ(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  if (a == b) return false;
  std::vector<std::string> only_a, only_b;  // both sorted: multiset differences
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(only_a));
  std::set_difference(b.begin(), b.end(), a.begin(), a.end(), std::back_inserter(only_b));
  if (!only_a.empty() && !only_b.empty()) return true;
  const auto& extra = only_a.empty() ? only_b : only_a;
  const auto& other = only_a.empty() ? a : b;
  const bool other_has_order = std::any_of(other.begin(), other.end(), [](const std::string& n) {
    return n.starts_with("@before") || n.starts_with("@after");
  });
  for (const auto& n : extra) {
    if (!is_soft_number(n)) return true;
    if (n != "1" && other_has_order) return true;  // before X against after Y is decided above
  }
  return false;
}

}  // namespace

Guard check_guards(const QueryFeatures& a, const QueryFeatures& b, const GuardConfig& cfg, double* agreement) {
  const WordNet* wn = WordNet::shared();
  if (cfg.language && text::has_cjk(a.normalized) != text::has_cjk(b.normalized)) return Guard::Language;
  if (cfg.negation && a.negations != b.negations) return Guard::Negation;
  // A name only one side gives narrows the question ("reset my Outlook password" is not "reset my
  // password"); so does a number, but for the soft ones of numbers_differ().
  if (cfg.number && numbers_differ(a.numbers, b.numbers)) return Guard::Number;
  if (cfg.entity && (!unmatched(a.entities, b, false, wn).empty() || !unmatched(b.entities, a, false, wn).empty()))
    return Guard::Entity;
  if (cfg.direction && reversed_direction(a, b)) return Guard::Direction;
  if (cfg.polarity && opposite_words(a, b, wn)) return Guard::Polarity;
  if (cfg.scope && a.scope != b.scope) return Guard::Scope;
  // Each query must say most of what the other asks, in its words or related ones.
  if (cfg.content) {
    const Coverage ab = coverage(a, b, wn), ba = coverage(b, a, wn);
    const bool refused = cfg.wording_trusted
                             ? swapped_one_word(ab, ba)
                             : swapped_words(ab, ba) || std::min(ab.share, ba.share) < cfg.content_min_coverage;
    if (refused) return Guard::Content;
    if (agreement) *agreement = std::min(ab.share, ba.share);
  } else if (agreement) {
    *agreement = 1.0;
  }
  return Guard::None;
}

std::vector<std::pair<std::string, double>> content_matches(const QueryFeatures& a, const QueryFeatures& b) {
  const WordNet* wn = WordNet::shared();
  std::vector<std::pair<std::string, double>> out;
  const Pair pair(a, b);
  for (const auto& w : a.content)
    if (!is_generic_word(w) && w[0] != '#') out.emplace_back(w, match_strength(w, pair, contains(a.entities, w), wn));
  return out;
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
    case Guard::Language: return "language";
  }
  return "none";
}

}  // namespace kuai::cache
