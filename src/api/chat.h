// OpenAI chat/completions/embeddings request and response types, as the gateway passes them around.
// Every request keeps the JSON object it came from (`raw`): fields kuai does not model pass through to
// the upstream untouched, and fields a stage rewrites (messages, model) are written back on send.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kuai::api {

struct Message {
  std::string role;      // "system" | "user" | "assistant" | "tool" | "developer"
  std::string content;   // text; array content parts are joined text parts (original kept in `raw`)
  boost::json::object raw;  // the message as received (tool_calls, name, tool_call_id, content parts …)

  bool has_tool_calls() const { return raw.contains("tool_calls"); }
  bool is_tool_result() const { return role == "tool"; }
};

struct ChatRequest {
  std::string model;                  // public model name as the client sent it
  std::vector<Message> messages;
  bool stream = false;
  bool include_usage = false;         // stream_options.include_usage
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<int64_t> max_tokens;  // max_tokens or max_completion_tokens
  std::optional<int64_t> seed;
  std::vector<std::string> stop;
  int64_t n = 1;                      // choices asked for
  bool logprobs = false;
  // Legacy /v1/completions: the prompt exactly as sent (messages then hold it as one user turn). A local
  // model reads it as raw text, without its chat template.
  std::optional<std::string> raw_prompt;
  boost::json::object raw;            // the body as received, minus `messages` (moved into Message::raw)
  // When not empty: the exact bytes an HttpBackend sends instead of to_json() (unless it renames the
  // model). Set by the server right before dispatch, only when no stage ran and nothing was rewritten.
  std::string wire_body;
  // True when the caller only forwards the answer's bytes (ChatResponse::wire_body) and nothing reads
  // its parsed fields (no stage ran, so no on_response hook): an HttpBackend then only checks the
  // answer (same errors as a full parse) and leaves id/model/choices/usage empty. Set by the server
  // together with wire_body.
  bool forward_answer_bytes = false;

  // The body to send upstream: `raw` with model/messages/stream replaced by the fields above.
  boost::json::object to_json() const;
};

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t total_tokens() const { return prompt_tokens + completion_tokens; }
};

struct Choice {
  int index = 0;
  std::string content;
  std::string finish_reason = "stop";  // "stop" | "length" | "tool_calls" | "content_filter"
  boost::json::object message_raw;      // the full assistant message when the upstream sent extras (tool_calls)
};

struct ChatResponse {
  std::string id;
  std::string model;
  int64_t created = 0;
  std::vector<Choice> choices;
  std::optional<Usage> usage;
  bool cached = false;                // answered by kuai's cache, not a model
  boost::json::object raw;            // the upstream's body when there was one (extra fields pass through)
  // The upstream's body exactly as received (HttpBackend::complete); the server sends it as is for a
  // chat request that the dispatcher answered, instead of serialising to_json() again.
  std::string wire_body;

  boost::json::object to_json() const;
  const std::string& text() const;   // choices[0].content, or an empty string
};

// One streamed chunk. `json` is the exact `data:` payload (passed through untouched from an upstream);
// `delta` is the text it adds to choice 0, parsed once so stages (cache store) need not reparse.
struct ChatChunk {
  std::string json;
  std::string delta;
  std::optional<std::string> finish_reason;
  std::optional<Usage> usage;
};

struct EmbeddingRequest {
  std::string model;
  std::vector<std::string> input;     // a string input becomes one element
  boost::json::object raw;
  boost::json::object to_json() const;
};

struct Embeddings {
  std::string model;
  std::vector<std::vector<float>> data;
  Usage usage;
  boost::json::object to_json() const;
};

// Legacy /v1/completions request: a prompt instead of messages.
struct CompletionRequest {
  std::string model;
  std::string prompt;
  bool stream = false;
  std::optional<int64_t> max_tokens;
  boost::json::object raw;
};

}  // namespace kuai::api
