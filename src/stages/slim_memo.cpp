#include "stages/slim_memo.h"

#include <functional>

namespace kuai::stages {

uint64_t SlimMemo::key(std::string_view text, uint8_t flags, std::string_view model) {
  uint64_t h = std::hash<std::string_view>{}(text);
  uint64_t m = std::hash<std::string_view>{}(model);
  h ^= (m + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2));
  return h * 0x100000001B3ull + flags;
}

bool SlimMemo::find(uint64_t key, std::string_view text, Value& out) {
  return lru_.find(key, [&](const Entry& e) {
    if (e.text != text) return false;
    out = e.value;
    return true;
  });
}

void SlimMemo::put(uint64_t key, std::string_view text, Value value) {
  if (!enabled()) return;
  const size_t bytes = text.size() + value.result.text.size() + value.result.removed.size() * sizeof(RemovedSpan) +
                       sizeof(Entry) + sizeof(key) + 32;
  lru_.put(key, Entry{std::string(text), std::move(value)}, bytes);
}

}  // namespace kuai::stages
