#include "flows/run_store.h"

namespace kuai::flows {

void RunStore::set_capacity(size_t capacity) {
  std::lock_guard lock(mu_);
  capacity_ = capacity;
  while (runs_.size() > capacity_) runs_.pop_front();
}

void RunStore::put(std::string id, std::string json) {
  std::lock_guard lock(mu_);
  if (capacity_ == 0) return;
  if (runs_.size() == capacity_) runs_.pop_front();
  runs_.emplace_back(std::move(id), std::move(json));
}

std::optional<std::string> RunStore::get(std::string_view id) const {
  std::lock_guard lock(mu_);
  for (auto it = runs_.rbegin(); it != runs_.rend(); ++it)
    if (it->first == id) return it->second;
  return std::nullopt;
}

size_t RunStore::size() const {
  std::lock_guard lock(mu_);
  return runs_.size();
}

}  // namespace kuai::flows
