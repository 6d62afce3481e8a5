#include "upstream/wire.h"

#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/monotonic_resource.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>

namespace kuai::upstream {
namespace json = boost::json;
namespace {

api::Error bad_response(std::string_view what) {
  return api::Error(502, "upstream_error", "upstream sent an invalid response: " + std::string(what),
                    "bad_upstream_response");
}

constexpr const char* kBody = "the response body";
constexpr const char* kNotObject = "is not a JSON object";

// Parses `text` into an object; its memory comes from `sp` (default: the heap).
json::object parse_object(std::string_view text, std::string_view what, json::storage_ptr sp = {}) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec, std::move(sp));
  if (ec) throw bad_response(std::string(what) + " is not JSON");
  if (!v.is_object()) throw bad_response(std::string(what) + " " + kNotObject);
  return std::move(v.get_object());
}

int64_t to_int(const json::value* v) {
  if (!v) return 0;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->get_uint64());
  if (v->is_double()) return static_cast<int64_t>(v->get_double());
  return 0;
}

std::optional<api::Usage> usage_of(const json::object& o) {
  auto* u = o.if_contains("usage");
  if (!u || !u->is_object()) return std::nullopt;
  api::Usage usage;
  usage.prompt_tokens = to_int(u->get_object().if_contains("prompt_tokens"));
  usage.completion_tokens = to_int(u->get_object().if_contains("completion_tokens"));
  return usage;
}

std::string text_of(const json::value* content) {
  if (!content) return {};
  if (content->is_string()) return std::string(content->get_string());
  std::string out;
  if (content->is_array())
    for (const auto& p : content->get_array())
      if (p.is_object())
        if (auto* t = p.get_object().if_contains("text"); t && t->is_string()) out += t->get_string();
  return out;
}

constexpr const char* kNoChoices = "no choices array";
constexpr const char* kChoiceNotObject = "a choice is not an object";
constexpr const char* kChoiceNoMessage = "a choice has no message";

// The checks every chat answer must pass: a `choices` array of objects that each hold a `message` object.
const json::array& checked_choices(const json::object& o) {
  auto* choices = o.if_contains("choices");
  if (!choices || !choices->is_array()) throw bad_response(kNoChoices);
  for (const auto& c : choices->get_array()) {
    if (!c.is_object()) throw bad_response(kChoiceNotObject);
    auto* msg = c.get_object().if_contains("message");
    if (!msg || !msg->is_object()) throw bad_response(kChoiceNoMessage);
  }
  return choices->get_array();
}

// Scratch memory for parsing a body that is only read once: the DOM's nodes come from a stack buffer
// (and, past it, a few heap blocks freed together) instead of one malloc per node.
struct ScratchJson {
  unsigned char buf[4096];
  json::monotonic_resource mr{buf, sizeof buf};
  json::storage_ptr sp() { return json::storage_ptr(&mr); }
};

