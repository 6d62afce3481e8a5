#include "text/pattern_set.h"

#include "text/utf8.h"

#include <algorithm>

namespace kuai::text {

PatternSet::PatternSet(std::vector<std::string> patterns) : patterns_(std::move(patterns)) {
  for (uint32_t k = 0; k < patterns_.size(); ++k) {
    const std::string& p = patterns_[k];
    if (p.empty()) continue;
    const auto c = static_cast<unsigned char>(p[0]);
    if (c < 0x80) {
      by_ascii_[c].push_back(k);
      continue;
    }
    size_t len;
    const char32_t cp = utf8_decode(p, 0, len);
    by_first_[cp].push_back(k);
    lead_[c] = true;
    first_bits_[(cp >> 6) & 15] |= uint64_t{1} << (cp & 63);
  }
}

template <class F>
void PatternSet::scan(std::string_view s, F&& on_match) const {
  if (patterns_.empty()) return;
  auto try_at = [&](size_t i, const std::vector<uint32_t>& ks) {
    for (uint32_t k : ks) {
      const std::string& p = patterns_[k];
      if (s.size() - i >= p.size() && s.compare(i, p.size(), p) == 0 && !on_match(k)) return false;
    }
    return true;
  };
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (!by_ascii_[c].empty() && !try_at(i, by_ascii_[c])) return;
      ++i;
      continue;
    }
    if (!lead_[c]) {  // no pattern starts with this byte; continuation bytes are never lead bytes
      ++i;
      continue;
    }
    size_t len;
    const char32_t cp = utf8_decode(s, i, len);
    if ((first_bits_[(cp >> 6) & 15] >> (cp & 63)) & 1) {
      auto it = by_first_.find(cp);
      if (it != by_first_.end() && !try_at(i, it->second)) return;
    }
    i += len;
  }
}

void PatternSet::present(std::string_view s, std::vector<uint32_t>& out) const {
  out.clear();
  scan(s, [&](uint32_t k) {
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
  scan(s, [&](uint32_t k) {
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

}  // namespace kuai::text
