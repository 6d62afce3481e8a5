// Options of `kuai fake-upstream`: an OpenAI-compatible fake LLM server for tests and benchmarks.
// Every behaviour (delays, errors, cuts) is a deterministic function of the request, the request's
// sequence number and `seed`, so a test can predict what it sees.
#pragma once

#include "fakeup/embedding_pairs.h"

#include <cstdint>
#include <string>
#include <vector>

namespace kuai::fakeup {

// One line of a --script file: when the last message contains `pattern` ("*": any), answer `answer`
// (or, with `status` other than 200, answer that HTTP error).
struct ScriptRule {
  std::string pattern;
  std::string answer;
  int status = 200;
};

struct Options {
  std::string host = "127.0.0.1";
  uint16_t port = 0;                        // 0: pick a free port (printed on stderr when ready)
  int threads = 1;                          // I/O threads
  double ttft_ms = 0;                       // delay before the first token (stream) or the answer
  double tokens_per_s = 0;                  // pacing of answer tokens; 0: no pacing
  int answer_tokens = 16;                   // answer length in tokens (capped by max_tokens)
  double latency_per_prompt_token_us = 0;   // extra first-token delay per prompt token
  double error_rate = 0;                    // fraction of model requests answered 500 (seeded)
  int rate_limit_every = 0;                 // every Nth model request gets 429; 0: never
  double retry_after_s = 1;                 // Retry-After of a 429 (also sent as retry-after-ms)
  int cut_stream_after = -1;                // close the connection after N tokens, without [DONE]; <0: never
  int stream_error_after = -1;              // after N tokens, an SSE `{"error": …}` event ends the stream; <0: never
  bool garbage = false;                     // answer 200 with a body that is not JSON (or SSE of non-JSON)
  uint64_t seed = 0;
  std::string model_name = "fake-model";    // comma-separated ids listed by GET /v1/models
  bool echo = false;                        // the answer is the JSON of the messages received
  int embedding_dim = 64;
  EmbeddingPairs embedding_pairs;           // --embedding-pairs FILE: a stand-in sentence embedder (embedding_pairs.h)
  std::string tls_cert, tls_key;            // PEM files: serve HTTPS instead of HTTP
  std::vector<ScriptRule> script;           // --script FILE: the first rule matching a chat's last message answers it
};

}  // namespace kuai::fakeup
