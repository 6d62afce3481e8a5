// The last N requests the gateway answered, for the dashboard's request list (issue 23): what a
// request was, how long it took, and what each stage decided, as the gateway told the client
// (its `Server-Timing` entries and `x-kuai-*` headers). Bounded memory: a ring of `capacity` records,
// each with at most `kMaxContent` bytes of message text (and that only with dashboard.show_content).
// Thread-safety: add() and since() from any thread.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace kuai::server {

struct RequestRecord {
  uint64_t seq = 0;          // 1, 2, … in the order requests finished
  int64_t unix_ms = 0;       // when it finished
  std::string method, path, tenant, model;
  int status = 0;
  bool stream = false;
  double total_ms = 0;       // first request byte to last response byte
  double first_byte_ms = 0;  // to the first byte of the response body (time to first token for streams)
  std::string server_timing;                                // as sent: "cache;dur=0.2, upstream;dur=3, …"
  std::vector<std::pair<std::string, std::string>> kuai;    // the x-kuai-* headers, as sent
  std::string error;                                        // the error message, when it failed
  std::string content;                                      // last user message (show_content only)
};

class RecentRequests {
 public:
  static constexpr size_t kMaxContent = 2000;

  explicit RecentRequests(size_t capacity) : capacity_(capacity) {}
  void add(RequestRecord r);
  // The records with seq > after, oldest first (at most `capacity`).
  std::vector<RequestRecord> since(uint64_t after) const;

 private:
  size_t capacity_;
  mutable std::mutex mu_;
  std::deque<RequestRecord> ring_;
  uint64_t next_seq_ = 1;
};

}  // namespace kuai::server
