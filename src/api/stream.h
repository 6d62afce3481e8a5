// Streaming wire format helpers: chat.completion.chunk JSON, SSE framing, replaying a whole answer
// (e.g. a cache hit) as chunks in the live format, assembling a ChatResponse back from chunks, and the
// legacy text_completion shapes. Thread-safety: pure functions; a ResponseAssembler is one request's.
#pragma once

#include "api/chat.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kuai::api {

// SSE framing: "data: <payload>\n\n", and the terminator "data: [DONE]\n\n".
std::string sse_event(std::string_view payload);
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

// The JSON text of one chat.completion.chunk for choice 0. `role` non-empty adds delta.role;
// `finish_reason` set adds it (else null). An empty `delta` with no role gives an empty delta {}.
std::string chunk_json(std::string_view id, std::string_view model, int64_t created, std::string_view role,
                       std::string_view delta, std::optional<std::string_view> finish_reason);
// The include_usage chunk: choices [] and a usage object.
std::string usage_chunk_json(std::string_view id, std::string_view model, int64_t created, const Usage& usage);

// A whole answer as the chunks a live stream would have sent: a role chunk, the text in pieces of about
// `piece_bytes` (cut at whitespace / UTF-8 boundaries), a finish chunk, and a usage chunk when
// `include_usage` (usage from the answer, zeros if unknown). Uses resp.id/model/created.
std::vector<ChatChunk> replay_chunks(const ChatResponse& resp, bool include_usage, size_t piece_bytes = 64);

// Rebuilds the complete answer from the chunks of a stream (text of choice 0, finish reason, usage).
class ResponseAssembler {
 public:
  void add(const ChatChunk& chunk);
  bool finished() const { return finish_reason_.has_value(); }  // a finish_reason was seen
  ChatResponse take(std::string id, std::string model, int64_t created);

 private:
  std::string text_;
  std::optional<std::string> finish_reason_;
  std::optional<Usage> usage_;
};

// Legacy /v1/completions shapes, converted from the chat equivalents.
std::string completion_json(const ChatResponse& resp);  // object "text_completion"
std::string completion_chunk_json(std::string_view id, std::string_view model, int64_t created,
                                  std::string_view text, std::optional<std::string_view> finish_reason);

// Seconds since the Unix epoch (the `created` field).
int64_t unix_now();

}  // namespace kuai::api
