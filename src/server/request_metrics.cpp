#include "server/request_metrics.h"

#include "obs/metrics.h"

#include <string>

namespace kuai::server {

std::string_view route_name(Route r) {
  switch (r) {
    case Route::chat: return "chat";
    case Route::completions: return "completions";
    case Route::embeddings: return "embeddings";
    case Route::models: return "models";
    case Route::healthz: return "healthz";
    case Route::metrics: return "metrics";
    case Route::admin: return "admin";
    case Route::stage: return "stage";
    case Route::websocket: return "websocket";
    case Route::dashboard: return "dashboard";
    case Route::files: return "files";
    case Route::batches: return "batches";
    case Route::chat_jobs: return "chat_jobs";
    case Route::flows: return "flows";
    case Route::other: case Route::count_: break;
  }
  return "other";
}

RequestMetrics::RequestMetrics(obs::Metrics& m) {
  requests_ = &m.counter("kuai_requests_total", "HTTP requests by route and status");
  in_flight_ = &m.gauge("kuai_requests_in_flight", "Requests being served now").Add({});
  auto& hist = m.histogram("kuai_request_duration_seconds", "Whole request latency by route");
  auto& first = m.histogram("kuai_request_first_byte_seconds", "Time to the first byte of the response body by route");
  for (size_t i = 0; i < latency_.size(); ++i) {
    std::string name(route_name(static_cast<Route>(i)));
    latency_[i] = &hist.Add({{"route", name}}, obs::Metrics::latency_buckets());
    first_byte_[i] = &first.Add({{"route", name}}, obs::Metrics::latency_buckets());
    ok_[i] = &requests_->Add({{"route", name}, {"status", "200"}});
  }
}

void RequestMetrics::started(Route route) {
  if (route != Route::dashboard) in_flight_->Increment();
}

void RequestMetrics::finished(Route route, int status, double seconds, double first_byte_seconds) {
  if (route != Route::dashboard) in_flight_->Decrement();
  latency_[static_cast<size_t>(route)]->Observe(seconds);
  first_byte_[static_cast<size_t>(route)]->Observe(first_byte_seconds);
  if (status == 200) {
    ok_[static_cast<size_t>(route)]->Increment();
    return;
  }
  requests_->Add({{"route", std::string(route_name(route))}, {"status", std::to_string(status)}}).Increment();
}

}  // namespace kuai::server
