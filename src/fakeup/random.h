// The fake upstream's seeded randomness: splitmix64 steps and the seeded unit vectors its
// /v1/embeddings returns (for any text, and as the directions of --embedding-pairs). Pure; any thread.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace kuai::fakeup {

// The next value of a splitmix64 sequence whose state is `state`.
inline uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// `dim` values uniform in [-1, 1) from the sequence seeded by `state`, scaled to unit length.
inline std::vector<double> random_unit_vector(uint64_t state, int dim) {
  std::vector<double> v(static_cast<size_t>(dim));
  double norm = 0;
  for (auto& x : v) {
    x = static_cast<double>(splitmix64(state) >> 11) * (2.0 / 9007199254740992.0) - 1.0;
    norm += x * x;
  }
  norm = std::sqrt(norm);
  for (auto& x : v) x /= norm;
  return v;
}

}  // namespace kuai::fakeup
