#include "engine/threads/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

namespace kuai::engine {
namespace {

TEST(ThreadPool, ParallelForCoversEveryIndexOnce) {
  for (int nth : {1, 2, 4}) {
    ThreadPool pool(nth);
    for (int rep = 0; rep < 200; ++rep) {
      std::vector<std::atomic<int>> hits(1000);
      pool.parallel_for(1000, 7, [&](int64_t b, int64_t e, int ith) {
        ASSERT_GE(ith, 0);
        ASSERT_LT(ith, nth);
        for (int64_t i = b; i < e; ++i) hits[size_t(i)].fetch_add(1);
      });
      for (auto& h : hits) ASSERT_EQ(h.load(), 1);
    }
  }
}

// Chunks come from per-thread shares: each is still a whole grain-aligned chunk (kernels rely on
// tiles starting at multiples of the grain), whatever the split of chunks between threads.
TEST(ThreadPool, ChunksAreGrainAlignedAcrossShares) {
  for (int nth : {2, 3, 5}) {
    ThreadPool pool(nth);
    for (int64_t n : {1, 9, 10, 11, 97, 1024}) {
      for (int64_t grain : {1, 2, 10, 16}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::atomic<bool> misaligned{false};
        pool.parallel_for(n, grain, [&](int64_t b, int64_t e, int) {
          if (b % grain != 0 || e <= b || e - b > grain || (e - b < grain && e != n)) misaligned = true;
          for (int64_t i = b; i < e; ++i) hits[size_t(i)].fetch_add(1);
        });
        EXPECT_FALSE(misaligned.load()) << "n " << n << " grain " << grain << " threads " << nth;
        for (auto& h : hits) ASSERT_EQ(h.load(), 1) << "n " << n << " grain " << grain << " threads " << nth;
      }
    }
  }
}

TEST(ThreadPool, ThreadIndexIsExclusiveWhileRunning) {
  ThreadPool pool(3);
  std::vector<std::atomic<int>> inside(3);
  std::atomic<bool> clash{false};
  for (int rep = 0; rep < 100; ++rep) {
    pool.parallel_for(64, 1, [&](int64_t, int64_t, int ith) {
      if (inside[size_t(ith)].fetch_add(1) != 0) clash = true;
      volatile int spin = 0;
      for (int i = 0; i < 1000; ++i) spin = spin + i;
      inside[size_t(ith)].fetch_sub(1);
    });
  }
  EXPECT_FALSE(clash.load());
}

TEST(ThreadPool, EmptyAndSmallRangesRunInline) {
  ThreadPool pool(2);
  int calls = 0;
  pool.parallel_for(0, 1, [&](int64_t, int64_t, int) { ++calls; });
  EXPECT_EQ(calls, 0);
  pool.parallel_for(5, 10, [&](int64_t b, int64_t e, int ith) {
    ++calls;
    EXPECT_EQ(b, 0);
    EXPECT_EQ(e, 5);
    EXPECT_EQ(ith, 0);
  });
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace kuai::engine
