// Dispatcher implementation: the model table, retries with backoff honouring Retry-After, fallback,
// hedging on a slow first token, tenant tiers. The config is read by dispatcher_config.*, the backend
// order of a request is chosen by strategy.*. See dispatcher.h and docs/CONFIG.md ("Models, backends,
// tiers").
#include "upstream/dispatcher.h"

#include "api/error.h"
#include "http/client.h"
#include "obs/metrics.h"
#include "upstream/backend_slot.h"
#include "upstream/dispatcher_config.h"
#include "upstream/http_backend.h"
#include "upstream/strategy.h"
#include "upstream/tier_limiter.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <type_traits>

namespace kuai::upstream {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;
namespace {

// The api::Error inside a racer's stored exception, if it is one.
std::optional<api::Error> api_error_of(const std::exception_ptr& p) {
  try {
    std::rethrow_exception(p);
  } catch (const api::Error& e) {
    return e;
  } catch (...) {
    return std::nullopt;
  }
}


constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

struct ModelSlot {
  std::string name;
  std::vector<std::shared_ptr<BackendSlot>> backends;
  Strategy strategy = Strategy::ordered;
  Ms hedge_after{0};
  std::atomic<uint64_t> requests{0};
  prometheus::Counter* fallbacks = nullptr;
  prometheus::Counter* hedges = nullptr;
  prometheus::Counter* hedge_wins = nullptr;
};

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// 4xx other than 408/429 (the request's fault) and a cancelled request: no retry, no fallback.
bool is_final(const api::Error& e) {
  return e.status() == 499 || (e.status() >= 400 && e.status() < 500 && e.status() != 408 && e.status() != 429);
}
// Worth another try on the same backend (a 504 goes to the next backend instead).
bool retry_same(const api::Error& e) {
  return e.status() == 429 || e.status() == 500 || e.status() == 502 || e.status() == 503;
}

double jitter() {
  thread_local std::mt19937 rng(std::random_device{}());
  return std::uniform_real_distribution<double>(0.5, 1.0)(rng);
}

asio::awaitable<void> sleep_for(Ms d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  auto [ec] = co_await t.async_wait(kTuple);
  if (ec == asio::error::operation_aborted) throw api::Error(499, "request_cancelled", "cancelled while waiting to retry", "cancelled");
}

// Forwards chunks to the client's sink; notes the first one (TTFT, and `committed`: no retry from now on).
class TrackingSink : public ChunkSink {
 public:
  TrackingSink(ChunkSink& out, BackendSlot& b, bool& committed)
      : out_(out), backend_(b), committed_(committed), started_(Clock::now()) {}
  asio::awaitable<bool> on_chunk(const api::ChatChunk& c) override {
    if (sent_ == 0) record_first(backend_, started_);
    ++sent_;
    committed_ = true;
    co_return co_await out_.on_chunk(c);
  }
  static void record_first(BackendSlot& b, Clock::time_point started) {
    double ms = ms_since(started);
    b.observe_ttft(ms);
    if (b.ttft_hist) b.ttft_hist->Observe(ms / 1000);
  }

 private:
  ChunkSink& out_;
  BackendSlot& backend_;
  bool& committed_;
  Clock::time_point started_;
  int64_t sent_ = 0;
};

// ---------------------------------------------------------------------------------------------------
// Hedging: two attempts race on the caller's strand; the first to produce a first token (stream) or
// an answer (complete) wins and the other is cancelled. The caller waits until both are finished.

struct Race {
  int winner = -1;
  int running = 0;
  bool started[2] = {false, false};
  bool finished[2] = {false, false};
  std::exception_ptr error[2];
  asio::cancellation_signal cancel[2];
  std::shared_ptr<asio::steady_timer> wake;
  int64_t forwarded = 0;  // chunks the winner sent to the client

