// The gateway's own Prometheus series (stage histograms live in pipeline::Pipeline):
//   kuai_requests_total{route,status}           counter
//   kuai_request_duration_seconds{route}        histogram (whole request, first byte to last byte)
//   kuai_request_first_byte_seconds{route}      histogram (to the first byte of the response body: time
//                                               to first token for streams)
//   kuai_requests_in_flight                     gauge (the dashboard's own event streams left out)
// Thread-safety: any I/O thread.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include <array>
#include <string_view>

namespace kuai::obs { class Metrics; }

namespace kuai::server {

enum class Route {
  chat, completions, embeddings, models, healthz, metrics, admin, stage, websocket, dashboard, files, batches, chat_jobs,
  flows, other, count_
};
std::string_view route_name(Route r);

class RequestMetrics {
 public:
  explicit RequestMetrics(obs::Metrics& metrics);
  void started(Route route);
  void finished(Route route, int status, double seconds, double first_byte_seconds);

 private:
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Gauge* in_flight_;
  std::array<prometheus::Histogram*, static_cast<size_t>(Route::count_)> latency_{};
  std::array<prometheus::Histogram*, static_cast<size_t>(Route::count_)> first_byte_{};
  std::array<prometheus::Counter*, static_cast<size_t>(Route::count_)> ok_{};  // status 200, the hot path
};

}  // namespace kuai::server
