// What comes back from an OpenAI-compatible upstream, turned into api types: response bodies, stream
// chunks, embeddings, and error statuses → api::Error (with the status kuai's client should see).
// Anything that is not the expected JSON is api::Error 502 (code "bad_upstream_response").
// Pure functions, any thread.
#pragma once

#include "api/chat.h"
#include "api/error.h"

#include <string>
#include <string_view>

namespace kuai::upstream {

api::ChatResponse parse_chat_response(std::string_view body);
// The checks of parse_chat_response (same errors), without building the answer: for an answer that is
// forwarded byte for byte (api::ChatRequest::forward_answer_bytes).
void check_chat_response(std::string_view body);
// One `data:` payload of a chat stream; `json` keeps the payload untouched.
api::ChatChunk parse_chat_chunk(std::string_view data);
api::Embeddings parse_embeddings(std::string_view body);

// A non-2xx upstream answer as the error kuai's client gets:
//  429 → 429 (retry_after_ms from `retry-after-ms` or `retry-after` seconds); 400/404/409/413/422 → same
//  status (the request's fault, message passed on); 401/403 → 502 (kuai's upstream credentials are
//  wrong, the client cannot fix that); 503 → 503; 504 → 504; other 5xx and anything else → 502.
api::Error error_from_status(int status, std::string_view body, std::string_view retry_after,
                             std::string_view retry_after_ms, std::string_view backend);

// Milliseconds from Retry-After headers (delta-seconds, fractional allowed; HTTP dates ignored); 0: none.
int retry_after_from_headers(std::string_view retry_after, std::string_view retry_after_ms);

}  // namespace kuai::upstream
