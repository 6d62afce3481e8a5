// The ledger's analysis of one message on its own (summary_ledger.h describes the units and marks):
// its units, their fact marks, hashed terms and numbers and token counts, memoised per message text;
// and the hashing both it and the request-level choice (build_ledger) use.
#pragma once

#include "api/chat.h"
#include "cache/byte_lru.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kuai::stages {

// Sorted, unique terms of a text, each a 64-bit hash (a Latin word: FNV-1a of its lowercase bytes; a
// CJK bigram: its two code points mixed), the lowest bit 1 for a CJK bigram and 0 for a Latin word:
// Latin words of 3+ letters (stop words out) and CJK bigrams.
std::vector<uint64_t> ledger_terms(std::string_view s);

// A set of 64-bit hashes, open addressing in one array (no allocation per element; the per-request
// sets of the ledger hold a few hundred).
class HashSet64 {
 public:
  explicit HashSet64(size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2) cap <<= 1;
    slots_.assign(cap, kEmpty);
  }
  // True when x was not in the set.
  bool insert(uint64_t x) {
    if (x == kEmpty) {
      const bool fresh = !has_empty_;
      has_empty_ = true;
      return fresh;
    }
    if ((size_ + 1) * 2 > slots_.size()) grow();
    for (size_t i = slot(x);; i = (i + 1) & (slots_.size() - 1)) {
      if (slots_[i] == x) return false;
      if (slots_[i] == kEmpty) {
        slots_[i] = x;
        ++size_;
        return true;
      }
    }
  }
  bool contains(uint64_t x) const {
    if (x == kEmpty) return has_empty_;
    for (size_t i = slot(x);; i = (i + 1) & (slots_.size() - 1)) {
      if (slots_[i] == x) return true;
      if (slots_[i] == kEmpty) return false;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  size_t slot(uint64_t x) const { return static_cast<size_t>((x * 0x9E3779B97F4A7C15ull) >> 32) & (slots_.size() - 1); }
  void grow() {
    std::vector<uint64_t> old(slots_.size() * 2, kEmpty);
    old.swap(slots_);
    size_ = 0;
    for (uint64_t x : old)
      if (x != kEmpty) insert(x);
  }
  std::vector<uint64_t> slots_;
  size_t size_ = 0;
  bool has_empty_ = false;
};

// The fact marks an assistant unit needs to be carried (one constraint word alone is a comment).
constexpr double kAssistantFactMarks = 2;

// What the ledger learns from one message on its own: its units (bytes in the message), their fact
// marks, terms, numbers and tokens, and (a user message) the terms and numbers of the whole text. The
// same for every request that sends the message again, so LedgerMemo keeps it.
struct LedgerMessage {
  struct Unit {
    uint32_t begin = 0, end = 0;    // bytes in the message
    uint32_t sentence = 0;          // units of one sentence share it (counted in the message)
    bool list = false;              // a list of values (parallel clauses with numbers, or 3+ items between 、)
    bool asks = false;              // ends with ? / ？
    double marks = 0;               // fact marks (0: none)
    // Of an assistant unit that is never carried (marks < kAssistantFactMarks, or it asks) only the
    // bytes, marks and hash are filled: no tokens, terms or numbers.
    int64_t tokens = 0;             // by the window's counter
    uint64_t hash = 0;              // of its bytes
    // In `pool`: its terms (Latin words and CJK bigrams) and numbers (digit runs), hashed, sorted, unique.
    uint32_t terms_at = 0, terms_n = 0, numbers_at = 0, numbers_n = 0;
  };
  bool user = false;
  std::vector<Unit> units;
  std::vector<uint64_t> pool;  // the units' terms and numbers (one allocation per message)
  std::span<const uint64_t> terms_of(const Unit& u) const { return {pool.data() + u.terms_at, u.terms_n}; }
  std::span<const uint64_t> numbers_of(const Unit& u) const { return {pool.data() + u.numbers_at, u.numbers_n}; }
  uint32_t sentences = 0;
  std::vector<uint64_t> terms, numbers;  // of the whole text (user messages only)
  int64_t tokens = 0;                    // of the whole text (user messages only)
  size_t bytes() const;
};

LedgerMessage analyse_ledger_message(std::string_view content, bool user,
                                     const std::function<int64_t(std::string_view)>& count_tokens);

// Analyses of messages by (text, role, model), least recently used out past `max_bytes` (0: off).
// A chat client sends the whole conversation every turn: only its new messages are analysed.
// Thread-safety: any thread (cache::ByteLru: one mutex, never held while analysing).
class LedgerMemo {
 public:
  explicit LedgerMemo(size_t max_bytes) : lru_(max_bytes) {}
  std::shared_ptr<const LedgerMessage> get(const api::Message& m, std::string_view model,
                                           const std::function<int64_t(std::string_view)>& count_tokens);
  size_t entries() const { return lru_.entries(); }

 private:
  struct Entry {
    std::string content, model;  // to confirm a hit (with value->user)
    std::shared_ptr<const LedgerMessage> value;
  };
  cache::ByteLru<Entry> lru_;
};

}  // namespace kuai::stages
