#include "cache/embedder.h"
#include "cache/vector_index.h"

#include <gtest/gtest.h>

#include <random>

namespace kuai::cache {
namespace {

std::vector<float> random_unit(std::mt19937& rng, size_t dim) {
  std::normal_distribution<float> n(0, 1);
  std::vector<float> v(dim);
  for (auto& x : v) x = n(rng);
  l2_normalize(v);
  return v;
}

TEST(VectorIndexTest, FindsItselfAndGrows) {
  std::mt19937 rng(1);
  IndexParams p;
  p.dim = 32;
  p.initial_capacity = 16;
  VectorIndex index(p);
  std::vector<std::vector<float>> vs;
  for (uint64_t i = 0; i < 200; ++i) {
    vs.push_back(random_unit(rng, 32));
    index.add(1000 + i, vs.back().data());
  }
  EXPECT_EQ(index.size(), 200u);
  EXPECT_GE(index.capacity(), 200u);
  int found = 0;
  for (uint64_t i = 0; i < 200; ++i) {
    auto r = index.search(vs[i].data(), 1);
    ASSERT_EQ(r.size(), 1u);
    if (r[0].first == 1000 + i) {
      ++found;
      EXPECT_NEAR(r[0].second, 1.0, 1e-4);
    }
  }
  EXPECT_GE(found, 198);  // approximate search, but a stored vector is its own nearest neighbour
  EXPECT_GT(index.memory_bytes(), 200u * 32 * sizeof(float));
}

TEST(VectorIndexTest, RemovedLabelsAreNotReturnedAndSlotsAreRebuilt) {
  std::mt19937 rng(2);
  IndexParams p;
  p.dim = 16;
  p.initial_capacity = 16;
  VectorIndex index(p);
  // Churn far beyond the capacity: remove as we add, so rebuilds (not growth) make room.
  for (uint64_t i = 0; i < 500; ++i) {
    auto v = random_unit(rng, 16);
    index.add(i, v.data());
    if (i >= 8) index.remove(i - 8);
  }
  EXPECT_EQ(index.size(), 8u);
  EXPECT_LE(index.capacity(), 64u);
  auto q = random_unit(rng, 16);
  for (const auto& [label, sim] : index.search(q.data(), 8)) {
    EXPECT_GE(label, 492u);
    EXPECT_LE(sim, 1.0001f);
  }
  index.remove(12345);  // unknown: no-op
  VectorIndex empty(p);
  EXPECT_TRUE(empty.search(q.data(), 3).empty());
}

}  // namespace
}  // namespace kuai::cache
