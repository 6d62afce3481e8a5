#include "upstream/tier_limiter.h"

#include "api/error.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <mutex>
#include <vector>

namespace kuai::upstream {
namespace asio = boost::asio;

struct TierLimiter::State {
  struct Waiter {
    std::string tenant;
    int limit = 0;
    int priority = 0;
    uint64_t seq = 0;
    bool granted = false;
    std::shared_ptr<asio::steady_timer> timer;
  };

  std::map<std::string, TierConfig> tiers;
  int global_max = 0;
  mutable std::mutex mu;
  std::map<std::string, int> per_tenant;
  int total = 0;
  uint64_t next_seq = 0;
  std::vector<std::shared_ptr<Waiter>> waiters;  // sorted: priority desc, seq asc

  bool fits(const std::string& tenant, int limit) const {
    if (global_max > 0 && total >= global_max) return false;
    if (limit > 0) {
      auto it = per_tenant.find(tenant);
      if (it != per_tenant.end() && it->second >= limit) return false;
    }
    return true;
  }
  void take(const std::string& tenant) {
    ++per_tenant[tenant];
    ++total;
  }
  // Called with `mu` held.
  void release(const std::string& tenant) {
    // An entry at zero stays (tenants come from config, so the map stays small): no node freed and
    // allocated again on every request.
    auto it = per_tenant.find(tenant);
    if (it != per_tenant.end() && it->second > 0) --it->second;
    --total;
    for (auto w = waiters.begin(); w != waiters.end();) {
      if (fits((*w)->tenant, (*w)->limit)) {
        take((*w)->tenant);
        (*w)->granted = true;
        auto timer = (*w)->timer;
        asio::post(timer->get_executor(), [timer] { timer->cancel(); });
        w = waiters.erase(w);
        if (global_max > 0 && total >= global_max) break;
      } else {
        ++w;
      }
    }
  }
};

TierLimiter::Permit& TierLimiter::Permit::operator=(Permit&& o) noexcept {
  if (this != &o) {
    if (state_) {
      std::lock_guard lock(state_->mu);
      state_->release(tenant_);
    }
    state_ = std::move(o.state_);
    tenant_ = std::move(o.tenant_);
  }
  return *this;
}

TierLimiter::Permit::~Permit() {
  if (!state_) return;
  std::lock_guard lock(state_->mu);
  state_->release(tenant_);
}

TierLimiter::TierLimiter(std::map<std::string, TierConfig> tiers, int global_max_concurrency)
    : state_(std::make_shared<State>()) {
  state_->tiers = std::move(tiers);
  state_->global_max = global_max_concurrency;
}

asio::awaitable<TierLimiter::Permit> TierLimiter::acquire(const api::Tenant* tenant) {
  static const api::Tenant kAnonymous;
  const api::Tenant& t = tenant ? *tenant : kAnonymous;
  TierConfig cfg;
  if (auto it = state_->tiers.find(t.tier); it != state_->tiers.end()) cfg = it->second;
  else {
    cfg.max_concurrency = 0;
    cfg.priority = t.priority;
  }
  if (t.max_concurrency > 0) cfg.max_concurrency = t.max_concurrency;  // a per-tenant override
  if (!tenant) cfg.max_concurrency = 0;

  std::shared_ptr<State::Waiter> waiter;
  {
    std::lock_guard lock(state_->mu);
    // Go now when this request fits and no queued request of at least its priority could take the slot.
    bool blocked = std::any_of(state_->waiters.begin(), state_->waiters.end(), [&](const auto& w) {
      return w->priority >= cfg.priority && state_->fits(w->tenant, w->limit);
    });
    if (!blocked && state_->fits(t.name, cfg.max_concurrency)) {
      state_->take(t.name);
      co_return Permit(state_, t.name);
    }
    waiter = std::make_shared<State::Waiter>();  // only a request that has to wait needs one
    waiter->tenant = t.name;
    waiter->limit = cfg.max_concurrency;
    waiter->priority = cfg.priority;
    waiter->seq = state_->next_seq++;
    waiter->timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor);
    waiter->timer->expires_after(cfg.queue_timeout);
    auto pos = std::find_if(state_->waiters.begin(), state_->waiters.end(),
                            [&](const auto& w) { return w->priority < waiter->priority; });
    state_->waiters.insert(pos, waiter);
  }
  co_await waiter->timer->async_wait(asio::as_tuple(asio::use_awaitable));
  {
    std::lock_guard lock(state_->mu);
    if (waiter->granted) co_return Permit(state_, t.name);
    auto& ws = state_->waiters;
    ws.erase(std::remove(ws.begin(), ws.end(), waiter), ws.end());
  }
  api::Error e = api::Error::rate_limited("tenant '" + t.name + "' (tier '" + t.tier + "') is over its concurrency limit of " +
                                          std::to_string(cfg.max_concurrency) + " and waited " +
                                          std::to_string(cfg.queue_timeout.count()) + " ms in the queue");
  e.retry_after_ms = 1000;
  throw e;
}

int TierLimiter::in_flight() const {
  std::lock_guard lock(state_->mu);
  return state_->total;
}

int TierLimiter::in_flight(const std::string& tenant) const {
  std::lock_guard lock(state_->mu);
  auto it = state_->per_tenant.find(tenant);
  return it == state_->per_tenant.end() ? 0 : it->second;
}

int TierLimiter::waiting() const {
  std::lock_guard lock(state_->mu);
  return static_cast<int>(state_->waiters.size());
}

}  // namespace kuai::upstream
