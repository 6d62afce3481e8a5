// What the fake upstream answers, decided without any I/O: a request (method, target, headers of
// interest, body) → a Reply that the server loop (server.cpp) writes, with its delays. Also the
// counters served by GET /stats. Beast-free so it can be unit-tested directly.
// Thread-safety: Responder::handle and the counters may be called from any I/O thread.
#pragma once

#include "fakeup/options.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kuai::fakeup {

struct Event {
  std::string data;    // the `data:` payload
  bool paced = false;  // preceded by Reply::token_delay (tokens after the first)
};

struct Reply {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;                          // non-stream body
  bool stream = false;                       // SSE: `events` are the `data:` payloads, [DONE] included
  std::vector<Event> events;
  std::chrono::microseconds first_delay{0};  // before the answer (non-stream) or the first event
  std::chrono::microseconds token_delay{0};  // between events after the first
  int cut_after_events = -1;                 // close the connection after N events (or mid-body); <0 never
  bool close_connection = false;
  bool model_request = false;                // chat, completions, embeddings: counted in model_in_flight
};

// Counters for GET /stats (JSON). Connection counters are bumped by the server loop.
struct Stats {
  std::atomic<int64_t> connections_accepted{0};
  std::atomic<int64_t> connections_active{0};
  std::atomic<int64_t> streams_started{0};
  std::atomic<int64_t> streams_completed{0};
  std::atomic<int64_t> streams_aborted{0};   // the client went away before the stream ended
  std::atomic<int64_t> streams_cut{0};       // cut on purpose (--cut-stream-after)
  std::atomic<int64_t> model_in_flight{0};   // model requests being answered now …
  std::atomic<int64_t> model_in_flight_max{0};  // … and the most at once (what a concurrency limit bounds)

  std::mutex mu;                             // guards the fields below
  int64_t requests = 0;                      // every HTTP request
  int64_t model_requests = 0;                // chat, completions, embeddings
  std::map<std::string, int64_t> by_path, by_model, by_status;
  std::string last_authorization;
  std::string last_body;                     // body of the last model request, as received
  int64_t last_prompt_tokens = 0;

  std::string to_json();
  void reset();
};

struct Incoming {
  std::string_view method;
  std::string_view target;
  std::string_view authorization;
  std::string_view body;
};

class Responder {
 public:
  explicit Responder(Options opts) : opts_(std::move(opts)) {}

  Reply handle(const Incoming& in);
  Stats& stats() { return stats_; }
  const Options& options() const { return opts_; }

 private:
  Reply chat(const Incoming& in, int64_t seq);
  Reply completion(const Incoming& in, int64_t seq);
  Reply embeddings(const Incoming& in, int64_t seq);
  Reply models() const;
  void apply_delays(Reply& r, int64_t prompt_tokens, int64_t answer_tokens) const;

  Options opts_;
  Stats stats_;
};

}  // namespace kuai::fakeup
