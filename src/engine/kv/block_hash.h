// Chained hash of a full KV block's tokens: hash(block i) = mix(hash(block i-1), tokens of block i).
// Two sequences whose first i blocks hold the same tokens get the same hash for block i, so the hash
// names a whole prefix, not just one block. The chain starts from kRootHash.
#pragma once

#include <cstdint>
#include <span>

namespace kuai::engine::kv {

constexpr uint64_t kRootHash = 0x6b7561692d6b7621ull;  // "kuai-kv!"

inline uint64_t block_hash_mix(uint64_t h) {  // splitmix64 finaliser
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

inline uint64_t block_hash(uint64_t parent, std::span<const int32_t> tokens) {
  uint64_t h = block_hash_mix(parent ^ 0x9e3779b97f4a7c15ull);
  for (int32_t t : tokens) h = block_hash_mix(h ^ (uint64_t(uint32_t(t)) + 0x9e3779b97f4a7c15ull));
  return h;
}

}  // namespace kuai::engine::kv
