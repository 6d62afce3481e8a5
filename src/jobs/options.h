// Config `jobs.*` (docs/CONFIG.md, "Async jobs"): where the store lives, how many workers run, limits.
#pragma once

#include <cstdint>
#include <string>
#include <variant>

namespace kuai::config { class Config; }

namespace kuai::jobs {

struct Options {
  std::string dir;                            // jobs.dir: the SQLite file jobs.db lives here; empty = jobs off
  std::string queue = "sqlite";               // jobs.queue: sqlite (embedded) | amqp://user:pass@host:port/vhost
  std::string amqp_queue = "kuai.jobs";       // jobs.amqp_queue: RabbitMQ queue name (+ .results, .dead)
  int workers = 16;                           // jobs.workers: lines run at once by this process
  int max_attempts = 3;                       // jobs.max_attempts: claims of one line before it fails
  int64_t retention_s = 7 * 24 * 3600;        // jobs.retention_s: finished jobs and their files are kept this long
  int64_t max_file_bytes = int64_t{100} << 20;  // jobs.max_file_bytes: largest upload
  int max_lines = 50000;                      // jobs.max_lines: lines of one batch input file
  int64_t lease_ms = 30000;                   // jobs.lease_ms: a claimed line returns to the queue after this without a heartbeat
  int64_t poll_ms = 200;                      // jobs.poll_ms: how often an idle worker looks for work another process queued
  int64_t stop_grace_ms = 30000;              // jobs.stop_grace_ms: `kuai worker` on SIGTERM: running lines finish within this, the rest go back
  bool enabled() const { return !dir.empty(); }
  bool amqp() const { return queue.rfind("amqp", 0) == 0; }
};

// Reads jobs.* (validated by the schema first); a value the schema cannot express is an error message.
std::variant<Options, std::string> options_from_config(const config::Config& cfg);

}  // namespace kuai::jobs
