// cache::ByteLru: hits confirmed by the caller, bounded by bytes, least recently used out first,
// oversized values not kept, off at 0 bytes, safe from several threads.
#include "cache/byte_lru.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace kuai::cache {
namespace {

struct Value {
  std::string input, output;
};

// The value under `key` when its input is `input`; "" on a miss.
std::string get(ByteLru<Value>& lru, uint64_t key, const std::string& input) {
  std::string out;
  if (!lru.find(key, [&](const Value& v) {
        if (v.input != input) return false;
        out = v.output;
        return true;
      }))
    return "";
  return out;
}

TEST(ByteLruTest, HitOnlyWhenTheCallerConfirmsIt) {
  ByteLru<Value> lru(1000);
  lru.put(7, Value{"abc", "ABC"}, 10);
  EXPECT_EQ(get(lru, 7, "abc"), "ABC");
  EXPECT_EQ(get(lru, 7, "abd"), "") << "same key, other input (a collision): a miss";
  EXPECT_EQ(get(lru, 8, "abc"), "");
  lru.put(7, Value{"abd", "ABD"}, 30);  // replaces, and its bytes with it
  EXPECT_EQ(get(lru, 7, "abd"), "ABD");
  EXPECT_EQ(get(lru, 7, "abc"), "");
  EXPECT_EQ(lru.entries(), 1u);
  EXPECT_EQ(lru.bytes(), 30u);
}

TEST(ByteLruTest, BoundedByBytesLeastRecentlyUsedOutFirst) {
  ByteLru<Value> lru(100);
  for (uint64_t k = 1; k <= 4; ++k) lru.put(k, Value{std::to_string(k), "v"}, 25);
  EXPECT_EQ(lru.bytes(), 100u);
  EXPECT_EQ(get(lru, 1, "1"), "v");  // 1 is now the most recently used: 2 is the oldest
  lru.put(5, Value{"5", "v"}, 25);
  EXPECT_EQ(get(lru, 2, "2"), "") << "the least recently used went";
  for (uint64_t k : {1, 3, 4, 5}) EXPECT_EQ(get(lru, k, std::to_string(k)), "v") << k;
  EXPECT_EQ(lru.bytes(), 100u);
  EXPECT_EQ(lru.entries(), 4u);
  // A find the caller does not confirm does not refresh: 1 (confirmed before 3, 4 and 5 were) is
  // still the oldest, so it is the one that goes.
  EXPECT_EQ(get(lru, 1, "not 1"), "");
  lru.put(6, Value{"6", "v"}, 25);
  EXPECT_EQ(get(lru, 1, "1"), "");
  for (uint64_t k : {3, 4, 5, 6}) EXPECT_EQ(get(lru, k, std::to_string(k)), "v") << k;
  EXPECT_LE(lru.bytes(), 100u);
}

TEST(ByteLruTest, OversizedValuesAreNotKeptAndZeroBytesIsOff) {
  ByteLru<Value> lru(100);
  lru.put(1, Value{"small", "v"}, 25);
  lru.put(2, Value{"huge", "v"}, 26);  // over a quarter: would flush the rest, so not kept
  EXPECT_EQ(get(lru, 2, "huge"), "");
  EXPECT_EQ(get(lru, 1, "small"), "v");
  EXPECT_EQ(lru.entries(), 1u);
  ByteLru<Value> off(0);
  EXPECT_FALSE(off.enabled());
  off.put(1, Value{"a", "b"}, 0);
  EXPECT_EQ(get(off, 1, "a"), "");
  EXPECT_EQ(off.entries(), 0u);
}

TEST(ByteLruTest, SeveralThreadsKeepTheBound) {
  ByteLru<Value> lru(4096);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&lru, t] {
      for (uint64_t i = 0; i < 2000; ++i) {
        const uint64_t k = (i * 7 + static_cast<uint64_t>(t)) % 300;
        const std::string in = std::to_string(k);
        if (get(lru, k, in).empty()) lru.put(k, Value{in, "v" + in}, 16 + k % 64);
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_LE(lru.bytes(), 4096u);
  EXPECT_GT(lru.entries(), 0u);
  for (uint64_t k = 0; k < 300; ++k) {
    const std::string v = get(lru, k, std::to_string(k));
    if (!v.empty()) {
      EXPECT_EQ(v, "v" + std::to_string(k));
    }
  }
}

}  // namespace
}  // namespace kuai::cache
