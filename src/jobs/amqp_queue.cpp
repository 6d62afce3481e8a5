#include "jobs/amqp_queue.h"

#include "api/request_id.h"
#include "jobs/worker_pool.h"
#include "obs/metrics.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <thread>
#include <unordered_set>

namespace kuai::jobs {
namespace net = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

std::string encode_line(const Item& it) {
  return json::serialize(json::object{{"job", it.job},           {"line", it.line},
                                      {"kind", static_cast<int>(it.kind)}, {"tenant", it.tenant},
                                      {"custom_id", it.custom_id}, {"endpoint", it.endpoint},
                                      {"body", it.body},         {"enqueued_ms", it.enqueued_ms}});
}

std::optional<json::object> parse_object(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

std::string str_of(const json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}
int64_t int_of(const json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  return v && v->is_int64() ? v->as_int64() : 0;
}

// What a worker sends back to the gateways (Q.results). Built outside the coroutines: GCC 12
// mis-handles braced json::object initialisers that live across a co_await.
std::string start_message(const Item& it, const std::string& owner) {
  return json::serialize(json::object{{"t", "start"}, {"job", it.job}, {"line", it.line}, {"kind", 1},
                                      {"attempt", it.attempts}, {"owner", owner}});
}
std::string result_message(const Item& it, const Result& r) {
  return json::serialize(json::object{{"t", "result"}, {"job", it.job}, {"line", it.line},
                                      {"kind", static_cast<int>(it.kind)}, {"status", r.status_code},
                                      {"body", r.body}, {"request_id", r.request_id}, {"attempt", it.attempts}});
}
Result internal_error(const std::string& what) {
  json::object err{{"error", json::object{{"message", "internal error: " + what},
                                          {"type", "server_error"}, {"param", nullptr}, {"code", nullptr}}}};
  return Result{500, json::serialize(err), ""};
}

std::optional<Item> decode_line(std::string_view body) {
  auto o = parse_object(body);
  if (!o || str_of(*o, "job").empty()) return std::nullopt;
  Item it;
  it.job = str_of(*o, "job");
  it.line = int_of(*o, "line");
  it.kind = int_of(*o, "kind") == 1 ? Kind::chat : Kind::batch_line;
  it.tenant = str_of(*o, "tenant");
  it.custom_id = str_of(*o, "custom_id");
  it.endpoint = str_of(*o, "endpoint");
  it.body = str_of(*o, "body");
  it.enqueued_ms = int_of(*o, "enqueued_ms");
  return it;
}

// One confirmed-publish connection shared by the threads that publish; reconnects once on a failure.
class Publisher {
 public:
  Publisher(AmqpUrl url, std::string queue) : url_(std::move(url)), queue_(std::move(queue)) {}
  void publish(const std::vector<AmqpOutgoing>& msgs) {
    std::lock_guard lock(mu_);
    for (int tries = 0;; ++tries) {
      try {
        if (!chan_) chan_ = std::make_unique<AmqpChannel>(url_, queue_);
        chan_->publish(msgs);
        return;
      } catch (const AmqpError&) {
        chan_.reset();
        if (tries >= 1) throw;
      }
    }
  }
  void close() {
    std::lock_guard lock(mu_);
    chan_.reset();
  }

 private:
  AmqpUrl url_;
  std::string queue_;
  std::mutex mu_;
  std::unique_ptr<AmqpChannel> chan_;
};

}  // namespace

struct AmqpQueue::Impl {
  Role role;
  Options opts;
  AmqpUrl url;
  Store* store;
  Executor& executor;
  net::any_io_executor io;
  net::strand<net::any_io_executor> strand;
  std::string results_q, dead_q;
  Publisher publisher;
  net::thread_pool pub_pool{1};
  std::unique_ptr<WorkerPool> sweeper;
  std::function<void()> on_final;
  std::string owner = api::new_request_id("amqp-worker-");
  std::atomic<bool> quit{false};

