// The finished runs a gateway keeps for GET /v1/flows/runs/{id}: the newest `capacity` runs as JSON
// text; older ones are dropped. Thread-safety: any thread (one mutex).
#pragma once

#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

namespace kuai::flows {

class RunStore {
 public:
  explicit RunStore(size_t capacity = 100) : capacity_(capacity) {}
  void set_capacity(size_t capacity);
  void put(std::string id, std::string json);
  std::optional<std::string> get(std::string_view id) const;
  size_t size() const;

 private:
  mutable std::mutex mu_;
  size_t capacity_;
  std::deque<std::pair<std::string, std::string>> runs_;  // oldest first
};

}  // namespace kuai::flows
