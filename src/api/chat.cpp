#include "api/chat.h"
#include "api/error.h"

#include <boost/json.hpp>

namespace kuai::api {
namespace json = boost::json;

json::object ChatRequest::to_json() const {
  json::object out = raw;
  out["model"] = model;
  json::array msgs;
  msgs.reserve(messages.size());
  for (const auto& m : messages) {
    json::object o = m.raw;
    o["role"] = m.role;
    // A stage that rewrote the text replaces array content with the plain string.
    auto it = o.find("content");
    bool was_text = it == o.end() || it->value().is_string() || it->value().is_null();
    std::string original;
    if (!was_text) {
      for (const auto& part : it->value().as_array())
        if (part.is_object() && part.as_object().contains("text") && part.as_object().at("text").is_string())
          original += part.as_object().at("text").as_string().c_str();
    }
    if (was_text || original != m.content) {
      if (!(m.content.empty() && it != o.end() && it->value().is_null())) o["content"] = m.content;
    }
    msgs.push_back(std::move(o));
  }
  out["messages"] = std::move(msgs);
  if (stream) out["stream"] = true; else out.erase("stream");
  return out;
}

const std::string& ChatResponse::text() const {
  static const std::string empty;
  return choices.empty() ? empty : choices.front().content;
}

json::object ChatResponse::to_json() const {
  json::object out = raw;
  out["id"] = id;
  out["object"] = "chat.completion";
  out["created"] = created;
  out["model"] = model;
  json::array cs;
  for (const auto& c : choices) {
    json::object msg = c.message_raw;
    msg["role"] = "assistant";
    msg["content"] = c.content;
    json::object choice;
    choice["index"] = c.index;
    choice["message"] = std::move(msg);
    choice["logprobs"] = nullptr;
    choice["finish_reason"] = c.finish_reason;
    cs.push_back(std::move(choice));
  }
  out["choices"] = std::move(cs);
  if (usage) {
    json::object u;
    u["prompt_tokens"] = usage->prompt_tokens;
    u["completion_tokens"] = usage->completion_tokens;
    u["total_tokens"] = usage->total_tokens();
    if (cached) u["prompt_tokens_details"] = json::object{{"cached_tokens", usage->prompt_tokens}};
    out["usage"] = std::move(u);
  }
  return out;
}

json::object EmbeddingRequest::to_json() const {
  json::object out = raw;
  out["model"] = model;
  json::array in;
  for (const auto& s : input) in.emplace_back(s);
  out["input"] = std::move(in);
  return out;
}

json::object Embeddings::to_json() const {
  json::object out;
  out["object"] = "list";
  json::array items;
  for (size_t i = 0; i < data.size(); ++i) {
    json::array vec;
    vec.reserve(data[i].size());
    for (float f : data[i]) vec.emplace_back(static_cast<double>(f));
    items.push_back(json::object{{"object", "embedding"}, {"index", i}, {"embedding", std::move(vec)}});
  }
  out["data"] = std::move(items);
  out["model"] = model;
  out["usage"] = json::object{{"prompt_tokens", usage.prompt_tokens}, {"total_tokens", usage.prompt_tokens}};
  return out;
}

std::string Error::body() const {
  json::object err;
  err["message"] = what();
  err["type"] = type_;
  err["param"] = param_.empty() ? json::value(nullptr) : json::value(param_);
  err["code"] = code_.empty() ? json::value(nullptr) : json::value(code_);
  return json::serialize(json::object{{"error", std::move(err)}});
}

}  // namespace kuai::api