  // Worker side.
  struct InFlight {
    std::string body;
    int attempts = 0;  // the header it came with
    int priority = 0;
  };
  struct Cmd {
    uint64_t tag, gen;
    bool ok;  // ack; else reject with requeue
  };
  std::thread consumer;
  std::mutex mu;  // cmds, inflight, drain_*
  std::vector<Cmd> cmds;
  std::map<uint64_t, InFlight> inflight;  // by delivery tag, of the current connection
  std::atomic<uint64_t> gen{0};
  std::atomic<int> running{0};
  std::atomic<bool> draining{false};
  std::chrono::steady_clock::time_point drain_deadline;
  std::function<void()> drain_done;
  std::mutex cancel_mu;
  std::unordered_set<std::string> cancelled;
  std::deque<std::string> cancel_order;  // oldest first: every worker hears every cancel, so keep the last few
  static constexpr size_t kKeptCancels = 4096;
  std::string cancel_x;                  // the fanout exchange of cancels (amqp.h)

  // Gateway side.
  std::thread outbox, results;
  std::mutex wake_mu;
  std::condition_variable wake_cv;
  bool wake = false;

  prometheus::Counter* done_ok = nullptr;
  prometheus::Counter* done_error = nullptr;
  prometheus::Counter* given_up = nullptr;
  prometheus::Histogram* latency = nullptr;

  Impl(Role r, Options o, AmqpUrl u, Store* s, Executor& e, net::any_io_executor i)
      : role(r), opts(std::move(o)), url(std::move(u)), store(s), executor(e), io(i), strand(net::make_strand(i)),
        results_q(opts.amqp_queue + ".results"), dead_q(opts.amqp_queue + ".dead"), publisher(url, opts.amqp_queue),
        cancel_x(opts.amqp_queue + ".cancel") {}

  void remember_cancel(const std::string& job) {
    std::lock_guard lock(cancel_mu);
    if (!cancelled.insert(job).second) return;
    cancel_order.push_back(job);
    if (cancel_order.size() > kKeptCancels) {
      cancelled.erase(cancel_order.front());
      cancel_order.pop_front();
    }
  }

  bool runs_lines() const { return opts.workers > 0; }

