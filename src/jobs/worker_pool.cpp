#include "jobs/worker_pool.h"

#include "api/request_id.h"
#include "obs/metrics.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <list>

namespace kuai::jobs {
namespace net = boost::asio;
using namespace std::chrono_literals;

struct WorkerPool::Impl {
  WorkerPool& pool;
  Store& store;
  Executor& executor;
  net::any_io_executor io;  // where lines run: every thread of the gateway, not only the strand
  net::strand<net::any_io_executor> strand;
  Options opts;
  std::atomic<bool> stopping{false};
  bool draining = false;  // on the strand: drain() runs; the heartbeat keeps the leases of running lines
  int running_lines = 0;  // on the strand
  struct Waiter {
    net::steady_timer* timer;
    bool woken = false;
  };
  std::list<Waiter> idle;  // idle workers (on the strand)
  // Lines claimed for workers about to be free (on the strand; they hold leases like running lines).
  // Claiming several per transaction and committing results together (group commit) took a batch
  // from one SQLite write transaction per claim and per result to a few per dozen lines.
  std::deque<Item> ready;
  std::vector<std::pair<Item, Result>> results;  // batch lines done, not yet stored (on the strand)
  bool flush_posted = false;
  std::mutex cancel_mu;
  std::unordered_set<std::string> cancelled;

  prometheus::Gauge* queued = nullptr;
  prometheus::Gauge* running = nullptr;
  prometheus::Counter* done_ok = nullptr;
  prometheus::Counter* done_error = nullptr;
  prometheus::Counter* given_up = nullptr;
  prometheus::Histogram* latency = nullptr;

  Impl(WorkerPool& p, Store& s, Executor& e, net::any_io_executor io, Options o)
      : pool(p), store(s), executor(e), io(io), strand(net::make_strand(io)), opts(std::move(o)) {}

  bool is_cancelled(const std::string& job) {
    std::lock_guard lock(cancel_mu);
    return cancelled.count(job) > 0;
  }

  class Events final : public EventSink {
   public:
    Events(Impl& impl, const std::string& job) : impl_(impl), job_(job) {}
    bool chunk(std::string_view json) override {
      if (impl_.is_cancelled(job_)) return false;
      try {
        impl_.store.append_event(job_, json);
      } catch (const std::exception& e) {
        spdlog::error("jobs: cannot store a chunk of {}: {}", job_, e.what());
        return false;
      }
      return true;
    }

   private:
    Impl& impl_;
    const std::string& job_;
  };

  net::awaitable<void> sleep(std::chrono::milliseconds d) {
    net::steady_timer t(strand, d);
    co_await t.async_wait(net::as_tuple(net::use_awaitable));
  }

  net::awaitable<void> idle_wait() {
    net::steady_timer t(strand, std::chrono::milliseconds(opts.poll_ms));
    auto it = idle.insert(idle.end(), Waiter{&t});
    co_await t.async_wait(net::as_tuple(net::use_awaitable));
    idle.erase(it);
  }

  void wake_one() {
    for (auto& w : idle) {
      if (w.woken) continue;
      w.woken = true;
      w.timer->cancel();
      return;
    }
  }

  net::awaitable<void> run_item(Item item) {
    if (item.attempts == 1 && latency) latency->Observe(static_cast<double>(now_ms() - item.enqueued_ms) / 1000.0);
    if (item.attempts > opts.max_attempts) {
      spdlog::warn("jobs: {} line {} gave up after {} attempts", item.job, item.line, item.attempts - 1);
      store.give_up(item, "The request was claimed " + std::to_string(item.attempts - 1) +
                              " times without finishing (jobs.max_attempts); its workers stopped.");
      if (given_up) given_up->Increment();
      after_line(item);
      co_return;
    }
    Result r;
    std::optional<Events> events;
    if (item.kind == Kind::chat) {
      store.begin_run(item.job, item.attempts);
      events.emplace(*this, item.job);
    }
    try {
      // The request itself (stages, dispatch, parsing the answer) runs on any gateway thread: on the
      // strand, 64 workers' CPU work was one thread's, and a 10 000-line batch ran at 0.85x live.
      r = co_await net::co_spawn(io, executor.run(item, events ? &*events : nullptr), net::use_awaitable);
    } catch (const std::exception& e) {
      boost::json::object err{{"error", boost::json::object{{"message", std::string("internal error: ") + e.what()},
                                                            {"type", "server_error"}, {"param", nullptr}, {"code", nullptr}}}};
      r = Result{500, boost::json::serialize(err), ""};
    }
    if (item.kind == Kind::batch_line) {
      store_later(std::move(item), std::move(r));
      co_return;
    }
    bool first = store.complete(item, r);
    {
      std::lock_guard lock(cancel_mu);
      cancelled.erase(item.job);
    }
    if (first) (r.status_code < 400 ? done_ok : done_error)->Increment();
    after_line(item);
  }

