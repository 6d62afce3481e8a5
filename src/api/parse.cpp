#include "api/parse.h"

#include "api/error.h"

#include <boost/json.hpp>

#include <cstdio>
#include <string>

namespace kuai::api {
namespace json = boost::json;
namespace {

json::object parse_object(std::string_view body) {
  if (body.empty()) throw Error::bad_request("The request body is empty; expected a JSON object.");
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec) {
    throw Error::bad_request(
        "We could not parse the JSON body of your request (" + ec.message() +
        "). The OpenAI API expects a JSON payload.");
  }
  if (!v.is_object()) throw Error::bad_request("The request body must be a JSON object.");
  return std::move(v.as_object());
}

const char* kind_name(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: return "a number";
    case json::kind::string: return "a string";
    case json::kind::array: return "an array";
    case json::kind::object: return "an object";
  }
  return "a value";
}

[[noreturn]] void wrong_type(const std::string& param, const char* expected, const json::value& got) {
  throw Error::bad_request("Invalid type for '" + param + "': expected " + expected + ", but got " +
                               kind_name(got) + ".",
                           param);
}

[[noreturn]] void missing(const std::string& param) {
  throw Error::bad_request("Missing required parameter: '" + param + "'.", param);
}

// A present, non-null field, or nullptr.
const json::value* field(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return nullptr;
  return &it->value();
}

std::string require_string(const json::object& o, std::string_view key) {
  const json::value* v = field(o, key);
  if (!v) missing(std::string(key));
  if (!v->is_string()) wrong_type(std::string(key), "a string", *v);
  if (v->as_string().empty())
    throw Error::bad_request("'" + std::string(key) + "' must not be empty.", std::string(key));
  return std::string(v->as_string());
}

std::optional<bool> opt_bool(const json::object& o, std::string_view key, const std::string& param) {
  const json::value* v = field(o, key);
  if (!v) return std::nullopt;
  if (!v->is_bool()) wrong_type(param, "a boolean", *v);
  return v->as_bool();
}

// 0 → "0", 0.5 → "0.5", -2 → "-2" (JSON's serializer writes 0E0).
std::string plain_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::optional<double> opt_number(const json::object& o, std::string_view key, double lo, double hi) {
  const json::value* v = field(o, key);
  if (!v) return std::nullopt;
  if (!v->is_number()) wrong_type(std::string(key), "a number", *v);
  double d = v->to_number<double>();
  if (d < lo || d > hi) {
    throw Error::bad_request("'" + std::string(key) + "' must be between " + plain_number(lo) + " and " +
                                 plain_number(hi) + ".",
                             std::string(key));
  }
  return d;
}

std::optional<int64_t> opt_int(const json::object& o, std::string_view key, int64_t lo) {
  const json::value* v = field(o, key);
  if (!v) return std::nullopt;
  if (v->is_int64()) {
    if (v->as_int64() < lo)
      throw Error::bad_request("'" + std::string(key) + "' must be at least " + std::to_string(lo) + ".",
                               std::string(key));
    return v->as_int64();
  }
  if (v->is_uint64()) return static_cast<int64_t>(std::min<uint64_t>(v->as_uint64(), INT64_MAX));
  if (v->is_double()) {
    double d = v->as_double();
    if (d == static_cast<double>(static_cast<int64_t>(d)) && d >= static_cast<double>(lo))
      return static_cast<int64_t>(d);
  }
  wrong_type(std::string(key), "an integer", *v);
}

// "messages[i]" + suffix, built only when an error needs it (not once per message and field).
std::string message_param(size_t i, std::string_view suffix) {
  return "messages[" + std::to_string(i) + "]" + std::string(suffix);
}