  void sleep_unless_quit(std::chrono::milliseconds d) {
    auto until = std::chrono::steady_clock::now() + d;
    while (!quit && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(20ms);
  }

  // ---- worker side

  void publish_raw(const std::string& msg) { publisher.publish({AmqpOutgoing{results_q, msg}}); }

  // Runs `fn` on the publishing thread and resumes the caller when it returned (or threw).
  // (A plain coroutine taking `fn` as a parameter: a capturing lambda coroutine handed to co_spawn
  // is destroyed twice under GCC 12.)
  static net::awaitable<void> call(std::function<void()> fn) {
    fn();
    co_return;
  }
  net::awaitable<void> on_pub_thread(std::function<void()> fn) {
    co_await net::co_spawn(pub_pool.get_executor(), call(std::move(fn)), net::use_awaitable);
  }

  bool is_cancelled(const std::string& job) {
    std::lock_guard lock(cancel_mu);
    return cancelled.count(job) > 0;
  }

  // A chat job's chunks, in order on the publishing thread (before its result, which waits there too).
  class Events final : public EventSink {
   public:
    Events(Impl& impl, const std::string& job) : impl_(impl), job_(job) {}
    bool chunk(std::string_view data) override {
      if (impl_.is_cancelled(job_)) return false;
      std::string msg = json::serialize(json::object{{"t", "event"}, {"job", job_}, {"data", data}});
      net::post(impl_.pub_pool, [impl = &impl_, msg = std::move(msg)] {
        try {
          impl->publisher.publish({AmqpOutgoing{impl->results_q, msg}});
        } catch (const std::exception& e) {
          spdlog::error("jobs (amqp): cannot publish a chunk: {}", e.what());
        }
      });
      return true;
    }

   private:
    Impl& impl_;
    const std::string& job_;
  };

  net::awaitable<void> run_line(Item item, uint64_t tag, uint64_t g) {
    if (item.attempts == 1 && latency) latency->Observe(static_cast<double>(now_ms() - item.enqueued_ms) / 1000.0);
    Result r;
    std::string error;
    try {
      std::optional<Events> events;
      if (item.kind == Kind::chat) {
        std::string start = start_message(item, owner);
        co_await on_pub_thread([this, &start] { publish_raw(start); });
        events.emplace(*this, item.job);
      }
      r = co_await executor.run(item, events ? &*events : nullptr);
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (!error.empty()) r = internal_error(error);
    std::string msg = result_message(item, r);
    bool sent = false;
    for (int i = 0; i < 3 && !sent; ++i) {
      if (i > 0) {
        net::steady_timer t(strand, 500ms);
        co_await t.async_wait(net::as_tuple(net::use_awaitable));
      }
      error.clear();
      try {
        co_await on_pub_thread([this, &msg] { publish_raw(msg); });
        sent = true;
      } catch (const std::exception& e) {
        error = e.what();
      }
      if (!sent) spdlog::error("jobs (amqp): cannot send the result of {} line {}: {}", item.job, item.line, error);
    }
    if (sent) (r.status_code < 400 ? done_ok : done_error)->Increment();
    {
      std::lock_guard lock(mu);
      cmds.push_back(Cmd{tag, g, sent});
    }
    {
      std::lock_guard lock(cancel_mu);
      cancelled.erase(item.job);
    }
    --running;
  }

  // On the consumer thread. Hands a line back without counting a run: republished with the count it
  // came with, then acked.
  void hand_back(AmqpChannel& chan, uint64_t tag, const InFlight& f) {
    publisher.publish({AmqpOutgoing{opts.amqp_queue, f.body, f.attempts, f.priority}});
    chan.ack(tag);
  }

  void on_delivery(AmqpChannel& chan, const AmqpDelivery& d) {
    if (d.queue == cancel_x) {  // a gateway cancelled a chat job: its worker, if here, stops at the next chunk
      remember_cancel(d.body);
      return;
    }
    auto item = decode_line(d.body);
    if (!item) {
      spdlog::error("jobs (amqp): a message on {} is not a job line: dead-lettered", opts.amqp_queue);
      chan.reject(d.tag, false);
      return;
    }
    // A redelivered line was delivered to a worker that never acked it (it died): that run counts.
    int before = d.attempts + (d.redelivered ? 1 : 0);
    if (d.redelivered) {
      if (before >= opts.max_attempts) {
        spdlog::warn("jobs: {} line {} dead-lettered after {} runs", item->job, item->line, before);
        chan.reject(d.tag, false);
      } else {
        publisher.publish({AmqpOutgoing{opts.amqp_queue, d.body, before, d.priority}});
        chan.ack(d.tag);
      }
      return;
    }
    if (draining) {
      hand_back(chan, d.tag, InFlight{d.body, d.attempts, d.priority});
      return;
    }
    item->attempts = before + 1;
    {
      std::lock_guard lock(mu);
      inflight[d.tag] = InFlight{d.body, d.attempts, d.priority};
    }
    ++running;
    net::co_spawn(strand, run_line(std::move(*item), d.tag, gen.load()), net::detached);
  }

  void apply_cmds(AmqpChannel& chan) {
    std::vector<Cmd> todo;
    {
      std::lock_guard lock(mu);
      todo.swap(cmds);
    }
    for (const auto& c : todo) {
      {
        std::lock_guard lock(mu);
        if (c.gen != gen.load() || !inflight.erase(c.tag)) continue;  // handed back, or the connection was lost
      }
      if (c.ok) chan.ack(c.tag);
      else chan.reject(c.tag, true);
    }
  }

  void consume_loop() {
    std::unique_ptr<AmqpChannel> chan;
    bool consuming = false;
    while (!quit) {
      try {
        if (!chan) {
          {
            std::lock_guard lock(mu);
            inflight.clear();  // the broker requeued what the lost connection held
          }
          chan = std::make_unique<AmqpChannel>(url, opts.amqp_queue, 30);
          ++gen;
          consuming = !draining;
          if (consuming) {
            chan->consume(opts.amqp_queue, opts.workers);
            chan->subscribe(cancel_x);
          }
        }
        apply_cmds(*chan);
        if (draining && consuming) {
          // Each ack below frees a prefetch slot the broker would fill at once; what it delivers
          // then and we never run goes back as `redelivered` and costs an attempt. So stop the
          // consumer first; the deliveries already on their way are handed back by on_delivery.
          chan->cancel_consumers();
          consuming = false;
          while (auto d = chan->next(0ms)) on_delivery(*chan, *d);
        }
        if (draining) {
          bool all_done = running.load() == 0;
          if (all_done) apply_cmds(*chan);  // results pushed just before `running` dropped
          std::map<uint64_t, InFlight> left;
          bool past = false;
          {
            std::lock_guard lock(mu);
            past = std::chrono::steady_clock::now() >= drain_deadline;
            if (all_done || past) left.swap(inflight);
          }
          if (!left.empty())
            spdlog::warn("jobs (amqp): {} line(s) still running after the grace period: handed back", left.size());
          for (const auto& [tag, f] : left) hand_back(*chan, tag, f);
          if (all_done || past) break;
        }
        if (auto d = chan->next(10ms)) on_delivery(*chan, *d);
      } catch (const std::exception& e) {
        spdlog::error("jobs (amqp): worker connection: {} (reconnecting)", e.what());
        chan.reset();
        sleep_unless_quit(1000ms);
      }
    }
    chan.reset();  // anything unacked goes back to the queue
    std::function<void()> done;
    {
      std::lock_guard lock(mu);
      done.swap(drain_done);
    }
    if (done) done();
  }

  // ---- gateway side

  void outbox_loop() {
    while (!quit) {
      {
        std::unique_lock lock(wake_mu);
        wake_cv.wait_for(lock, std::chrono::milliseconds(opts.poll_ms), [&] { return wake || quit.load(); });
        wake = false;
      }
      if (quit) break;
      try {
        for (;;) {
          constexpr int kBatch = 512;
          auto items = store->unpublished(kBatch);
          if (items.empty()) break;
          std::vector<AmqpOutgoing> msgs;
          msgs.reserve(items.size());
          for (const auto& it : items) msgs.push_back(AmqpOutgoing{opts.amqp_queue, encode_line(it), 0, it.priority});
          publisher.publish(msgs);
          store->mark_published(items);
          if (static_cast<int>(items.size()) < kBatch) break;
        }
      } catch (const std::exception& e) {
        spdlog::error("jobs (amqp): cannot publish queued lines: {} (retrying)", e.what());
        sleep_unless_quit(1000ms);
      }
    }
  }

  // Applies one message from Q.results or Q.dead to the store; true when a job may have become final.
  bool apply(const AmqpDelivery& d) {
    if (d.queue == dead_q) {
      auto item = decode_line(d.body);
      if (!item) {
        spdlog::error("jobs (amqp): dropped a dead-lettered message that is not a job line");
        return false;
      }
      store->give_up(*item, "The request ran " + std::to_string(d.attempts + 1) +
                                " times without finishing (jobs.max_attempts); its workers stopped.");
      if (given_up) given_up->Increment();
      return item->kind == Kind::chat || store->finalize_if_done(item->job, now_s());
    }
    auto o = parse_object(d.body);
    if (!o) {
      spdlog::error("jobs (amqp): dropped a result message that is not JSON");
      return false;
    }
    std::string t = str_of(*o, "t"), job = str_of(*o, "job");
    if (t == "start") {
      int attempt = static_cast<int>(int_of(*o, "attempt"));
      if (store->started(job, int_of(*o, "line"), str_of(*o, "owner"), attempt) && int_of(*o, "kind") == 1)
        store->begin_run(job, attempt);
      return false;
    }
    if (t == "event") {
      store->append_event(job, str_of(*o, "data"));
      return false;
    }
    if (t == "result") {
      Item item;
      item.job = job;
      item.line = int_of(*o, "line");
      item.kind = int_of(*o, "kind") == 1 ? Kind::chat : Kind::batch_line;
      Result r{static_cast<int>(int_of(*o, "status")), str_of(*o, "body"), str_of(*o, "request_id")};
      bool first = store->complete(item, r);
      if (!first) return false;
      return item.kind == Kind::chat || store->finalize_if_done(item.job, now_s());
    }
    spdlog::error("jobs (amqp): dropped a result message of unknown type '{}'", t);
    return false;
  }

  void results_loop() {
    std::unique_ptr<AmqpChannel> chan;
    while (!quit) {
      try {
        if (!chan) {
          chan = std::make_unique<AmqpChannel>(url, opts.amqp_queue, 30);
          chan->consume(results_q, 256);
          chan->consume(dead_q, 16);
        }
        auto d = chan->next(50ms);
        if (!d) continue;
        bool final = false;
        try {
          final = apply(*d);
        } catch (const std::exception& e) {  // the store failed: the message stays in the broker
          spdlog::error("jobs (amqp): cannot store a result: {} (retried)", e.what());
          chan->reject(d->tag, true);
          sleep_unless_quit(200ms);
          continue;
        }
        chan->ack(d->tag);
        if (final && on_final) on_final();
      } catch (const std::exception& e) {
        spdlog::error("jobs (amqp): gateway connection: {} (reconnecting)", e.what());
        chan.reset();
        sleep_unless_quit(1000ms);
      }
    }
  }

  void join_all() {
    quit = true;
    wake_cv.notify_all();
    for (auto* t : {&consumer, &outbox, &results})
      if (t->joinable()) t->join();
    pub_pool.join();
    publisher.close();
  }
};

std::variant<std::unique_ptr<Queue>, std::string> AmqpQueue::create(Role role, const Options& opts, const AmqpUrl& url,
                                                                   Store* store, Executor& executor,
                                                                   net::any_io_executor io, obs::Metrics* metrics) {
  if (role == Role::serve && !store) return std::string("jobs: the gateway needs jobs.dir (the job store)");
  try {
    AmqpChannel probe(url, opts.amqp_queue);
  } catch (const AmqpError& e) {
    return "jobs.queue: cannot reach RabbitMQ at " + url.redacted() + ": " + e.what();
  }
  auto impl = std::make_unique<Impl>(role, opts, url, store, executor, io);
  if (role == Role::serve) {
    Options sweep = opts;
    sweep.workers = 0;
    impl->sweeper = std::make_unique<WorkerPool>(*store, executor, io, sweep, metrics);
  }
  if (metrics) {
    auto& done = metrics->counter("kuai_jobs_lines_done_total", "Job lines this process completed, by result.");
    impl->done_ok = &done.Add({{"result", "ok"}});
    impl->done_error = &done.Add({{"result", "error"}});
    impl->given_up = &metrics->counter("kuai_jobs_given_up_total", "Job lines failed after jobs.max_attempts claims.").Add({});
    impl->latency = &metrics->histogram("kuai_jobs_queue_latency_seconds", "Time from enqueue to a worker's first claim.")
                         .Add({}, obs::Metrics::latency_buckets());
  } else {
    static prometheus::Counter sink_ok, sink_err, sink_up;
    impl->done_ok = &sink_ok;
    impl->done_error = &sink_err;
    impl->given_up = &sink_up;
  }
  return std::unique_ptr<Queue>(new AmqpQueue(std::move(impl)));
}

AmqpQueue::AmqpQueue(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AmqpQueue::~AmqpQueue() {
  impl_->join_all();
  if (impl_->sweeper) impl_->sweeper->stop();
}

void AmqpQueue::start() {
  Impl* m = impl_.get();
  if (m->sweeper) m->sweeper->start();
  if (m->role == Role::serve) {
    m->outbox = std::thread([m] { m->outbox_loop(); });
    m->results = std::thread([m] { m->results_loop(); });
  }
  if (m->runs_lines()) m->consumer = std::thread([m] { m->consume_loop(); });
}

void AmqpQueue::notify() {
  {
    std::lock_guard lock(impl_->wake_mu);
    impl_->wake = true;
  }
  impl_->wake_cv.notify_one();
}

void AmqpQueue::cancel(const std::string& job) {
  impl_->remember_cancel(job);
  // and to every worker process (`kuai worker` elsewhere), off the caller's thread
  net::post(impl_->pub_pool, [impl = impl_.get(), job] {
    try {
      impl->publisher.publish({AmqpOutgoing{"", job, -1, 0, impl->cancel_x}});
    } catch (const std::exception& e) {
      spdlog::error("jobs (amqp): cannot tell the workers that {} was cancelled: {}", job, e.what());
    }
  });
}

void AmqpQueue::on_final(std::function<void()> fn) {
  impl_->on_final = fn;
  if (impl_->sweeper) impl_->sweeper->on_final(std::move(fn));
}

void AmqpQueue::notify_final() {
  if (impl_->sweeper) impl_->sweeper->notify_final();
  else if (impl_->on_final) impl_->on_final();
}

void AmqpQueue::drain(std::chrono::milliseconds grace, std::function<void()> done) {
  Impl* m = impl_.get();
  {
    std::lock_guard lock(m->mu);
    if (m->consumer.joinable() && !m->draining) {
      m->drain_deadline = std::chrono::steady_clock::now() + grace;  // before `draining`: the consumer reads it then
      m->drain_done = std::move(done);
      m->draining = true;
      return;
    }
  }
  if (done) done();  // no lines run here, or a drain is already under way
}

void AmqpQueue::stop() {
  impl_->join_all();
  if (impl_->sweeper) impl_->sweeper->stop();
}

}  // namespace kuai::jobs
