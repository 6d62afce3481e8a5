// The live dashboard served by the gateway itself at /dashboard (issue 23): static files compiled
// into the binary (data/dashboard/), a login against `admin_key` that sets an HttpOnly, SameSite=Strict
// cookie, and /dashboard/events, an SSE stream that sends every second a snapshot of the gateway's own
// counters (the Prometheus registry, as JSON: no /metrics text is parsed) and the requests finished
// since the last event (RecentRequests). Charts and rates are computed in the browser from
// consecutive snapshots.
// Access: `dashboard.enabled` (default: on when the gateway listens on loopback). With an `admin_key`
// the dashboard needs a login; without one it is open on a loopback listener and refused otherwise.
#pragma once

#include "http/server.h"
#include "server/recent_requests.h"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace kuai::config { class Config; }

namespace kuai::server {

struct DashboardOptions {
  bool enabled = false;
  bool show_content = false;
  size_t max_requests = 200;
  std::string admin_key;  // empty: no login (only on a loopback listener)
  bool loopback = true;   // the gateway listens on a loopback address

  // From config (`dashboard.*`, `admin_key`, `server.host`).
  static DashboardOptions from_config(const config::Config& cfg);
};

// Login sessions: random tokens with an expiry. Thread-safe.
class DashboardSessions {
 public:
  std::string create();                        // a new token, valid for kLifetime
  bool valid(std::string_view token);
  static constexpr std::chrono::hours kLifetime{12};

 private:
  std::mutex mu_;
  std::map<std::string, std::chrono::steady_clock::time_point, std::less<>> expiry_;
};

}  // namespace kuai::server
