// Per-tenant concurrency tiers (config `tiers.<tier>`) and an optional global cap on requests in
// flight to upstreams (`upstream.max_concurrency`). A request over a limit waits in one priority
// queue (higher `priority` first, then arrival order); a freed slot is handed to the first waiter that
// fits, so nobody barges ahead of a waiting higher-priority request. A waiter still queued after its
// tier's `queue_timeout_ms` gets api::Error 429. Cancelling the waiting coroutine leaves the queue.
// Threads: acquire() from any strand; Permit releases from wherever it is destroyed.
#pragma once

#include "api/tenant.h"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <string>

namespace kuai::upstream {

struct TierConfig {
  int max_concurrency = 0;  // per tenant of this tier; 0: unlimited
  int priority = 0;         // higher is served first
  std::chrono::milliseconds queue_timeout{5000};
};

class TierLimiter {
 public:
  struct State;
  // Releases its slot when destroyed (move-only).
  class Permit {
   public:
    Permit() = default;
    Permit(std::shared_ptr<State> s, std::string tenant) : state_(std::move(s)), tenant_(std::move(tenant)) {}
    Permit(Permit&& o) noexcept = default;
    Permit& operator=(Permit&& o) noexcept;
    ~Permit();

   private:
    std::shared_ptr<State> state_;
    std::string tenant_;
  };

  TierLimiter(std::map<std::string, TierConfig> tiers, int global_max_concurrency);

  // A slot for `tenant` (null: anonymous, no tier limit but the global cap). Throws api::Error 429.
  boost::asio::awaitable<Permit> acquire(const api::Tenant* tenant);

  int in_flight() const;                       // all tenants
  int in_flight(const std::string& tenant) const;
  int waiting() const;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace kuai::upstream
