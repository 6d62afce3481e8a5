// Per-message memo of the `slim` stage. A chat client sends the whole conversation again every turn,
// so every message but the newest was slimmed before: its result is looked up instead of computed.
// Key: a 64-bit hash of the message text, the options that depend on its place in the request
// (courtesy on/off, may become empty) and the model (tokens saved are counted with its tokenizer); an
// entry also holds the text itself, so a hash collision is a miss, never a wrong result. Bounded by
// `max_bytes` (texts + results), least recently used first out; max_bytes 0: off (every lookup misses).
// The LRU is cache::ByteLru. Thread-safety: any thread; one mutex, held for a lookup or an insert
// (never while slimming).
#pragma once

#include "cache/byte_lru.h"
#include "stages/slim_rules.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace kuai::stages {

class SlimMemo {
 public:
  struct Value {
    SlimResult result;         // result.text is empty when nothing changed (the text is the input)
    int64_t tokens_saved = 0;  // by the model's counter
  };

  explicit SlimMemo(size_t max_bytes) : lru_(max_bytes) {}
  bool enabled() const { return lru_.enabled(); }

  static uint64_t key(std::string_view text, uint8_t flags, std::string_view model);
  // Copies the value for (key, text) into `out`; false on a miss.
  bool find(uint64_t key, std::string_view text, Value& out);
  void put(uint64_t key, std::string_view text, Value value);
  size_t bytes() const { return lru_.bytes(); }
  size_t entries() const { return lru_.entries(); }

 private:
  struct Entry {
    std::string text;  // the message, to confirm a hit
    Value value;
  };
  cache::ByteLru<Entry> lru_;
};

}  // namespace kuai::stages
