#include "jobs/options.h"

#include "config/config.h"
#include "jobs/amqp.h"

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
  o.amqp_queue = cfg.get<std::string>("jobs.amqp_queue", o.amqp_queue);
  o.stop_grace_ms = cfg.get<int64_t>("jobs.stop_grace_ms", o.stop_grace_ms);
  if (o.amqp()) {
    auto url = AmqpUrl::parse(o.queue);
    if (auto* err = std::get_if<std::string>(&url)) return "config 'jobs.queue': " + *err;
    if (o.amqp_queue.empty()) return std::string("config 'jobs.amqp_queue' must not be empty");
  } else if (o.queue != "sqlite") {
    return "config 'jobs.queue' is '" + o.queue + "': use 'sqlite' (the embedded queue) or an amqp:// URL (RabbitMQ)";
  }
  return o;
}

}  // namespace kuai::jobs