// checked_choices as SAX events, for an answer that is only forwarded: no DOM, no allocation. Parses
// to the end (a syntax error anywhere wins, as in the DOM parse), and like the DOM keeps the last of
// duplicate keys. Depths: 1 inside the top object, 2 inside `choices`, 3 inside a choice.
class ChoicesCheck {
 public:
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);

  // After a complete parse: the first violation in document order, or nullptr.
  const char* verdict() const {
    if (!top_object_) return kNotObject;
    if (!choices_array_) return kNoChoices;
    return violation_;
  }

  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_object_begin(boost::system::error_code&) {
    if (depth_ == 0) top_object_ = true;
    value(true, false);
    if (depth_ == 2 && in_choices_) message_ok_ = false;  // a choice begins
    ++depth_;
    return true;
  }
  bool on_object_end(std::size_t, boost::system::error_code&) {
    --depth_;
    if (depth_ == 2 && in_choices_ && !message_ok_) fail(kChoiceNoMessage);
    return true;
  }
  bool on_array_begin(boost::system::error_code&) {
    value(false, true);
    ++depth_;
    return true;
  }
  bool on_array_end(std::size_t, boost::system::error_code&) {
    if (--depth_ == 1) in_choices_ = false;
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, boost::system::error_code&) { return key_part(s); }
  bool on_key(json::string_view s, std::size_t, boost::system::error_code&) {
    key_part(s);
    const char* target = depth_ == 1 ? "choices" : depth_ == 3 && in_choices_ ? "message" : nullptr;
    bool hit = target && key_ok_ && key_.size() == std::strlen(target) && key_ == target;
    if (depth_ == 1) pending_choices_ = hit;
    if (depth_ == 3) pending_message_ = hit;
    key_.clear();
    key_ok_ = true;
    return true;
  }
  bool on_string_part(json::string_view, std::size_t, boost::system::error_code&) { return scalar(); }
  bool on_string(json::string_view, std::size_t, boost::system::error_code&) { return scalar(); }
  bool on_number_part(json::string_view, boost::system::error_code&) { return scalar(); }
  bool on_int64(int64_t, json::string_view, boost::system::error_code&) { return scalar(); }
  bool on_uint64(uint64_t, json::string_view, boost::system::error_code&) { return scalar(); }
  bool on_double(double, json::string_view, boost::system::error_code&) { return scalar(); }
  bool on_bool(bool, boost::system::error_code&) { return scalar(); }
  bool on_null(boost::system::error_code&) { return scalar(); }
  bool on_comment_part(json::string_view, boost::system::error_code&) { return true; }
  bool on_comment(json::string_view, boost::system::error_code&) { return true; }

 private:
  // A value starts at depth_ (before an object or array is entered).
  void value(bool is_object, bool is_array) {
    if (depth_ == 1 && pending_choices_) {  // the (last) `choices` value: start over
      pending_choices_ = false;
      choices_array_ = is_array;
      in_choices_ = is_array;
      violation_ = nullptr;
    } else if (depth_ == 2 && in_choices_ && !is_object) {
      fail(kChoiceNotObject);
    } else if (depth_ == 3 && in_choices_ && pending_message_) {
      pending_message_ = false;
      message_ok_ = is_object;
    }
  }
  bool scalar() {
    value(false, false);
    return true;
  }
  bool key_part(json::string_view s) {
    if (key_.size() + s.size() > 16) key_ok_ = false;  // longer than any key looked for
    else key_.append(s.data(), s.size());
    return true;
  }
  void fail(const char* why) {
    if (!violation_) violation_ = why;
  }

  int depth_ = 0;
  bool top_object_ = false, choices_array_ = false, in_choices_ = false;
  bool pending_choices_ = false, pending_message_ = false, message_ok_ = false;
  const char* violation_ = nullptr;
  std::string key_;  // the key being read (short: fits the string's own buffer)
  bool key_ok_ = true;
};

}  // namespace

void check_chat_response(std::string_view body) {
  json::basic_parser<ChoicesCheck> parser(json::parse_options{});
  boost::system::error_code ec;
  size_t n = parser.write_some(false, body.data(), body.size(), ec);
  if (ec || n != body.size() || !parser.done()) throw bad_response(std::string(kBody) + " is not JSON");
  if (const char* why = parser.handler().verdict()) {
    if (why == kNotObject) throw bad_response(std::string(kBody) + " " + kNotObject);
    throw bad_response(why);
  }
}

api::ChatResponse parse_chat_response(std::string_view body) {
  json::object o = parse_object(body, kBody);
  const json::array& choices = checked_choices(o);
  api::ChatResponse r;
  if (auto* id = o.if_contains("id"); id && id->is_string()) r.id = id->get_string();
  if (auto* m = o.if_contains("model"); m && m->is_string()) r.model = m->get_string();
  r.created = to_int(o.if_contains("created"));
  for (const auto& c : choices) {
    const auto& co = c.get_object();
    api::Choice choice;
    choice.index = static_cast<int>(to_int(co.if_contains("index")));
    if (auto* f = co.if_contains("finish_reason"); f && f->is_string()) choice.finish_reason = f->get_string();
    auto* msg = co.if_contains("message");
    choice.content = text_of(msg->get_object().if_contains("content"));
    choice.message_raw = msg->get_object();
    r.choices.push_back(std::move(choice));
  }
  r.usage = usage_of(o);
  r.raw = std::move(o);
  return r;
}

