#include "upstream/strategy.h"

#include <algorithm>
#include <random>

namespace kuai::upstream {

std::optional<Strategy> parse_strategy(std::string_view name) {
  if (name == "ordered") return Strategy::ordered;
  if (name == "fastest") return Strategy::fastest;
  if (name == "weighted") return Strategy::weighted;
  return std::nullopt;
}

std::vector<BackendSlot*> order_backends(const std::vector<std::shared_ptr<BackendSlot>>& backends, Strategy strategy,
                                         uint64_t n, bool streaming) {
  std::vector<BackendSlot*> v;
  v.reserve(backends.size());
  for (const auto& b : backends) v.push_back(b.get());
  if (v.size() < 2) return v;
  if (strategy == Strategy::fastest) {
    // Backends with no sample yet first (so each gets measured), then by EWMA.
    auto score = [&](BackendSlot* b) { return streaming ? b->ttft_ms() : b->latency_ms(); };
    std::stable_sort(v.begin(), v.end(), [&](BackendSlot* a, BackendSlot* b) { return score(a) < score(b); });
    if (n % 20 == 19) std::swap(v[0], v[1]);  // explore: a recovered backend gets measured again
  } else if (strategy == Strategy::weighted) {
    double total = 0;
    for (auto* b : v) total += std::max(0.0, b->weight());
    if (total > 0) {
      thread_local std::mt19937_64 rng(std::random_device{}());
      double r = std::uniform_real_distribution<double>(0, total)(rng);
      size_t pick = 0;
      for (; pick + 1 < v.size(); ++pick) {
        r -= std::max(0.0, v[pick]->weight());
        if (r < 0) break;
      }
      std::rotate(v.begin(), v.begin() + static_cast<long>(pick), v.begin() + static_cast<long>(pick) + 1);
    }
  }
  return v;
}

}  // namespace kuai::upstream
