#include "engine/threads/thread_pool.h"

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define KUAI_PAUSE() _mm_pause()
#else
#define KUAI_PAUSE() ((void)0)
#endif

namespace kuai::engine {
namespace {
constexpr int kSpinIterations = 4000;  // some tens of microseconds before sleeping
}

ThreadPool::ThreadPool(int n_threads)
    : n_threads_(std::max(1, n_threads)), shares_(std::make_unique<Share[]>(size_t(n_threads_))) {
  threads_.reserve(size_t(n_threads_ - 1));
  for (int i = 1; i < n_threads_; ++i) threads_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  generation_.fetch_add(1);
  generation_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::worker(int ith) {
  uint32_t seen = 0;
  for (;;) {
    uint32_t gen = generation_.load();
    for (int spin = 0; gen == seen && spin < kSpinIterations; ++spin) {
      KUAI_PAUSE();
      gen = generation_.load();
    }
    while (gen == seen) {
      generation_.wait(seen);
      gen = generation_.load();
    }
    seen = gen;
    if (stop_.load()) return;
    // Join only while the caller keeps the job open; the caller waits for in_job_ to drop to 0 after
    // closing, so job_ is valid for every worker that saw it open (all seq_cst).
    in_job_.fetch_add(1);
    if (open_.load() == gen) (*job_)(ith);
    if (in_job_.fetch_sub(1) == 1) in_job_.notify_all();
  }
}

void ThreadPool::run(const std::function<void(int)>& fn) {
  job_ = &fn;
  const uint32_t gen = generation_.load() + 1;
  open_.store(gen);
  generation_.store(gen);
  generation_.notify_all();
  fn(0);
  open_.store(0);
  int busy = in_job_.load();
  for (int spin = 0; busy != 0 && spin < kSpinIterations; ++spin) {
    KUAI_PAUSE();
    busy = in_job_.load();
  }
  while (busy != 0) {
    in_job_.wait(busy);
    busy = in_job_.load();
  }
  job_ = nullptr;
}

void ThreadPool::parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t, int)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  if (n_threads_ == 1 || n <= grain) {
    fn(0, n, 0);
    return;
  }
  std::lock_guard lock(run_mutex_);
  // Shares are whole chunks, so a chunk never straddles two shares.
  const int64_t chunks = (n + grain - 1) / grain;
  for (int t = 0; t < n_threads_; ++t) {
    shares_[size_t(t)].next.store(chunks * t / n_threads_ * grain, std::memory_order_relaxed);
    shares_[size_t(t)].end = std::min(n, chunks * (t + 1) / n_threads_ * grain);
  }
  run([&](int ith) {
    for (int k = 0; k < n_threads_; ++k) {  // own share first, then the others'
      Share& s = shares_[size_t((ith + k) % n_threads_)];
      for (;;) {
        const int64_t begin = s.next.fetch_add(grain, std::memory_order_relaxed);
        if (begin >= s.end) break;
        fn(begin, std::min(s.end, begin + grain), ith);
      }
    }
  });
}

}  // namespace kuai::engine