// Text of messages[i].content: a string, or the text parts of an array of content parts.
std::string content_text(const json::value& v, size_t msg) {
  if (v.is_string()) return std::string(v.as_string());
  const std::string param = message_param(msg, ".content");
  if (!v.is_array()) wrong_type(param, "a string or an array of content parts", v);
  std::string out;
  const auto& parts = v.as_array();
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string p = param + "[" + std::to_string(i) + "]";
    if (!parts[i].is_object()) wrong_type(p, "an object", parts[i]);
    const auto& part = parts[i].as_object();
    const json::value* type = field(part, "type");
    if (!type) missing(p + ".type");
    if (!type->is_string()) wrong_type(p + ".type", "a string", *type);
    if (type->as_string() == "text") {
      const json::value* text = field(part, "text");
      if (!text) missing(p + ".text");
      if (!text->is_string()) wrong_type(p + ".text", "a string", *text);
      out += text->as_string();
    }
  }
  return out;
}

bool known_role(std::string_view r) {
  return r == "system" || r == "user" || r == "assistant" || r == "tool" || r == "developer" || r == "function";
}

// A field that is "one string" or "an array of strings" (stop, input); `element` says what each array
// element must be.
std::vector<std::string> string_or_strings(const json::value& v, const std::string& name, const char* element) {
  std::vector<std::string> out;
  if (v.is_string()) {
    out.emplace_back(v.as_string());
  } else if (v.is_array()) {
    const auto& arr = v.as_array();
    out.reserve(arr.size());
    for (size_t i = 0; i < arr.size(); ++i) {
      if (!arr[i].is_string()) wrong_type(name + "[" + std::to_string(i) + "]", element, arr[i]);
      out.emplace_back(arr[i].as_string());
    }
  } else {
    wrong_type(name, "a string or an array of strings", v);
  }
  return out;
}

}  // namespace

ChatRequest parse_chat_request(std::string_view body) {
  ChatRequest req;
  req.raw = parse_object(body);
  const json::object& o = req.raw;
  req.model = require_string(o, "model");

  auto mit = req.raw.find("messages");
  if (mit == req.raw.end() || mit->value().is_null()) missing("messages");
  if (!mit->value().is_array()) wrong_type("messages", "an array", mit->value());
  json::array& msgs = mit->value().as_array();
  if (msgs.empty()) throw Error::bad_request("'messages' must contain at least one message.", "messages");
  req.messages.reserve(msgs.size());
  for (size_t i = 0; i < msgs.size(); ++i) {
    if (!msgs[i].is_object()) wrong_type(message_param(i, ""), "an object", msgs[i]);
    Message m;
    m.raw = std::move(msgs[i].as_object());
    const json::value* role = field(m.raw, "role");
    if (!role) missing(message_param(i, ".role"));
    if (!role->is_string()) wrong_type(message_param(i, ".role"), "a string", *role);
    if (!known_role(role->as_string())) {
      throw Error::bad_request("Invalid value for '" + message_param(i, ".role") + "': '" +
                                   std::string(role->as_string()) +
                                   "'. Supported values are: 'system', 'developer', 'user', 'assistant' and 'tool'.",
                               message_param(i, ".role"));
    }
    m.role = std::string(role->as_string());
    const json::value* content = field(m.raw, "content");
    if (content) {
      m.content = content_text(*content, i);
    } else if (m.role != "assistant") {
      missing(message_param(i, ".content"));
    }
    req.messages.push_back(std::move(m));
  }
  req.raw.erase(mit);

  req.stream = opt_bool(o, "stream", "stream").value_or(false);
  if (const json::value* so = field(o, "stream_options")) {
    if (!so->is_object()) wrong_type("stream_options", "an object", *so);
    req.include_usage = opt_bool(so->as_object(), "include_usage", "stream_options.include_usage").value_or(false);
  }
  req.temperature = opt_number(o, "temperature", 0.0, 2.0);
  req.top_p = opt_number(o, "top_p", 0.0, 1.0);
  req.max_tokens = opt_int(o, "max_completion_tokens", 1);
  if (!req.max_tokens) req.max_tokens = opt_int(o, "max_tokens", 1);
  req.seed = opt_int(o, "seed", INT64_MIN);
  // Checked here so a bad value is a 400 naming the field on every backend (OpenAI's ranges).
  if (auto n = opt_int(o, "n", 1)) {
    if (*n > 128) throw Error::bad_request("'n' must be between 1 and 128.", "n");
    req.n = *n;
  }
  opt_number(o, "presence_penalty", -2.0, 2.0);
  opt_number(o, "frequency_penalty", -2.0, 2.0);
  req.logprobs = opt_bool(o, "logprobs", "logprobs").value_or(false);
  if (auto top = opt_int(o, "top_logprobs", 0); top && *top > 20)
    throw Error::bad_request("'top_logprobs' must be between 0 and 20.", "top_logprobs");
  if (const json::value* tools = field(o, "tools")) {
    if (!tools->is_array()) wrong_type("tools", "an array", *tools);
    for (size_t i = 0; i < tools->as_array().size(); ++i)
      if (!tools->as_array()[i].is_object()) wrong_type("tools[" + std::to_string(i) + "]", "an object", tools->as_array()[i]);
  }
  if (const json::value* tc = field(o, "tool_choice"); tc && !tc->is_string() && !tc->is_object())
    wrong_type("tool_choice", "a string or an object", *tc);
  if (const json::value* stop = field(o, "stop")) req.stop = string_or_strings(*stop, "stop", "a string");
  return req;
}

