// A map from a 64-bit key to a value, bounded by bytes, least recently used out first: the memo of
// the `slim` stage (SlimMemo) and of the summarize ledger (LedgerMemo) are this with their own value.
// The key is usually a hash of what the value was computed from; the value keeps that input too and
// find's `hit` checks it, so a hash collision is a miss, never a wrong value.
// Bytes are what the caller counts for a value when it puts it (texts, results, a fixed overhead);
// a value over a quarter of `max_bytes` is not kept (one huge value does not flush the rest), and
// max_bytes 0 turns the LRU off (every find misses, every put is dropped).
// Thread-safety: any thread; one mutex, held for one find or one put (never while the caller computes
// a value, so two threads may compute the same value; the later put replaces the earlier).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace kuai::cache {

template <class V>
class ByteLru {
 public:
  explicit ByteLru(size_t max_bytes) : max_bytes_(max_bytes) {}
  ByteLru(const ByteLru&) = delete;
  ByteLru& operator=(const ByteLru&) = delete;

  bool enabled() const { return max_bytes_ > 0; }
  size_t max_bytes() const { return max_bytes_; }

  // When the value under `key` satisfies `hit(const V&)` (which may copy out what it needs; it runs
  // under the lock, so it must be quick), makes it the most recently used and returns true.
  template <class Hit>
  bool find(uint64_t key, Hit&& hit) {
    if (!enabled()) return false;
    std::lock_guard lock(mu_);
    auto it = index_.find(key);
    if (it == index_.end() || !hit(std::as_const(it->second->value))) return false;
    lru_.splice(lru_.begin(), lru_, it->second);
    return true;
  }

  // Keeps `value` under `key` (replacing what was there), counted as `bytes`; then drops the least
  // recently used values until the total is within max_bytes.
  void put(uint64_t key, V value, size_t bytes) {
    if (!enabled() || bytes > max_bytes_ / 4) return;
    std::lock_guard lock(mu_);
    if (auto it = index_.find(key); it != index_.end()) {
      bytes_ -= it->second->bytes;
      lru_.erase(it->second);
      index_.erase(it);
    }
    lru_.push_front(Node{key, bytes, std::move(value)});
    index_.emplace(key, lru_.begin());
    bytes_ += bytes;
    while (bytes_ > max_bytes_ && !lru_.empty()) {
      bytes_ -= lru_.back().bytes;
      index_.erase(lru_.back().key);
      lru_.pop_back();
    }
  }

  size_t bytes() const {
    std::lock_guard lock(mu_);
    return bytes_;
  }
  size_t entries() const {
    std::lock_guard lock(mu_);
    return lru_.size();
  }

 private:
  struct Node {
    uint64_t key;
    size_t bytes;
    V value;
  };
  const size_t max_bytes_;
  mutable std::mutex mu_;
  std::list<Node> lru_;  // most recently used first
  std::unordered_map<uint64_t, typename std::list<Node>::iterator> index_;
  size_t bytes_ = 0;
};

}  // namespace kuai::cache
