#include "api/stream.h"

#include <boost/json.hpp>

#include <chrono>

namespace kuai::api {
namespace json = boost::json;
namespace {

// Appends `s` as a JSON string literal (quotes included).
void append_json_string(std::string& out, std::string_view s) {
  out += json::serialize(json::string_view(s.data(), s.size()));
}

void append_head(std::string& out, std::string_view object, std::string_view id, std::string_view model,
                 int64_t created) {
  out += "{\"id\":";
  append_json_string(out, id);
  out += ",\"object\":\"";
  out += object;
  out += "\",\"created\":";
  out += std::to_string(created);
  out += ",\"model\":";
  append_json_string(out, model);
}

// Largest cut ≤ limit that does not split a UTF-8 sequence, preferring just after whitespace.
size_t cut_point(std::string_view s, size_t limit) {
  if (s.size() <= limit) return s.size();
  size_t cut = limit;
  for (size_t i = limit; i > limit / 2; --i) {
    if (s[i - 1] == ' ' || s[i - 1] == '\n') return i;
  }
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return cut == 0 ? limit : cut;
}

}  // namespace

std::string sse_event(std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 8);
  out += "data: ";
  out += payload;
  out += "\n\n";
  return out;
}

std::string chunk_json(std::string_view id, std::string_view model, int64_t created, std::string_view role,
                       std::string_view delta, std::optional<std::string_view> finish_reason) {
  std::string out;
  out.reserve(128 + delta.size());
  append_head(out, "chat.completion.chunk", id, model, created);
  out += ",\"choices\":[{\"index\":0,\"delta\":{";
  bool any = false;
  if (!role.empty()) {
    out += "\"role\":";
    append_json_string(out, role);
    any = true;
  }
  if (!delta.empty() || !role.empty()) {
    if (any) out += ',';
    out += "\"content\":";
    append_json_string(out, delta);
  }
  out += "},\"logprobs\":null,\"finish_reason\":";
  if (finish_reason) append_json_string(out, *finish_reason);
  else out += "null";
  out += "}]}";
  return out;
}

std::string usage_chunk_json(std::string_view id, std::string_view model, int64_t created, const Usage& usage) {
  std::string out;
  append_head(out, "chat.completion.chunk", id, model, created);
  out += ",\"choices\":[],\"usage\":{\"prompt_tokens\":" + std::to_string(usage.prompt_tokens) +
         ",\"completion_tokens\":" + std::to_string(usage.completion_tokens) +
         ",\"total_tokens\":" + std::to_string(usage.total_tokens()) + "}}";
  return out;
}

std::vector<ChatChunk> replay_chunks(const ChatResponse& resp, bool include_usage, size_t piece_bytes) {
  std::vector<ChatChunk> out;
  if (piece_bytes == 0) piece_bytes = 64;
  const std::string& text = resp.text();
  std::string finish = resp.choices.empty() ? "stop" : resp.choices.front().finish_reason;
  out.push_back({chunk_json(resp.id, resp.model, resp.created, "assistant", "", std::nullopt), "", std::nullopt,
                 std::nullopt});
  std::string_view rest(text);
  while (!rest.empty()) {
    size_t n = cut_point(rest, piece_bytes);
    std::string_view piece = rest.substr(0, n);
    out.push_back({chunk_json(resp.id, resp.model, resp.created, "", piece, std::nullopt), std::string(piece),
                   std::nullopt, std::nullopt});
    rest.remove_prefix(n);
  }
  out.push_back({chunk_json(resp.id, resp.model, resp.created, "", "", finish), "", finish, std::nullopt});
  if (include_usage) {
    Usage u = resp.usage.value_or(Usage{});
    out.push_back({usage_chunk_json(resp.id, resp.model, resp.created, u), "", std::nullopt, u});
  }
  return out;
}

void ResponseAssembler::add(const ChatChunk& chunk) {
  text_ += chunk.delta;
  if (chunk.finish_reason) finish_reason_ = chunk.finish_reason;
  if (chunk.usage) usage_ = chunk.usage;
}

ChatResponse ResponseAssembler::take(std::string id, std::string model, int64_t created) {
  ChatResponse r;
  r.id = std::move(id);
  r.model = std::move(model);
  r.created = created;
  Choice c;
  c.content = std::move(text_);
  c.finish_reason = finish_reason_.value_or("stop");
  r.choices.push_back(std::move(c));
  r.usage = usage_;
  return r;
}

std::string completion_json(const ChatResponse& resp) {
  json::object out;
  out["id"] = resp.id;
  out["object"] = "text_completion";
  out["created"] = resp.created;
  out["model"] = resp.model;
  json::array choices;
  for (const auto& c : resp.choices) {
    choices.push_back(json::object{{"text", c.content}, {"index", c.index}, {"logprobs", nullptr},
                                   {"finish_reason", c.finish_reason}});
  }
  out["choices"] = std::move(choices);
  if (resp.usage) {
    out["usage"] = json::object{{"prompt_tokens", resp.usage->prompt_tokens},
                                {"completion_tokens", resp.usage->completion_tokens},
                                {"total_tokens", resp.usage->total_tokens()}};
  }
  return json::serialize(out);
}

std::string completion_chunk_json(std::string_view id, std::string_view model, int64_t created,
                                  std::string_view text, std::optional<std::string_view> finish_reason) {
  std::string out;
  append_head(out, "text_completion", id, model, created);
  out += ",\"choices\":[{\"text\":";
  append_json_string(out, text);
  out += ",\"index\":0,\"logprobs\":null,\"finish_reason\":";
  if (finish_reason) append_json_string(out, *finish_reason);
  else out += "null";
  out += "}]}";
  return out;
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace kuai::api
