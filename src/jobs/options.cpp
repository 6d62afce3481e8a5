#include "jobs/options.h"

#include "config/config.h"

namespace kuai::jobs {

std::variant<Options, std::string> options_from_config(const config::Config& cfg) {
  Options o;
  o.dir = cfg.get<std::string>("jobs.dir", o.dir);
  o.queue = cfg.get<std::string>("jobs.queue", o.queue);
  o.workers = cfg.get<int>("jobs.workers", o.workers);
  o.max_attempts = cfg.get<int>("jobs.max_attempts", o.max_attempts);
  o.retention_s = cfg.get<int64_t>("jobs.retention_s", o.retention_s);
  o.max_file_bytes = cfg.get<int64_t>("jobs.max_file_bytes", o.max_file_bytes);
  o.max_lines = cfg.get<int>("jobs.max_lines", o.max_lines);
  o.lease_ms = cfg.get<int64_t>("jobs.lease_ms", o.lease_ms);
  o.poll_ms = cfg.get<int64_t>("jobs.poll_ms", o.poll_ms);
  if (o.queue != "sqlite")
    return "config 'jobs.queue' is '" + o.queue + "': only 'sqlite' (the embedded queue) is built so far";
  return o;
}

}  // namespace kuai::jobs
