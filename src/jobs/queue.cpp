#include "jobs/queue.h"

#include "jobs/amqp_queue.h"
#include "jobs/worker_pool.h"

namespace kuai::jobs {

std::variant<std::unique_ptr<Queue>, std::string> make_queue(Role role, const Options& opts, Store* store,
                                                            Executor& executor, boost::asio::any_io_executor io,
                                                            obs::Metrics* metrics) {
  if (opts.amqp()) {
    auto url = AmqpUrl::parse(opts.queue);
    if (auto* err = std::get_if<std::string>(&url)) return "config 'jobs.queue': " + *err;
    return AmqpQueue::create(role, opts, std::get<AmqpUrl>(url), store, executor, std::move(io), metrics);
  }
  if (!store) return std::string("jobs: the embedded queue needs jobs.dir (the SQLite store the gateway uses)");
  return std::unique_ptr<Queue>(std::make_unique<WorkerPool>(*store, executor, std::move(io), opts, metrics));
}

}  // namespace kuai::jobs
