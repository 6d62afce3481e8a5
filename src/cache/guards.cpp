#include "cache/guards.h"

#include "text/script.h"

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

// Whether word `w` of one query is present in the other query `q`: the same content word; for CJK, a
// substring of its text (segmentation may cut "北京烤鸭" differently); for long English words, a typo
// (one edit) of one of its content words — never for entities ("iceland" / "ireland").
bool present_in(const std::string& w, const QueryFeatures& q, bool allow_typo) {
  if (contains(q.content, w)) return true;
  if (text::has_cjk(w)) return q.normalized.find(w) != std::string::npos;
  if (allow_typo && w.size() >= 7 && w[0] != '#') {
    for (const auto& v : q.content)
      if (v.size() >= 7 && one_edit_apart(w, v)) return true;
  }
  return false;
}

int unmatched(const std::vector<std::string>& words, const QueryFeatures& other, bool allow_typo) {
  int n = 0;
  for (const auto& w : words) n += present_in(w, other, allow_typo) ? 0 : 1;
  return n;
}

}  // namespace

Guard check_guards(const QueryFeatures& a, const QueryFeatures& b, const GuardConfig& cfg) {
  if (cfg.negation && a.negations != b.negations) return Guard::Negation;
  if (cfg.number && a.numbers != b.numbers) return Guard::Number;
  if (cfg.entity && (unmatched(a.entities, b, false) > 0 || unmatched(b.entities, a, false) > 0)) return Guard::Entity;
  if (cfg.content && unmatched(a.content, b, true) + unmatched(b.content, a, true) > cfg.content_max_diff) return Guard::Content;
  return Guard::None;
}

std::string_view guard_name(Guard g) {
  switch (g) {
    case Guard::None: return "none";
    case Guard::Negation: return "negation";
    case Guard::Number: return "number";
    case Guard::Entity: return "entity";
    case Guard::Content: return "content";
  }
  return "none";
}

}  // namespace kuai::cache
