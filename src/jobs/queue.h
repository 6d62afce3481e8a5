// Where job lines wait and who runs them, behind one interface: the embedded SQLite queue (default,
// `jobs.queue: sqlite`: the store's `items` table with leases, jobs::WorkerPool) or RabbitMQ
// (`jobs.queue: amqp://user:pass@host:port/vhost`, jobs::AmqpQueue). The Store stays the record of
// jobs and results in both; with RabbitMQ the broker hands out lines and carries results back.
//
// Roles: `serve` (the gateway: accepts jobs, finalises batches, sweeps; runs `jobs.workers` lines
// itself, none when 0) and `worker` (`kuai worker`: only runs lines).
// Threads: every method may be called from any thread.
#pragma once

#include "jobs/options.h"
#include "jobs/store.h"

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <variant>

namespace kuai::obs { class Metrics; }

namespace kuai::jobs {

class Executor;

enum class Role { serve, worker };

class Queue {
 public:
  virtual ~Queue() = default;
  virtual void start() = 0;
  // Lines were written to the store: hand them out now instead of at the next poll (serve).
  virtual void notify() = 0;
  // A chat job was cancelled by its client: a worker of this process running it stops at its next chunk.
  virtual void cancel(const std::string& job) = 0;
  // `fn` runs after a job reached a final state in this process (webhooks have news); any thread.
  virtual void on_final(std::function<void()> fn) = 0;
  // A job reached a final state outside the workers (a cancel, a failed validation).
  virtual void notify_final() = 0;
  // Graceful stop: take no more lines; running ones get `grace` to finish, the rest go back to the
  // queue without counting as an attempt; then `done` runs (on any thread).
  virtual void drain(std::chrono::milliseconds grace, std::function<void()> done) = 0;
  // Stop now: running lines go back to the queue.
  virtual void stop() = 0;
};

// The queue `opts.queue` names, for `role`. `store` is required for serve and for a SQLite worker;
// an AMQP worker needs none. Connects to the broker once (an unreachable broker is an error message).
std::variant<std::unique_ptr<Queue>, std::string> make_queue(Role role, const Options& opts, Store* store,
                                                            Executor& executor, boost::asio::any_io_executor io,
                                                            obs::Metrics* metrics);

}  // namespace kuai::jobs