api::ChatChunk parse_chat_chunk(std::string_view data) {
  ScratchJson scratch;  // only read here: delta, finish_reason and usage are copied out
  json::object o = parse_object(data, "a stream chunk", scratch.sp());
  api::ChatChunk chunk;
  chunk.json = std::string(data);
  if (auto* choices = o.if_contains("choices"); choices && choices->is_array()) {
    for (const auto& c : choices->get_array()) {
      if (!c.is_object()) continue;
      const auto& co = c.get_object();
      if (to_int(co.if_contains("index")) != 0) continue;
      if (auto* d = co.if_contains("delta"); d && d->is_object())
        chunk.delta = text_of(d->get_object().if_contains("content"));
      if (auto* f = co.if_contains("finish_reason"); f && f->is_string()) chunk.finish_reason = std::string(f->get_string());
    }
  } else if (auto* err = o.if_contains("error"); err && err->is_object()) {
    // The upstream's own error event mid-stream: its message, type and code reach the client as is.
    const auto& eo = err->get_object();
    auto str = [&](std::string_view k) {
      auto* v = eo.if_contains(k);
      return v && v->is_string() ? std::string(v->get_string()) : std::string();
    };
    std::string type = str("type"), message = str("message");
    throw api::Error(502, type.empty() ? "upstream_error" : type,
                     "upstream stream error: " + (message.empty() ? std::string("(no message)") : message), str("code"));
  } else if (!o.contains("usage")) {
    throw bad_response("a stream chunk has neither choices nor usage");
  }
  chunk.usage = usage_of(o);
  return chunk;
}

api::Embeddings parse_embeddings(std::string_view body) {
  json::object o = parse_object(body, "the embeddings body");
  auto* data = o.if_contains("data");
  if (!data || !data->is_array()) throw bad_response("no data array");
  api::Embeddings e;
  if (auto* m = o.if_contains("model"); m && m->is_string()) e.model = m->get_string();
  e.data.resize(data->get_array().size());
  size_t pos = 0;
  for (const auto& item : data->get_array()) {
    if (!item.is_object()) throw bad_response("an embedding is not an object");
    auto* vec = item.get_object().if_contains("embedding");
    if (!vec || !vec->is_array()) throw bad_response("an embedding has no vector (base64 is not supported)");
    size_t index = item.get_object().contains("index") ? static_cast<size_t>(to_int(item.get_object().if_contains("index"))) : pos;
    if (index >= e.data.size()) throw bad_response("embedding index out of range");
    auto& out = e.data[index];
    out.reserve(vec->get_array().size());
    for (const auto& x : vec->get_array()) {
      if (!x.is_number()) throw bad_response("an embedding value is not a number");
      out.push_back(static_cast<float>(x.to_number<double>()));
    }
    ++pos;
  }
  if (auto u = usage_of(o)) e.usage = *u;
  return e;
}

int retry_after_from_headers(std::string_view retry_after, std::string_view retry_after_ms) {
  if (!retry_after_ms.empty()) {
    double ms = std::strtod(std::string(retry_after_ms).c_str(), nullptr);
    if (ms > 0 && std::isfinite(ms)) return static_cast<int>(std::min(ms, 86400000.0));
  }
  if (!retry_after.empty() && retry_after.find_first_not_of("0123456789. ") == std::string_view::npos) {
    double s = std::strtod(std::string(retry_after).c_str(), nullptr);
    if (s > 0 && std::isfinite(s)) return static_cast<int>(std::min(s * 1000, 86400000.0));
  }
  return 0;
}

api::Error error_from_status(int status, std::string_view body, std::string_view retry_after,
                             std::string_view retry_after_ms, std::string_view backend) {
  std::string message, type;
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (!ec && v.is_object()) {
    if (auto* err = v.get_object().if_contains("error"); err && err->is_object()) {
      if (auto* m = err->get_object().if_contains("message"); m && m->is_string()) message = m->get_string();
      if (auto* t = err->get_object().if_contains("type"); t && t->is_string()) type = t->get_string();
    }
  }
  if (message.empty()) message = std::string(body.substr(0, 200));
  std::string what = "upstream " + std::string(backend) + " answered " + std::to_string(status) +
                     (message.empty() ? "" : ": " + message);
  int ra = retry_after_from_headers(retry_after, retry_after_ms);
  api::Error e = api::Error::bad_gateway(what);
  switch (status) {
    case 429: e = api::Error::rate_limited(what); break;
    case 400: case 404: case 409: case 413: case 422:
      e = api::Error(status, type.empty() ? "invalid_request_error" : type, what);
      break;
    case 503: e = api::Error::unavailable(what); break;
    case 504: e = api::Error::timeout(what); break;
    default: break;
  }
  e.retry_after_ms = ra;
  return e;
}

}  // namespace kuai::upstream