  void cancel_others(int keep) {
    for (int j = 0; j < 2; ++j)
      if (j != keep && started[j] && !finished[j]) cancel[j].emit(asio::cancellation_type::terminal);
  }
  // The first racer to call this wins: the other is cancelled and the race loop woken. True for the winner.
  bool claim(int i) {
    if (winner < 0) {
      winner = i;
      cancel_others(i);
      wake->cancel();
    }
    return winner == i;
  }
};

class RacerSink : public ChunkSink {
 public:
  RacerSink(std::shared_ptr<Race> race, int index, BackendSlot& b, ChunkSink& out)
      : race_(std::move(race)), index_(index), backend_(b), out_(out), started_(Clock::now()) {}
  asio::awaitable<bool> on_chunk(const api::ChatChunk& c) override {
    if (first_) {
      first_ = false;
      TrackingSink::record_first(backend_, started_);
      race_->claim(index_);
    }
    if (race_->winner != index_) co_return false;  // lost: stop (the backend closes its connection)
    ++race_->forwarded;
    co_return co_await out_.on_chunk(c);
  }

 private:
  std::shared_ptr<Race> race_;
  int index_;
  BackendSlot& backend_;
  ChunkSink& out_;
  Clock::time_point started_;
  bool first_ = true;
};

class DispatcherImpl : public Dispatcher {
 public:
  DispatcherImpl(RetryConfig retry, std::map<std::string, TierConfig> tiers, int global_max, obs::Metrics* metrics)
      : retry_(retry), limiter_(std::move(tiers), global_max), metrics_(metrics) {}

  void add_backend(const std::string& public_name, std::shared_ptr<Backend> backend) override {
    add(public_name, std::move(backend), 1.0);
  }

  void add(const std::string& public_name, std::shared_ptr<Backend> backend, double weight) {
    auto& m = model(public_name);
    auto slot = std::make_shared<BackendSlot>(std::move(backend), weight);
    if (metrics_) {
      const auto& buckets = obs::Metrics::latency_buckets();
      slot->latency_hist = &metrics_->histogram("kuai_upstream_request_seconds", "Upstream request latency by backend")
                                .Add({{"backend", slot->label()}}, buckets);
      slot->ttft_hist = &metrics_->histogram("kuai_upstream_ttft_seconds", "Upstream time to first token by backend")
                             .Add({{"backend", slot->label()}}, buckets);
      slot->retries = &metrics_->counter("kuai_upstream_retries_total", "Upstream retries by backend")
                           .Add({{"backend", slot->label()}});
      slot->errors = &metrics_->counter("kuai_upstream_errors_total", "Upstream errors by backend and status");
    }
    m.backends.push_back(std::move(slot));
  }

  ModelSlot& model(const std::string& name) {
    auto& p = models_[name];
    if (!p) {
      p = std::make_unique<ModelSlot>();
      p->name = name;
      if (metrics_) {
        p->fallbacks = &metrics_->counter("kuai_upstream_fallbacks_total", "Requests that fell back to a later backend")
                            .Add({{"model", name}});
        p->hedges = &metrics_->counter("kuai_upstream_hedges_total", "Hedged requests started").Add({{"model", name}});
        p->hedge_wins = &metrics_->counter("kuai_upstream_hedge_wins_total", "Hedged requests won by the hedge")
                             .Add({{"model", name}});
      }
    }
    return *p;
  }

  std::vector<std::string> model_names() const override {
    std::vector<std::string> out;
    for (const auto& [k, v] : models_) out.push_back(k);
    return out;
  }
  bool has_model(std::string_view name) const override { return models_.count(std::string(name)) > 0; }

  asio::awaitable<api::ChatResponse> complete(const api::ChatRequest& req, const api::Tenant* tenant) override {
    // (named function objects, not temporaries, across the co_await: g++ 12 coroutine temporaries)
    HedgeCall<api::ChatResponse> hedge = [&req](BackendSlot& b, const std::shared_ptr<Race>&, int) {
      return b.backend().complete(req);
    };
    Attempt<api::ChatResponse> run = [&req](BackendSlot& b, bool&) { return b.backend().complete(req); };
    co_return co_await dispatch(req.model, tenant, false, std::move(hedge), std::move(run));
  }