  // A batch line's result joins the next group commit, which runs once the workers resumed before it
  // on the strand have added theirs. A crash before it only makes the lines run again (their leases).
  void store_later(Item item, Result r) {
    results.emplace_back(std::move(item), std::move(r));
    if (flush_posted) return;
    flush_posted = true;
    net::post(strand, [this] { flush_results(); });
  }

  void flush_results() {
    flush_posted = false;
    if (results.empty()) return;
    std::vector<std::pair<Item, Result>> done;
    done.swap(results);
    std::vector<bool> first;
    try {
      first = store.complete_many(done);
    } catch (const std::exception& e) {
      spdlog::error("jobs: cannot store {} line result(s), they will run again: {}", done.size(), e.what());
      return;
    }
    for (size_t i = 0; i < done.size(); ++i)
      if (first[i]) (done[i].second.status_code < 400 ? done_ok : done_error)->Increment();
    const std::string* last = nullptr;  // finalize each batch once (lines of one batch come in runs)
    for (const auto& d : done) {
      if (last && *last == d.first.job) continue;
      last = &d.first.job;
      after_line(d.first);
    }
  }

  // How many lines one claim takes: a quarter of the workers' worth (up to 16), so a busy pool claims
  // once per several lines while another process on the store still gets its share.
  int claim_size() const { return std::clamp(opts.workers / 4, 1, 16); }

  void after_line(const Item& item) {
    bool final = item.kind == Kind::chat || store.finalize_if_done(item.job, now_s());
    if (final && pool.on_final_) pool.on_final_();
  }

  net::awaitable<void> worker() {
    while (!stopping) {
      std::optional<Item> item;
      if (ready.empty()) {
        try {
          for (Item& it : store.claim_many(pool.owner_, now_ms(), opts.lease_ms, claim_size())) ready.push_back(std::move(it));
        } catch (const std::exception& e) {
          spdlog::error("jobs: claim failed: {}", e.what());
        }
      }
      if (!ready.empty()) {
        item = std::move(ready.front());
        ready.pop_front();
      }
      if (!item) {
        co_await idle_wait();
        continue;
      }
      wake_one();  // there may be more: the next idle worker looks now (a batch ramps up at once)
      bool store_failed = false;
      ++running_lines;
      try {
        co_await run_item(std::move(*item));
      } catch (const std::exception& e) {
        spdlog::error("jobs: a line failed in the store: {}", e.what());
        store_failed = true;
      }
      --running_lines;
      if (store_failed) co_await sleep(std::chrono::milliseconds(opts.poll_ms));
    }
  }

  net::awaitable<void> drain(std::chrono::milliseconds grace, std::function<void()> done) {
    auto deadline = std::chrono::steady_clock::now() + grace;
    while (running_lines > 0 && std::chrono::steady_clock::now() < deadline) co_await sleep(20ms);
    if (running_lines > 0) spdlog::warn("jobs: {} line(s) still running after the grace period: handed back", running_lines);
    flush_results();
    ready.clear();  // claimed, never started: released below
    try {
      store.release(pool.owner_);
    } catch (const std::exception& e) {
      spdlog::error("jobs: cannot release this process's lines: {}", e.what());
    }
    draining_done = true;
    if (done) done();
  }
  bool draining_done = false;

