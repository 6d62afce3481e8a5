#include "text/pattern_set.h"

#include "text/utf8.h"

#include <algorithm>

namespace kuai::text {
namespace {

size_t slot_of(char32_t cp, size_t slots) { return static_cast<size_t>((cp * 0x9E3779B1u) >> 8) & (slots - 1); }

// Whether `p` is at s[i] (the caller checked the first byte; patterns are a few bytes: no memcmp call).
bool at(std::string_view s, size_t i, const std::string& p) {
  if (s.size() - i < p.size()) return false;
  for (size_t k = 1; k < p.size(); ++k)
    if (s[i + k] != p[k]) return false;
  return true;
}

}  // namespace

PatternSet::PatternSet(std::vector<std::string> patterns) : patterns_(std::move(patterns)) {
  std::vector<std::pair<char32_t, uint32_t>> others;
  for (uint32_t k = 0; k < patterns_.size(); ++k) {
    const std::string& p = patterns_[k];
    if (p.empty()) continue;
    const auto c = static_cast<unsigned char>(p[0]);
    lead_[c] = true;
    if (p.size() == 1) single_[c] = true;
    else {
      const size_t slot = pair_slot(c, static_cast<unsigned char>(p[1]));
      pair_bits_[slot >> 6] |= uint64_t{1} << (slot & 63);
    }
    if (c < 0x80) {
      by_ascii_[c].push_back(k);
      continue;
    }
    size_t len;
    const char32_t cp = utf8_decode(p, 0, len);
    others.emplace_back(cp, k);
    first_bits_[(cp >> 6) & 15] |= uint64_t{1} << (cp & 63);
  }
  if (others.empty()) return;
  size_t slots = 16;
  while (slots < others.size() * 2) slots <<= 1;
  by_first_.assign(slots, {});
  for (auto [cp, k] : others) {  // k ascending: each slot's list stays in the patterns' order
    size_t i = slot_of(cp, slots);
    while (by_first_[i].first != 0 && by_first_[i].first != cp) i = (i + 1) & (slots - 1);
    by_first_[i].first = cp;
    by_first_[i].second.push_back(k);
  }
}

const std::vector<uint32_t>* PatternSet::starting_with(char32_t cp) const {
  if (by_first_.empty()) return nullptr;
  for (size_t i = slot_of(cp, by_first_.size());; i = (i + 1) & (by_first_.size() - 1)) {
    if (by_first_[i].first == cp) return &by_first_[i].second;
    if (by_first_[i].first == 0) return nullptr;
  }
}

template <class F>
void PatternSet::scan(std::string_view s, F&& on_match) const {
  if (patterns_.empty()) return;
  auto try_at = [&](size_t i, const std::vector<uint32_t>& ks) {
    for (uint32_t k : ks)
      if (at(s, i, patterns_[k]) && !on_match(k, i)) return false;
    return true;
  };
  const auto* u = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    // Bytes no pattern starts with, one table load each (continuation bytes are never first bytes).
    while (i < n && !lead_[u[i]]) ++i;
    if (i == n) return;
    const unsigned char c = u[i];
    if (!single_[c]) {  // no pattern starts with these two bytes: the next byte
      const size_t slot = i + 1 < n ? pair_slot(c, u[i + 1]) : 0;
      if (i + 1 >= n || !((pair_bits_[slot >> 6] >> (slot & 63)) & 1)) {
        ++i;
        continue;
      }
    }
    if (c < 0x80) {
      if (!try_at(i, by_ascii_[c])) return;
      ++i;
      continue;
    }
    size_t len;
    const char32_t cp = utf8_decode(s, i, len);
    if ((first_bits_[(cp >> 6) & 15] >> (cp & 63)) & 1) {
      const std::vector<uint32_t>* ks = starting_with(cp);
      if (ks && !try_at(i, *ks)) return;
    }
    i += len;
  }
}

void PatternSet::present(std::string_view s, std::vector<uint32_t>& out) const {
  out.clear();
  scan(s, [&](uint32_t k, size_t) {
    out.push_back(k);
    return true;
  });
  if (out.size() > 1) {
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
  }
}

size_t PatternSet::count_present(std::string_view s, size_t limit) const {
  if (limit == 0) return 0;
  uint32_t small[8];  // the usual limit: no allocation
  std::vector<uint32_t> large;
  size_t n = 0;
  scan(s, [&](uint32_t k, size_t) {
    uint32_t* seen = limit <= 8 ? small : large.data();
    if (std::find(seen, seen + n, k) == seen + n) {
      if (limit <= 8) small[n] = k;
      else large.push_back(k);
      ++n;
    }
    return n < limit;
  });
  return n;
}

void PatternSet::matches(std::string_view s, std::vector<std::pair<uint32_t, uint32_t>>& out) const {
  out.clear();
  scan(s, [&](uint32_t k, size_t i) {
    out.emplace_back(k, static_cast<uint32_t>(i));
    return true;
  });
}

}  // namespace kuai::text