  asio::awaitable<void> stream(const api::ChatRequest& req, ChunkSink& sink, const api::Tenant* tenant) override {
    HedgeCall<void> hedge = [&](BackendSlot& b, const std::shared_ptr<Race>& race, int i) -> asio::awaitable<void> {
      RacerSink racing(race, i, b, sink);  // the first token claims the race
      co_await b.backend().stream(req, racing);
    };
    Attempt<void> run = [&](BackendSlot& b, bool& committed) -> asio::awaitable<void> {
      TrackingSink tracking(sink, b, committed);  // a chunk reached the client: no retry after it
      co_await b.backend().stream(req, tracking);
    };
    co_await dispatch(req.model, tenant, true, std::move(hedge), std::move(run));
  }

  asio::awaitable<api::Embeddings> embed(const api::EmbeddingRequest& req, const api::Tenant* tenant) override {
    HedgeCall<api::Embeddings> never;  // embeddings are not hedged
    Attempt<api::Embeddings> run = [&req](BackendSlot& b, bool&) { return b.backend().embed(req); };
    co_return co_await dispatch(req.model, tenant, false, std::move(never), std::move(run));
  }

 private:
  ModelSlot& find(const std::string& name) {
    auto it = models_.find(name);
    if (it == models_.end() || it->second->backends.empty())
      throw api::Error::not_found("The model '" + name + "' does not exist");
    return *it->second;
  }

  // The order in which this request tries the model's backends (strategy.h).
  std::vector<BackendSlot*> choose(ModelSlot& m, bool streaming) {
    return order_backends(m.backends, m.strategy, m.requests++, streaming);
  }

  // One hedged call on one backend (the racer's index `i` in `race`). A streamed call claims the race
  // at its first token through a RacerSink; a whole answer is claimed by the routine when it arrives.
  template <class T>
  using HedgeCall = std::function<asio::awaitable<T>(BackendSlot&, const std::shared_ptr<Race>&, int i)>;

  // One try of one request on one backend, giving its answer (T: the answer type, or void); sets
  // `committed` once the client has part of the answer.
  template <class T>
  using Attempt = std::function<asio::awaitable<T>(BackendSlot&, bool& committed)>;

  // The retry loop of complete, stream and embed: runs `attempt` on order[first], order[first + 1], …,
  // each backend up to retry_.max_attempts times (backoff honouring Retry-After), a later backend
  // counted as a fallback. Returns the first success. Throws a final error (the request's fault, or
  // any error once the attempt was committed) at once, else the last error when every backend failed
  // (`last`: an earlier one, e.g. from a hedged race).
  template <class T>
  asio::awaitable<T> try_backends(ModelSlot& m, const std::vector<BackendSlot*>& order, size_t first,
                                  std::optional<api::Error> last, const std::string& model, Attempt<T> attempt) {
    for (size_t i = first; i < order.size(); ++i) {
      BackendSlot& b = *order[i];
      if (i > 0 && m.fallbacks) m.fallbacks->Increment();
      for (int n = 1;; ++n) {
        auto t0 = Clock::now();
        bool committed = false;
        std::optional<api::Error> err;
        try {
          if constexpr (std::is_void_v<T>) {
            co_await attempt(b, committed);
            record_ok(b, t0);
            co_return;
          } else {
            T answer = co_await attempt(b, committed);
            record_ok(b, t0);
            co_return answer;
          }
        } catch (const api::Error& e) {
          err = e;
        }
        record_error(b, *err, t0);
        if (committed || is_final(*err)) throw *err;
        last = err;
        bool again = co_await should_retry(b, *err, n);
        if (!again) break;
      }
    }
    throw last.value_or(api::Error::unavailable("model '" + model + "' has no backend"));
  }

