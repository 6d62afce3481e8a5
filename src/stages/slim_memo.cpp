#include "stages/slim_memo.h"

#include <functional>

namespace kuai::stages {

uint64_t SlimMemo::key(std::string_view text, uint8_t flags, std::string_view model) {
  uint64_t h = std::hash<std::string_view>{}(text);
  uint64_t m = std::hash<std::string_view>{}(model);
  h ^= (m + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2));
  return h * 0x100000001B3ull + flags;
}

size_t SlimMemo::Node::bytes() const {
  return text.size() + value.result.text.size() + value.result.removed.size() * sizeof(RemovedSpan) + sizeof(Node) + 32;
}

bool SlimMemo::find(uint64_t key, std::string_view text, Value& out) {
  if (!enabled()) return false;
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end() || it->second->text != text) return false;
  lru_.splice(lru_.begin(), lru_, it->second);
  out = it->second->value;
  return true;
}

void SlimMemo::put(uint64_t key, std::string_view text, Value value) {
  if (!enabled()) return;
  Node node{key, std::string(text), std::move(value)};
  const size_t b = node.bytes();
  if (b > max_bytes_ / 4) return;  // one huge message does not flush the memo
  std::lock_guard lock(mu_);
  if (auto it = index_.find(key); it != index_.end()) {
    bytes_ -= it->second->bytes();
    lru_.erase(it->second);
    index_.erase(it);
  }
  lru_.push_front(std::move(node));
  index_.emplace(key, lru_.begin());
  bytes_ += b;
  evict_locked();
}

void SlimMemo::evict_locked() {
  while (bytes_ > max_bytes_ && !lru_.empty()) {
    bytes_ -= lru_.back().bytes();
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
}

size_t SlimMemo::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

size_t SlimMemo::entries() const {
  std::lock_guard lock(mu_);
  return lru_.size();
}

}  // namespace kuai::stages
