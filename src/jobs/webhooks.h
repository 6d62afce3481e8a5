// Webhooks for jobs reaching a final state (batch.completed|failed|expired|cancelled,
// chat.job.completed|failed|cancelled): endpoints from config `jobs.webhooks.endpoints` (per tenant or
// for all) and, for tenants allowed to, a per-job `metadata.webhook_url`; signed as Standard Webhooks (webhook_sign.h), thin payload {id, type, created_at, data: {id}}.
// The event is recorded in the job's final transaction and fanned out to deliveries in the store, so a
// crash loses none; the `webhook-id` (the event id) is the same on every retry. 2xx = delivered; 410
// disables the endpoint; anything else is retried with exponential backoff until `horizon_s` after the
// event. The SSRF guard refuses addresses that are private unless `allow_private` lists them.
//
// Series: kuai_jobs_webhook_deliveries_total{result="delivered"|"retry"|"failed"|"refused"|"disabled"}.
// Threads: one coroutine on its own strand delivers one at a time (each bounded by timeout_ms).
#pragma once

#include "jobs/ssrf_guard.h"
#include "jobs/store.h"

#include <boost/asio/any_io_executor.hpp>

#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace kuai::config { class Config; }
namespace kuai::obs { class Metrics; }

namespace kuai::jobs {

struct WebhookEndpoint {
  std::string url;                   // http:// or https://
  std::vector<std::string> secrets;  // whsec_…; every one signs (rotation)
  std::string tenant;                // empty: every tenant's jobs
};

struct WebhookOptions {
  std::vector<WebhookEndpoint> endpoints;
  // Tenants that may name their own receiver per job (metadata.webhook_url), signed with these secrets.
  std::vector<std::string> request_url_tenants;
  std::vector<std::string> request_url_secrets;
  std::vector<std::string> allow_private;
  int64_t backoff_initial_ms = 1000;
  int64_t backoff_max_ms = 300000;
  int64_t horizon_s = 86400;
  int64_t timeout_ms = 10000;
};

std::variant<WebhookOptions, std::string> webhook_options_from_config(const config::Config& cfg);

class WebhookSender {
 public:
  static std::variant<std::unique_ptr<WebhookSender>, std::string> create(Store& store, boost::asio::any_io_executor io,
                                                                          WebhookOptions options, obs::Metrics* metrics);
  ~WebhookSender();
  void start();
  // An error message when `tenant` may not give this metadata.webhook_url; "" when it may.
  std::string check_request_url(const std::string& tenant, const std::string& url) const;
  // A job reached a final state: look for events now (any thread).
  void notify();
  void stop();

  struct Impl;

 private:
  explicit WebhookSender(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kuai::jobs