  // The one path of complete, stream and embed: the tenant's permit (held until the answer is
  // complete), the order of the model's backends, a hedged race on the first two when the model hedges
  // and `hedge` is set, then the retry loop over the backends the race did not use.
  template <class T>
  asio::awaitable<T> dispatch(const std::string& model, const api::Tenant* tenant, bool streaming, HedgeCall<T> hedge,
                              Attempt<T> attempt) {
    ModelSlot& m = find(model);
    auto permit = co_await limiter_.acquire(tenant);
    auto order = choose(m, streaming);
    size_t next = 0;
    std::optional<api::Error> last;
    if (hedge && m.hedge_after.count() > 0 && order.size() >= 2) {
      bool committed = false;  // a streamed racer sent the client a chunk: nothing is retried after it
      try {
        if constexpr (std::is_void_v<T>) {
          co_await hedged(m, *order[0], *order[1], std::move(hedge), committed);
          co_return;
        } else {
          co_return co_await hedged(m, *order[0], *order[1], std::move(hedge), committed);
        }
      } catch (const api::Error& e) {
        if (committed || is_final(e)) throw;
        last = e;
      }
      next = 2;
    }
    if constexpr (std::is_void_v<T>) co_await try_backends(m, order, next, std::move(last), model, std::move(attempt));
    else co_return co_await try_backends(m, order, next, std::move(last), model, std::move(attempt));
  }

  // Waits before the next attempt on the same backend; false: move on to the next backend.
  asio::awaitable<bool> should_retry(BackendSlot& b, const api::Error& e, int attempt) {
    if (!retry_same(e) || attempt >= retry_.max_attempts) co_return false;
    if (e.retry_after_ms > retry_.max_retry_after.count()) co_return false;
    double exp = static_cast<double>(retry_.backoff_initial.count()) * std::pow(2.0, attempt - 1);
    double delay = std::min(exp, static_cast<double>(retry_.backoff_max.count())) * jitter();
    delay = std::max(delay, static_cast<double>(e.retry_after_ms));
    if (b.retries) b.retries->Increment();
    co_await sleep_for(Ms(static_cast<int64_t>(delay)));
    co_return true;
  }

  void record_ok(BackendSlot& b, Clock::time_point t0) {
    double ms = ms_since(t0);
    b.observe_latency(ms);
    if (b.latency_hist) b.latency_hist->Observe(ms / 1000);
  }
  void record_error(BackendSlot& b, const api::Error& e, Clock::time_point t0) {
    if (b.errors) b.errors->Add({{"backend", b.label()}, {"status", std::to_string(e.status())}}).Increment();
    if (e.status() != 499 && !is_final(e)) b.penalize(ms_since(t0));
  }

  // Runs until the race is decided and every racer has finished; handles the caller's cancellation.
  asio::awaitable<void> run_race(std::shared_ptr<Race> race, ModelSlot& m,
                                 std::function<void(int)> start, Ms hedge_after) {
    bool parent_cancelled = false;
    auto wait = [&](std::optional<Clock::time_point> until) -> asio::awaitable<void> {
      race->wake->expires_at(until.value_or(Clock::time_point::max()));
      co_await race->wake->async_wait(kTuple);
      auto cs = co_await asio::this_coro::cancellation_state;
      if (cs.cancelled() != asio::cancellation_type::none) {
        parent_cancelled = true;
        race->cancel_others(-1);
        co_await asio::this_coro::reset_cancellation_state();
      }
    };
    start(0);
    co_await wait(Clock::now() + hedge_after);
    if (race->winner < 0 && !parent_cancelled) {
      if (m.hedges) m.hedges->Increment();
      start(1);
    }
    while (race->running > 0) {
      if (race->winner >= 0 && race->finished[race->winner]) race->cancel_others(race->winner);
      co_await wait(std::nullopt);
    }
    if (parent_cancelled) throw api::Error(499, "request_cancelled", "the client went away", "cancelled");
    if (race->winner == 1 && m.hedge_wins) m.hedge_wins->Increment();
  }

