// The embedded SQLite queue's workers (in `kuai serve`, and in `kuai worker` on the same jobs.dir):
// `jobs.workers` coroutines that claim lines from the Store's queue
// and run each through an Executor (the gateway implements it with the same pipeline and dispatcher
// as a live request), a heartbeat that extends this process's leases and learns of cancellations,
// and a sweeper that finalises and expires batches, purges old jobs and updates the gauges.
//
// Series (obs::Metrics):
//   kuai_jobs_lines{state="queued"|"running"}        gauge (every sweep, all processes on the store)
//   kuai_jobs_lines_done_total{result="ok"|"error"}  counter (lines this process completed)
//   kuai_jobs_queue_latency_seconds                  histogram (enqueue → first claim)
//   kuai_jobs_given_up_total                         counter (lines past jobs.max_attempts)
// Threads: every coroutine runs on one strand of the gateway's executor; notify() and cancel() may be
// called from any thread.
#pragma once

#include "jobs/options.h"
#include "jobs/queue.h"
#include "jobs/store.h"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

namespace kuai::obs { class Metrics; }

namespace kuai::jobs {

// Where a background chat job's chunks go while it runs.
class EventSink {
 public:
  virtual ~EventSink() = default;
  // One chunk's JSON. False when the job was cancelled: stop (the upstream call is cancelled).
  virtual bool chunk(std::string_view json) = 0;
};

// Runs one line as a live request to item.endpoint would run. Never throws: every failure is a
// Result with the status and OpenAI error body the live request would have got.
class Executor {
 public:
  virtual ~Executor() = default;
  // `events` is set for background chat jobs (the request then streams).
  virtual boost::asio::awaitable<Result> run(const Item& item, EventSink* events) = 0;
};

// With `jobs.workers: 0` only the sweeper runs (a gateway whose lines run in `kuai worker`s, or the
// sweeper beside RabbitMQ).
class WorkerPool final : public Queue {
 public:
  WorkerPool(Store& store, Executor& executor, boost::asio::any_io_executor io, Options options,
             obs::Metrics* metrics);
  ~WorkerPool() override;
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void start() override;
  // Work was queued: wake an idle worker now instead of at its next poll.
  void notify() override;
  // A chat job was cancelled: its worker stops at the next chunk.
  void cancel(const std::string& job) override;
  // Stop claiming; the lines this process holds go back to the queue at once.
  void stop() override;
  // Stop claiming; lines running finish within `grace`, the rest go back to the queue.
  void drain(std::chrono::milliseconds grace, std::function<void()> done) override;
  // `fn` runs (on the pool's strand) after a job reached a final state: webhooks have news.
  void on_final(std::function<void()> fn) override { on_final_ = std::move(fn); }
  // A job reached a final state outside the workers (a cancel, a failed validation): any thread.
  void notify_final() override;

  const std::string& owner() const { return owner_; }

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  std::string owner_;
  std::function<void()> on_final_;
};

}  // namespace kuai::jobs