EmbeddingRequest parse_embedding_request(std::string_view body) {
  EmbeddingRequest req;
  req.raw = parse_object(body);
  const json::object& o = req.raw;
  req.model = require_string(o, "model");
  const json::value* in = field(o, "input");
  if (!in) missing("input");
  if (in->is_array() && in->as_array().empty()) throw Error::bad_request("'input' must not be empty.", "input");
  req.input = string_or_strings(*in, "input", "a string (token arrays are not supported)");
  return req;
}

CompletionRequest parse_completion_request(std::string_view body) {
  CompletionRequest req;
  req.raw = parse_object(body);
  const json::object& o = req.raw;
  req.model = require_string(o, "model");
  const json::value* prompt = field(o, "prompt");
  if (!prompt) missing("prompt");
  if (prompt->is_string()) {
    req.prompt = std::string(prompt->as_string());
  } else if (prompt->is_array() && prompt->as_array().size() == 1 && prompt->as_array()[0].is_string()) {
    req.prompt = std::string(prompt->as_array()[0].as_string());
  } else if (prompt->is_array()) {
    throw Error::bad_request("'prompt' must be a string or an array holding one string.", "prompt");
  } else {
    wrong_type("prompt", "a string", *prompt);
  }
  req.stream = opt_bool(o, "stream", "stream").value_or(false);
  req.max_tokens = opt_int(o, "max_tokens", 1);
  opt_number(o, "temperature", 0.0, 2.0);
  return req;
}

ChatRequest chat_request_from_completion(const CompletionRequest& req) {
  ChatRequest out;
  out.raw = req.raw;
  out.raw.erase("prompt");
  out.raw.erase("echo");
  out.raw.erase("suffix");
  out.raw.erase("best_of");
  out.raw.erase("logprobs");
  out.model = req.model;
  Message m;
  m.role = "user";
  m.content = req.prompt;
  m.raw = json::object{{"role", "user"}, {"content", req.prompt}};
  out.messages.push_back(std::move(m));
  out.raw_prompt = req.prompt;
  out.stream = req.stream;
  out.max_tokens = req.max_tokens;
  if (const auto* so = out.raw.if_contains("stream_options"); so && so->is_object()) {
    if (const auto* iu = so->as_object().if_contains("include_usage"); iu && iu->is_bool()) out.include_usage = iu->as_bool();
  }
  if (const auto* t = out.raw.if_contains("temperature"); t && t->is_number()) out.temperature = t->to_number<double>();
  return out;
}

}  // namespace kuai::api
