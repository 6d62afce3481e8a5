#include "pipeline/token_memo.h"

#include "text/estimate.h"

#include <cstring>

namespace kuai::pipeline {
namespace {

// A 64-bit hash of s, eight bytes a step (std::hash reads a byte at a time in places and cost as much
// as the counts it saved).
uint64_t key_of(std::string_view s, uint64_t seed) {
  uint64_t h = seed ^ (s.size() * 0x9E3779B97F4A7C15ull);
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = (h ^ w) * 0xff51afd7ed558ccdull;
    h ^= h >> 29;
  }
  uint64_t tail = 0;
  std::memcpy(&tail, s.data() + i, s.size() - i);
  h = (h ^ tail) * 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 32);
}

}  // namespace

int64_t TokenMemo::count(const TokenCounter* counter, std::string_view model, std::string_view text) {
  const auto take = [&] { return counter ? counter->count(model, text) : text::estimate_tokens(text); };
  if (text.size() < 16) return take();  // (cheaper to count than to hash)
  uint64_t key = key_of(text, key_of(model, 0));
  if (key == 0) key = 1;
  if ((used_ + 1) * 2 > slots_.size()) {  // grow (and start) at half full
    std::vector<Slot> old(slots_.empty() ? 64 : slots_.size() * 2);
    old.swap(slots_);
    for (const Slot& s : old)
      if (s.key) {
        size_t i = (s.key * 0x9E3779B97F4A7C15ull) >> 32 & (slots_.size() - 1);
        while (slots_[i].key) i = (i + 1) & (slots_.size() - 1);
        slots_[i] = s;
      }
  }
  size_t i = (key * 0x9E3779B97F4A7C15ull) >> 32 & (slots_.size() - 1);
  for (; slots_[i].key; i = (i + 1) & (slots_.size() - 1))
    if (slots_[i].key == key) return slots_[i].tokens;
  slots_[i] = {key, take()};
  ++used_;
  return slots_[i].tokens;
}

}  // namespace kuai::pipeline
