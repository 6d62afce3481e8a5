// Incremental parser of a text/event-stream body (the WHATWG "server-sent events" rules): bytes go in
// as they arrive, split anywhere (inside a line, between CR and LF, inside a UTF-8 sequence); complete
// events come out. LF, CRLF and lone CR end lines; `: …` lines are comments (heartbeats, counted);
// several `data:` lines join with "\n"; one space after the colon is dropped; a leading BOM is skipped;
// an event is dispatched at a blank line, and only when it has data. Pure, no I/O; one per stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kuai::http {

struct SseEvent {
  std::string event;              // the `event:` field; empty means "message"
  std::string data;               // `data:` lines joined with "\n"
  std::string id;                 // the last `id:` seen (it persists across events, as the spec says)
  std::optional<int64_t> retry_ms;
};

class SseParser {
 public:
  // An event (or a line) larger than `max_event_bytes` is an error: feed() returns false.
  explicit SseParser(size_t max_event_bytes = 16u << 20) : max_event_bytes_(max_event_bytes) {}

  // Appends every event completed by `bytes` to `out`. False when an event exceeds the limit (the
  // parser is then unusable).
  bool feed(std::string_view bytes, std::vector<SseEvent>& out);

  int64_t comments() const { return comments_; }  // comment lines seen (e.g. ": keep-alive")
  // True when some bytes of an unfinished event are buffered (a stream that ends here was cut).
  bool has_partial() const { return !line_.empty() || have_data_ || !event_.empty(); }

 private:
  bool process_line(std::string_view line, std::vector<SseEvent>& out);

  size_t max_event_bytes_;
  std::string line_;            // the unfinished line
  bool skip_lf_ = false;        // the previous chunk ended with CR: an LF right after belongs to it
  bool at_start_ = true;        // BOM check
  std::string data_, event_, id_;
  bool have_data_ = false;
  std::optional<int64_t> retry_;
  int64_t comments_ = 0;
  bool failed_ = false;
};

}  // namespace kuai::http
