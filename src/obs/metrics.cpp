#include "obs/metrics.h"

#include <prometheus/text_serializer.h>

namespace kuai::obs {

std::string Metrics::serialize() const {
  prometheus::TextSerializer serializer;
  return serializer.Serialize(registry_->Collect());
}

prometheus::Family<prometheus::Counter>& Metrics::counter(const std::string& name, const std::string& help) {
  std::lock_guard lock(mu_);
  auto it = counters_.find(name);
  if (it != counters_.end()) return *it->second;
  auto& fam = prometheus::BuildCounter().Name(name).Help(help).Register(*registry_);
  counters_[name] = &fam;
  return fam;
}

prometheus::Family<prometheus::Gauge>& Metrics::gauge(const std::string& name, const std::string& help) {
  std::lock_guard lock(mu_);
  auto it = gauges_.find(name);
  if (it != gauges_.end()) return *it->second;
  auto& fam = prometheus::BuildGauge().Name(name).Help(help).Register(*registry_);
  gauges_[name] = &fam;
  return fam;
}

prometheus::Family<prometheus::Histogram>& Metrics::histogram(const std::string& name, const std::string& help) {
  std::lock_guard lock(mu_);
  auto it = histograms_.find(name);
  if (it != histograms_.end()) return *it->second;
  auto& fam = prometheus::BuildHistogram().Name(name).Help(help).Register(*registry_);
  histograms_[name] = &fam;
  return fam;
}

const prometheus::Histogram::BucketBoundaries& Metrics::latency_buckets() {
  static const prometheus::Histogram::BucketBoundaries b{
      1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2,
      0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  return b;
}

}  // namespace kuai::obs
