// The dispatcher's configuration, read from the gateway config (`models.*`, `tiers`, `upstream.*`;
// docs/CONFIG.md, "Models, backends, tiers") into plain values, with `${ENV}` expansion of API keys.
// A bad value is an error message naming its key, never an exception.
#pragma once

#include "http/client.h"
#include "upstream/http_backend.h"
#include "upstream/strategy.h"
#include "upstream/tier_limiter.h"

#include <chrono>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace kuai::config { class Config; }

namespace kuai::upstream {

struct RetryConfig {
  int max_attempts = 2;                          // attempts per backend (1: no retry)
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{2000};
  std::chrono::milliseconds max_retry_after{10000};  // a longer Retry-After → fall back at once instead of waiting
};

struct HttpBackendConfig {
  HttpBackendOptions options;
  double weight = 1.0;  // strategy `weighted`
};

struct ModelConfig {
  std::string name;  // the public model name
  Strategy strategy = Strategy::ordered;
  std::chrono::milliseconds hedge_after{0};  // 0: no hedging
  std::vector<HttpBackendConfig> backends;   // `type: http` ones; others (the engine) are added later
};

struct DispatcherConfig {
  RetryConfig retry;
  std::map<std::string, TierConfig> tiers;  // tier name → limits
  int max_concurrency = 0;                  // upstream.max_concurrency (0: unlimited)
  http::ClientOptions client;               // the one upstream HTTP client's options
  std::vector<ModelConfig> models;          // in config order
};

std::variant<DispatcherConfig, std::string> read_dispatcher_config(const config::Config& cfg);

// "${NAME}" → the environment variable NAME ("" when unset); anything else unchanged.
std::string expand_env(const std::string& value);

}  // namespace kuai::upstream
