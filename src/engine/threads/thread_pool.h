// A fixed pool of compute threads for the engine (created once, reused for every matmul; no per-call
// thread creation). Work is handed out dynamically: `parallel_for` gives each thread a contiguous share
// of the range, which it walks in chunks claimed from its share's atomic cursor; a thread whose share
// is done claims chunks from the others' shares, and the caller works too. Contiguous shares matter
// for memory-bound work (decode's matrix-vector products): two threads reading interleaved 35 KB
// tiles of one weight got half the bandwidth of two threads each streaming its own half (22 vs 44
// GB/s measured here), since each core's prefetcher keeps running into the other's tiles. A worker
// that the OS has not yet scheduled when the caller has finished simply does not join (it never blocks
// the caller; its share is taken by the others), which matters on a machine shared with other
// processes. Between jobs the workers spin briefly, then sleep on a futex (std::atomic::wait), so
// decode's many short parallel sections cost microseconds each.
// Threads: parallel_for may be called from one thread at a time (calls from several are serialised).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace kuai::engine {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);  // n_threads >= 1, the caller included
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Splits [0, n) into chunks of `grain` and hands them out dynamically (contiguous share per thread
  // first, then stealing). fn(begin, end, ith) with ith
  // in [0, size()) unique among the threads running at once (for per-thread scratch); the caller is 0.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t, int)>& fn);

 private:
  void worker(int ith);
  void run(const std::function<void(int ith)>& fn);  // run_mutex_ held

  // One thread's part of a parallel_for: chunks [next, end) not yet claimed.
  struct alignas(64) Share {
    std::atomic<int64_t> next{0};
    int64_t end = 0;
  };

  int n_threads_;
  std::vector<std::thread> threads_;
  std::mutex run_mutex_;
  std::unique_ptr<Share[]> shares_;  // n_threads_ entries, used under run_mutex_
  const std::function<void(int)>* job_ = nullptr;
  alignas(64) std::atomic<uint32_t> generation_{0};  // bumped for every job
  alignas(64) std::atomic<uint32_t> open_{0};        // generation of the job workers may still join; 0 = none
  alignas(64) std::atomic<int> in_job_{0};           // workers between join attempt and leave
  std::atomic<bool> stop_{false};
};

}  // namespace kuai::engine
