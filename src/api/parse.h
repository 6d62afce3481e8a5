// JSON text → request types, with the validation OpenAI applies. Every failure throws api::Error 400
// (type invalid_request_error) naming the offending field in `param` ("messages[2].role", "model"…),
// so the HTTP edge can answer it as is. Never aborts on any input.
// Thread-safety: pure functions.
#pragma once

#include "api/chat.h"

#include <string_view>

namespace kuai::api {

// POST /v1/chat/completions. `raw` keeps every field except `messages`, whose objects are moved into
// Message::raw (ChatRequest::to_json puts them back), so unknown fields pass through untouched.
ChatRequest parse_chat_request(std::string_view body);
// POST /v1/embeddings: `input` is a string or an array of strings (token arrays are rejected).
EmbeddingRequest parse_embedding_request(std::string_view body);
// POST /v1/completions: `prompt` is a string or an array holding one string.
CompletionRequest parse_completion_request(std::string_view body);

// The legacy completion as a chat request with one user message (unknown fields pass through).
ChatRequest chat_request_from_completion(const CompletionRequest& req);

}  // namespace kuai::api