  net::awaitable<void> heartbeat() {
    auto period = std::chrono::milliseconds(std::max<int64_t>(opts.lease_ms / 3, 10));
    while (!stopping || (draining && !draining_done)) {
      co_await sleep(period);
      try {
        for (auto& job : store.heartbeat(pool.owner_, now_ms() + opts.lease_ms)) pool.cancel(job);
      } catch (const std::exception& e) {
        spdlog::error("jobs: heartbeat failed: {}", e.what());
      }
    }
  }

  net::awaitable<void> sweeper() {
    int64_t last_purge = 0;
    while (!stopping) {
      try {
        int64_t now = now_s();
        store.expire_batches(now);
        bool any = false;
        for (auto& id : store.batches_to_finalize()) any |= store.finalize_if_done(id, now);
        if (any && pool.on_final_) pool.on_final_();
        if (now - last_purge >= 60) {
          store.purge(now - opts.retention_s);
          last_purge = now;
        }
        if (queued) {
          QueueCounts c = store.counts();
          queued->Set(static_cast<double>(c.queued));
          running->Set(static_cast<double>(c.running));
        }
      } catch (const std::exception& e) {
        spdlog::error("jobs: sweep failed: {}", e.what());
      }
      co_await sleep(1000ms);
    }
  }
};

WorkerPool::WorkerPool(Store& store, Executor& executor, net::any_io_executor io, Options options,
                       obs::Metrics* metrics)
    : impl_(std::make_unique<Impl>(*this, store, executor, std::move(io), std::move(options))),
      owner_(api::new_request_id("worker-")) {
  if (metrics) {
    auto& lines = metrics->gauge("kuai_jobs_lines", "Job lines in the queue, by state (all processes on the store).");
    impl_->queued = &lines.Add({{"state", "queued"}});
    impl_->running = &lines.Add({{"state", "running"}});
    auto& done = metrics->counter("kuai_jobs_lines_done_total", "Job lines this process completed, by result.");
    impl_->done_ok = &done.Add({{"result", "ok"}});
    impl_->done_error = &done.Add({{"result", "error"}});
    impl_->given_up = &metrics->counter("kuai_jobs_given_up_total", "Job lines failed after jobs.max_attempts claims.").Add({});
    impl_->latency = &metrics->histogram("kuai_jobs_queue_latency_seconds", "Time from enqueue to a worker's first claim.")
                          .Add({}, obs::Metrics::latency_buckets());
  } else {
    static prometheus::Counter sink_ok, sink_err, sink_up;
    impl_->done_ok = &sink_ok;
    impl_->done_error = &sink_err;
    impl_->given_up = &sink_up;
  }
}

WorkerPool::~WorkerPool() = default;

void WorkerPool::start() {
  for (int i = 0; i < impl_->opts.workers; ++i) net::co_spawn(impl_->strand, impl_->worker(), net::detached);
  net::co_spawn(impl_->strand, impl_->heartbeat(), net::detached);
  net::co_spawn(impl_->strand, impl_->sweeper(), net::detached);
}

void WorkerPool::notify() {
  net::post(impl_->strand, [impl = impl_.get()] { impl->wake_one(); });
}

void WorkerPool::notify_final() {
  net::post(impl_->strand, [this] {
    if (on_final_) on_final_();
  });
}

void WorkerPool::cancel(const std::string& job) {
  std::lock_guard lock(impl_->cancel_mu);
  impl_->cancelled.insert(job);
}

void WorkerPool::drain(std::chrono::milliseconds grace, std::function<void()> done) {
  net::post(impl_->strand, [impl = impl_.get(), grace, done = std::move(done)]() mutable {
    if (impl->stopping.exchange(true)) {
      if (done) done();
      return;
    }
    impl->draining = true;
    for (auto& w : impl->idle) w.timer->cancel();  // idle workers see `stopping` and end
    net::co_spawn(impl->strand, impl->drain(grace, std::move(done)), net::detached);
  });
}

void WorkerPool::stop() {
  if (impl_->stopping.exchange(true)) return;
  try {
    impl_->store.release(owner_);
  } catch (const std::exception& e) {
    spdlog::error("jobs: cannot release this process's lines: {}", e.what());
  }
}

}  // namespace kuai::jobs