  // The hedging routine of complete and stream: `call` starts on `a`, and on `b` after m.hedge_after
  // without a winner; the first to answer wins and the other is cancelled. Returns the winner's answer,
  // else throws its error (or the last started racer's). `committed`: the client has chunks.
  template <class T>
  asio::awaitable<T> hedged(ModelSlot& m, BackendSlot& a, BackendSlot& b, HedgeCall<T> call, bool& committed) {
    constexpr bool whole = !std::is_void_v<T>;
    auto ex = co_await asio::this_coro::executor;
    auto race = std::make_shared<Race>();
    race->wake = std::make_shared<asio::steady_timer>(ex);
    BackendSlot* slots[2] = {&a, &b};
    std::optional<std::conditional_t<whole, T, bool>> answer;  // the winner's whole answer
    // The racers borrow `call` and `answer`: run_race returns only when both have finished.
    auto racer = [this, race, &call, &answer](int i, BackendSlot* s) -> asio::awaitable<void> {
      auto t0 = Clock::now();
      try {
        if constexpr (whole) {
          T r = co_await call(*s, race, i);
          if (race->claim(i)) answer = std::move(r);
        } else {
          co_await call(*s, race, i);
        }
        // A streamed loser was stopped by its sink, not finished: it is no latency sample.
        if (whole || race->winner == i) record_ok(*s, t0);
      } catch (...) {
        race->error[i] = std::current_exception();
        auto e = api_error_of(race->error[i]);
        // A streamed loser's cancellation (499) is the race's doing, not the backend's: not counted.
        // A whole answer counts every outcome (as it always has).
        if (e && (whole || race->winner == i || e->status() != 499)) record_error(*s, *e, t0);
      }
      race->finished[i] = true;
      --race->running;
      race->wake->cancel();
    };
    auto start = [&](int i) {
      race->started[i] = true;
      ++race->running;
      asio::co_spawn(ex, racer(i, slots[i]), asio::bind_cancellation_slot(race->cancel[i].slot(), asio::detached));
    };
    co_await run_race(race, m, start, m.hedge_after);
    committed = race->forwarded > 0;
    const int lead = race->winner >= 0 ? race->winner : (race->started[1] ? 1 : 0);
    if (race->winner < 0 || race->error[lead]) std::rethrow_exception(race->error[lead]);
    if constexpr (whole) co_return std::move(*answer);
  }

  RetryConfig retry_;
  TierLimiter limiter_;
  obs::Metrics* metrics_;
  std::map<std::string, std::unique_ptr<ModelSlot>> models_;
};

}  // namespace

std::variant<std::unique_ptr<Dispatcher>, std::string> Dispatcher::from_config(
    const config::Config& cfg, boost::asio::any_io_executor executor, obs::Metrics* metrics) {
  (void)executor;
  auto read = read_dispatcher_config(cfg);
  if (auto* err = std::get_if<std::string>(&read)) return *err;
  DispatcherConfig& c = std::get<DispatcherConfig>(read);
  auto client = std::make_shared<http::Client>(c.client);
  auto d = std::make_unique<DispatcherImpl>(c.retry, std::move(c.tiers), c.max_concurrency, metrics);
  for (auto& mc : c.models) {
    ModelSlot& m = d->model(mc.name);
    m.strategy = mc.strategy;
    m.hedge_after = mc.hedge_after;
    for (auto& b : mc.backends) d->add(mc.name, std::make_shared<HttpBackend>(client, std::move(b.options)), b.weight);
  }
  return std::unique_ptr<Dispatcher>(std::move(d));
}

}  // namespace kuai::upstream
