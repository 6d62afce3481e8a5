#include "server/recent_requests.h"

namespace kuai::server {

void RecentRequests::add(RequestRecord r) {
  if (capacity_ == 0) return;
  if (r.content.size() > kMaxContent) {
    size_t n = kMaxContent;
    while (n > 0 && (static_cast<unsigned char>(r.content[n]) & 0xC0) == 0x80) --n;  // keep whole UTF-8 characters
    r.content.resize(n);
  }
  std::lock_guard lock(mu_);
  r.seq = next_seq_++;
  if (ring_.size() == capacity_) ring_.pop_front();
  ring_.push_back(std::move(r));
}

std::vector<RequestRecord> RecentRequests::since(uint64_t after) const {
  std::lock_guard lock(mu_);
  std::vector<RequestRecord> out;
  for (const auto& r : ring_)
    if (r.seq > after) out.push_back(r);
  return out;
}

}  // namespace kuai::server
