#include "text/pattern_set.h"

#include "text/utf8.h"

#include <algorithm>

namespace kuai::text {

PatternSet::PatternSet(std::vector<std::string> patterns) : patterns_(std::move(patterns)) {
  for (uint32_t k = 0; k < patterns_.size(); ++k) {
    const std::string& p = patterns_[k];
    if (p.empty()) continue;
    size_t len;
    const char32_t cp = utf8_decode(p, 0, len);
    by_first_[cp].push_back(k);
    first_bits_[(cp >> 6) & 15] |= uint64_t{1} << (cp & 63);
  }
}

template <class F>
void PatternSet::scan(std::string_view s, F&& on_match) const {
  if (by_first_.empty()) return;
  for (size_t i = 0; i < s.size();) {
    size_t len;
    const char32_t cp = utf8_decode(s, i, len);
    if ((first_bits_[(cp >> 6) & 15] >> (cp & 63)) & 1) {
      auto it = by_first_.find(cp);
      if (it != by_first_.end())
        for (uint32_t k : it->second) {
          const std::string& p = patterns_[k];
          if (s.size() - i >= p.size() && s.compare(i, p.size(), p) == 0 && !on_match(k)) return;
        }
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
  std::vector<uint32_t> seen;
  scan(s, [&](uint32_t k) {
    if (std::find(seen.begin(), seen.end(), k) == seen.end()) seen.push_back(k);
    return seen.size() < limit;
  });
  return seen.size();
}

}  // namespace kuai::text
