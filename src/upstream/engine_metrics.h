// The embedded engine's counters as Prometheus series: kuai_engine_* and kuai_kv_* of one model
// (label model=<name>). The engine reports through sched::EngineObserver and never sees Prometheus.
// Threads: built at start-up; the on_* calls come from that engine's thread only.
#pragma once

#include "engine/sched/engine.h"

#include <cstdint>
#include <string>

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
}  // namespace prometheus
namespace kuai::obs { class Metrics; }

namespace kuai::upstream {

class EngineMetrics final : public engine::sched::EngineObserver {
 public:
  EngineMetrics(obs::Metrics& metrics, const std::string& model);

  void on_step(int64_t tokens, int32_t sequences) override;
  void on_first_token(double seconds) override;
  void on_next_token(double seconds) override;
  void on_generated(int64_t tokens) override;
  void on_stats(const engine::sched::EngineStats& stats) override;

 private:
  prometheus::Gauge* running_ = nullptr;
  prometheus::Gauge* waiting_ = nullptr;
  prometheus::Gauge* batch_tokens_ = nullptr;
  prometheus::Gauge* batch_seqs_ = nullptr;
  prometheus::Histogram* batch_size_ = nullptr;
  prometheus::Counter* preemptions_ = nullptr;
  prometheus::Counter* generated_ = nullptr;
  prometheus::Counter* computed_ = nullptr;
  prometheus::Histogram* ttft_ = nullptr;
  prometheus::Histogram* itl_ = nullptr;
  prometheus::Gauge* blocks_used_ = nullptr;
  prometheus::Gauge* blocks_free_ = nullptr;
  prometheus::Gauge* blocks_cached_ = nullptr;
  prometheus::Gauge* waste_ = nullptr;
  prometheus::Counter* prefix_hit_ = nullptr;
  prometheus::Counter* prefix_query_ = nullptr;
  // The engine's totals at the last on_stats (counters get the difference).
  int64_t last_preemptions_ = 0, last_prefix_hit_ = 0, last_prefix_query_ = 0;
};

}  // namespace kuai::upstream
