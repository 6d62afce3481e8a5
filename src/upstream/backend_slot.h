// One backend of a public model as the dispatcher sees it: the Backend, its label, weight, and
// exponentially weighted moving averages of its time to first token (streams) and latency (whole
// answers), which the `fastest` strategy sorts by; plus its Prometheus series.
// Threads: the EWMAs are guarded by a mutex; everything else is set at start-up.
#pragma once

#include "upstream/backend.h"

#include <prometheus/counter.h>
#include <prometheus/histogram.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>

namespace kuai::upstream {

class BackendSlot {
 public:
  static constexpr double kAlpha = 0.3;  // weight of the newest sample

  BackendSlot(std::shared_ptr<Backend> backend, double weight)
      : backend_(std::move(backend)), label_(backend_->describe()), weight_(weight) {}

  Backend& backend() const { return *backend_; }
  const std::string& label() const { return label_; }
  double weight() const { return weight_; }

  // Milliseconds; < 0 while no sample exists.
  double ttft_ms() const { std::lock_guard l(mu_); return ttft_ms_; }
  double latency_ms() const { std::lock_guard l(mu_); return latency_ms_; }
  void observe_ttft(double ms) { std::lock_guard l(mu_); ttft_ms_ = mix(ttft_ms_, ms); }
  void observe_latency(double ms) { std::lock_guard l(mu_); latency_ms_ = mix(latency_ms_, ms); }
  // A failed attempt counts as a slow one, so `fastest` moves away from a failing backend.
  void penalize(double elapsed_ms) {
    std::lock_guard l(mu_);
    double p = std::max({elapsed_ms, 1000.0, 2 * std::max(ttft_ms_, latency_ms_)});
    ttft_ms_ = mix(ttft_ms_, std::min(p, 60000.0));
    latency_ms_ = mix(latency_ms_, std::min(p, 60000.0));
  }

  prometheus::Histogram* latency_hist = nullptr;  // kuai_upstream_request_seconds{backend}
  prometheus::Histogram* ttft_hist = nullptr;     // kuai_upstream_ttft_seconds{backend}
  prometheus::Counter* retries = nullptr;         // kuai_upstream_retries_total{backend}
  prometheus::Family<prometheus::Counter>* errors = nullptr;  // kuai_upstream_errors_total{backend,status}

 private:
  static double mix(double old, double sample) { return old < 0 ? sample : old + kAlpha * (sample - old); }

  std::shared_ptr<Backend> backend_;
  std::string label_;
  double weight_;
  mutable std::mutex mu_;
  double ttft_ms_ = -1, latency_ms_ = -1;
};

}  // namespace kuai::upstream
