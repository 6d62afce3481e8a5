// Token counts already taken in one request. The input stages count the same text more than once
// (slim its result, the summary and the window each message in their plans, the ledger a user turn),
// and a count is a pass over the text, so the request keeps what it counted: keyed by model and a
// 64-bit hash of the text (its length in the seed). One request's, so one thread at a time.
#pragma once

#include "pipeline/services.h"

#include <cstdint>
#include <string_view>
#include <vector>

namespace kuai::pipeline {

class TokenMemo {
 public:
  // The count of `text` for `model`: remembered, or taken by `counter` (null: the gateway's estimate,
  // text::estimate_tokens) and remembered.
  int64_t count(const TokenCounter* counter, std::string_view model, std::string_view text);

 private:
  struct Slot {
    uint64_t key = 0;  // 0: empty
    int64_t tokens = 0;
  };
  std::vector<Slot> slots_;
  size_t used_ = 0;
};

// A counter that counts through a request's memo (what plan_window and the ledger take).
class MemoTokenCounter final : public TokenCounter {
 public:
  MemoTokenCounter(const TokenCounter& counter, TokenMemo& memo) : counter_(counter), memo_(memo) {}
  int64_t count(std::string_view model, std::string_view text) const override {
    return memo_.count(&counter_, model, text);
  }

 private:
  const TokenCounter& counter_;
  TokenMemo& memo_;
};

}  // namespace kuai::pipeline
