// How a public model orders its backends for one request (config `models.<name>.strategy`):
//   ordered   the listed order (the first is primary, the rest fallbacks);
//   fastest   by the lowest moving average of time to first token (streams) or latency (whole
//             answers), backends with no sample yet first; every 20th request swaps the first two so
//             a recovered backend gets measured again;
//   weighted  one backend drawn with probability weight / total goes first, the rest keep their order.
// Thread-safety: order_backends may run on any thread (BackendSlot's averages are locked).
#pragma once

#include "upstream/backend_slot.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

namespace kuai::upstream {

enum class Strategy { ordered, fastest, weighted };

// nullopt for a name that is none of ordered, fastest, weighted.
std::optional<Strategy> parse_strategy(std::string_view name);

// The order in which request number `n` of a model (counted per model from 0) tries `backends`.
std::vector<BackendSlot*> order_backends(const std::vector<std::shared_ptr<BackendSlot>>& backends, Strategy strategy,
                                         uint64_t n, bool streaming);

}  // namespace kuai::upstream
