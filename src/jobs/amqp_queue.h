// The RabbitMQ job queue (`jobs.queue: amqp://…`; topology and headers in jobs/amqp.h).
//
// Gateway side (Role::serve), beside the Store that stays the record of jobs and results:
//   outbox    a thread publishes the store's new lines (Store::unpublished) with publisher confirms,
//             then marks them published: a line accepted by the HTTP API reaches the broker even
//             when the broker was down or the gateway crashed in between (it is published again).
//   results   a thread consumes Q.results (start / event / result, in order) and Q.dead (lines that
//             exhausted jobs.max_attempts: completed as max_attempts_exceeded), applies each to the
//             store, then acks it: a result is acked only after it is stored.
//   sweeper   a WorkerPool with no workers: finalises, expires, purges, updates the gauges.
// Worker side (Role::worker, and Role::serve when jobs.workers > 0): a consumer thread with
// prefetch = jobs.workers (a delivery is a started run); each line runs on the io executor through
// the Executor; its chunks and result go to Q.results (confirmed) and only then is the line acked.
// A worker killed mid-line never acks: the broker redelivers (flag `redelivered`), the next worker
// counts the lost run in x-kuai-attempts (republish, then ack) or, past jobs.max_attempts, rejects
// it into Q.dead. drain() hands unfinished lines back by republishing them with the same count.
// Not done over the broker: a cancel reaches only workers in the gateway's own process (a remote
// worker finishes the line and its result is dropped, the job being cancelled).
//
// Threads: the consumer, outbox and results threads own their connections; publishes go through
// one connection behind a mutex, from a one-thread pool when a coroutine waits for them.
#pragma once

#include "jobs/amqp.h"
#include "jobs/queue.h"

namespace kuai::jobs {

class AmqpQueue final : public Queue {
 public:
  // Connects once to check the URL and declare the topology; an error message when it cannot.
  static std::variant<std::unique_ptr<Queue>, std::string> create(Role role, const Options& opts, const AmqpUrl& url,
                                                                 Store* store, Executor& executor,
                                                                 boost::asio::any_io_executor io, obs::Metrics* metrics);
  ~AmqpQueue() override;

  void start() override;
  void notify() override;
  void cancel(const std::string& job) override;
  void on_final(std::function<void()> fn) override;
  void notify_final() override;
  void drain(std::chrono::milliseconds grace, std::function<void()> done) override;
  void stop() override;

  struct Impl;

 private:
  explicit AmqpQueue(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kuai::jobs
