#include "fakeup/responder.h"

#include "fakeup/random.h"
#include "fakeup/script.h"

#include "fakeup/token_count.h"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <chrono>
#include <cmath>

namespace kuai::fakeup {
namespace json = boost::json;
namespace {

constexpr const char* kWords[] = {
    "the",   "quick", "answer", "is",    "here",  "and",   "it",     "works", "fast",   "kuai",
    "model", "token", "stream", "of",    "light", "water", "stone",  "river", "cloud",  "bright",
    "small", "large", "green",  "blue",  "road",  "home",  "friend", "time",  "day",    "night",
    "more",  "less",  "every",  "some",  "calm",  "brave", "quiet",  "warm",  "simple", "clear",
    "tree",  "bird",  "song",   "sky",   "sun",   "moon",  "star",   "sea",   "field",  "hill"};
constexpr size_t kNumWords = sizeof(kWords) / sizeof(kWords[0]);

uint64_t fnv1a(std::string_view s, uint64_t h = 0xCBF29CE484222325ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001B3ull;
  }
  return h;
}

double unit_random(uint64_t seed, uint64_t salt) {
  uint64_t st = seed ^ (salt * 0xD1B54A32D192ED03ull);
  return static_cast<double>(splitmix64(st) >> 11) * (1.0 / 9007199254740992.0);
}

std::string hex(uint64_t v) { return fmt::format("{:016x}", v); }

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Reply error_reply(int status, std::string_view type, std::string_view message, std::string_view code = {}) {
  Reply r;
  r.status = status;
  json::object err{{"message", message}, {"type", type}, {"param", nullptr}};
  err["code"] = code.empty() ? json::value(nullptr) : json::value(code);
  r.body = json::serialize(json::object{{"error", std::move(err)}});
  return r;
}

// Text of a message's content: a string, or the text parts of an array; anything else is empty.
std::string content_text(const json::value& content) {
  if (content.is_string()) return std::string(content.get_string());
  std::string out;
  if (content.is_array()) {
    for (const auto& part : content.get_array()) {
      if (!part.is_object()) continue;
      auto* t = part.get_object().if_contains("text");
      if (t && t->is_string()) {
        if (!out.empty()) out += ' ';
        out += t->get_string();
      }
    }
  }
  return out;
}

// Splits text into pieces of about `n` bytes without cutting a UTF-8 sequence.
std::vector<std::string> split_utf8(std::string_view text, size_t n) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    size_t end = std::min(text.size(), i + n);
    while (end < text.size() && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) ++end;
    out.emplace_back(text.substr(i, end - i));
    i = end;
  }
  return out;
}

std::optional<int64_t> int_field(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->get_uint64());
  if (v->is_double()) return static_cast<int64_t>(v->get_double());
  return std::nullopt;
}

bool include_usage(const json::object& o) {
  auto* so = o.if_contains("stream_options");
  if (!so || !so->is_object()) return false;
  auto* iu = so->get_object().if_contains("include_usage");
  return iu && iu->is_bool() && iu->get_bool();
}

json::object usage_json(int64_t prompt, int64_t completion) {
  return {{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion}};
}

// A scripted answer's tokens: each word with the spaces before it (so pacing grows with its length).
std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = i;
    while (j < text.size() && (text[j] == ' ' || text[j] == '\n')) ++j;
    while (j < text.size() && text[j] != ' ' && text[j] != '\n') ++j;
    out.emplace_back(text.substr(i, j - i));
    i = j;
  }
  return out;
}

// The answer's pieces (one per token) and finish reason: a function of what was received and the seed.
struct Answer {
  std::vector<std::string> pieces;
  std::string finish_reason = "stop";
  std::string text() const {
    std::string t;
    for (const auto& p : pieces) t += p;
    return t;
  }
};

Answer make_answer(const Options& opts, std::string_view fingerprint, std::string_view echo_text,
                   std::optional<int64_t> max_tokens) {
  Answer a;
  if (opts.echo) {
    a.pieces = split_utf8(echo_text, 16);
  } else {
    uint64_t st = fnv1a(fingerprint) ^ (opts.seed * 0x9E3779B97F4A7C15ull);
    for (int i = 0; i < opts.answer_tokens; ++i) {
      std::string w = i == 0 ? "" : " ";
      w += kWords[splitmix64(st) % kNumWords];
      a.pieces.push_back(std::move(w));
    }
  }
  if (max_tokens && *max_tokens >= 0 && static_cast<size_t>(*max_tokens) < a.pieces.size()) {
    a.pieces.resize(static_cast<size_t>(*max_tokens));
    a.finish_reason = "length";
  }
  return a;
}

std::optional<json::object> parse_object(std::string_view body, Reply& err) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object()) {
    err = error_reply(400, "invalid_request_error", "body is not a JSON object");
    return std::nullopt;
  }
  return std::move(v.get_object());
}

std::string model_of(const json::object& o, const Options& opts) {
  auto* m = o.if_contains("model");
  if (m && m->is_string()) return std::string(m->get_string());
  return opts.model_name.substr(0, opts.model_name.find(','));
}

}  // namespace

std::string Stats::to_json() {
  json::object o;
  o["connections_accepted"] = connections_accepted.load();
  o["connections_active"] = connections_active.load();
  o["streams_started"] = streams_started.load();
  o["streams_completed"] = streams_completed.load();
  o["streams_aborted"] = streams_aborted.load();
  o["streams_cut"] = streams_cut.load();
  o["model_in_flight_max"] = model_in_flight_max.load();
  std::lock_guard lock(mu);
  o["requests"] = requests;
  o["model_requests"] = model_requests;
  auto to_obj = [](const std::map<std::string, int64_t>& m) {
    json::object r;
    for (const auto& [k, v] : m) r[k] = v;
    return r;
  };
  o["by_path"] = to_obj(by_path);
  o["by_model"] = to_obj(by_model);
  o["by_status"] = to_obj(by_status);
  o["last_authorization"] = last_authorization;
  o["last_body"] = last_body;
  o["last_prompt_tokens"] = last_prompt_tokens;
  return json::serialize(o);
}

void Stats::reset() {
  connections_accepted = 0;
  streams_started = 0;
  model_in_flight_max = model_in_flight.load();
  streams_completed = 0;
  streams_aborted = 0;
  streams_cut = 0;
  std::lock_guard lock(mu);
  requests = model_requests = last_prompt_tokens = 0;
  by_path.clear();
  by_model.clear();
  by_status.clear();
  last_authorization.clear();
  last_body.clear();
}

Reply Responder::handle(const Incoming& in) {
  std::string_view path = in.target.substr(0, in.target.find('?'));
  bool is_model = in.method == "POST" &&
                  (path == "/v1/chat/completions" || path == "/v1/completions" || path == "/v1/embeddings");
  int64_t seq = 0;
  {
    std::lock_guard lock(stats_.mu);
    ++stats_.requests;
    ++stats_.by_path[std::string(path)];
    if (is_model) {
      seq = ++stats_.model_requests;
      stats_.last_authorization = std::string(in.authorization);
      stats_.last_body = std::string(in.body);
    }
  }

  Reply r;
  if (is_model) {
    if (opts_.rate_limit_every > 0 && seq % opts_.rate_limit_every == 0) {
      r = error_reply(429, "rate_limit_error", "fake upstream: rate limited", "rate_limit_exceeded");
      r.headers.emplace_back("retry-after", std::to_string(static_cast<int64_t>(std::ceil(opts_.retry_after_s))));
      r.headers.emplace_back("retry-after-ms", std::to_string(static_cast<int64_t>(opts_.retry_after_s * 1000)));
    } else if (opts_.error_rate > 0 && unit_random(opts_.seed, static_cast<uint64_t>(seq)) < opts_.error_rate) {
      r = error_reply(500, "server_error", "fake upstream: injected error");
    } else if (path == "/v1/chat/completions") {
      r = chat(in, seq);
    } else if (path == "/v1/completions") {
      r = completion(in, seq);
    } else {
      r = embeddings(in, seq);
    }
    r.headers.emplace_back("x-fake-request-count", std::to_string(seq));
    r.model_request = true;
  } else if (in.method == "GET" && path == "/v1/models") {
    r = models();
  } else if (in.method == "GET" && path == "/stats") {
    r.body = stats_.to_json();
  } else if (in.method == "POST" && path == "/stats/reset") {
    stats_.reset();
    r.body = "{}";
  } else if (in.method == "GET" && path == "/healthz") {
    r.body = R"({"status":"ok"})";
  } else {
    r = error_reply(404, "invalid_request_error", "fake upstream: no route", "not_found");
  }
  std::lock_guard lock(stats_.mu);
  ++stats_.by_status[std::to_string(r.status)];
  return r;
}

void Responder::apply_delays(Reply& r, int64_t prompt_tokens, int64_t answer_tokens) const {
  r.first_delay = std::chrono::microseconds(
      static_cast<int64_t>(opts_.ttft_ms * 1000 + opts_.latency_per_prompt_token_us * prompt_tokens));
  r.token_delay = std::chrono::microseconds(
      opts_.tokens_per_s > 0 ? static_cast<int64_t>(1e6 / opts_.tokens_per_s) : 0);
  if (!r.stream) r.first_delay += r.token_delay * std::max<int64_t>(0, answer_tokens - 1);  // when the last token would be
}

Reply Responder::chat(const Incoming& in, int64_t seq) {
  Reply r;
  auto body = parse_object(in.body, r);
  if (!body) return r;
  auto* msgs = body->if_contains("messages");
  if (!msgs || !msgs->is_array()) return error_reply(400, "invalid_request_error", "messages must be an array");
  int64_t prompt_tokens = 0;
  for (const auto& m : msgs->get_array()) {
    if (!m.is_object()) return error_reply(400, "invalid_request_error", "each message must be an object");
    if (auto* c = m.get_object().if_contains("content")) prompt_tokens += count_tokens(content_text(*c));
  }
  std::string model = model_of(*body, opts_);
  {
    std::lock_guard lock(stats_.mu);
    ++stats_.by_model[model];
    stats_.last_prompt_tokens = prompt_tokens;
  }
  std::string messages_json = json::serialize(*msgs);
  auto max_tokens = int_field(*body, "max_completion_tokens");
  if (!max_tokens) max_tokens = int_field(*body, "max_tokens");
  Answer ans = make_answer(opts_, messages_json, messages_json, max_tokens);
  if (!opts_.script.empty() && !msgs->get_array().empty()) {
    const auto& last = msgs->get_array().back();
    const json::value* c = last.is_object() ? last.get_object().if_contains("content") : nullptr;
    if (const ScriptRule* rule = match_script(opts_.script, c ? content_text(*c) : std::string())) {
      if (rule->status != 200) {
        r = error_reply(rule->status, rule->status == 429 ? "rate_limit_error" : "server_error",
                        rule->answer.empty() ? "fake upstream: scripted error" : rule->answer);
        apply_delays(r, prompt_tokens, 0);
        return r;
      }
      ans = Answer{};
      ans.pieces = split_words(rule->answer);
      if (max_tokens && *max_tokens >= 0 && static_cast<size_t>(*max_tokens) < ans.pieces.size()) {
        ans.pieces.resize(static_cast<size_t>(*max_tokens));
        ans.finish_reason = "length";
      }
    }
  }
  int64_t completion_tokens = static_cast<int64_t>(ans.pieces.size());
  std::string id = "chatcmpl-fake" + hex(fnv1a(messages_json) ^ opts_.seed).substr(0, 8) + "-" + std::to_string(seq);
  int64_t created = now_s();
  auto* st = body->if_contains("stream");
  bool stream = st && st->is_bool() && st->get_bool();

  if (opts_.garbage) {
    if (stream) {
      r.stream = true;
      r.content_type = "text/event-stream";
      r.events = {{"{this is not json", false}, {"<html>bad gateway</html>", true}};
    } else {
      r.body = "<html>this is not JSON {{{";
    }
    apply_delays(r, prompt_tokens, 0);
    return r;
  }

  if (!stream) {
    json::object msg{{"role", "assistant"}, {"content", ans.text()}, {"refusal", nullptr}};
    json::object choice{{"index", 0}, {"message", std::move(msg)}, {"logprobs", nullptr},
                        {"finish_reason", ans.finish_reason}};
    json::object out{{"id", id},          {"object", "chat.completion"},
                     {"created", created}, {"model", model},
                     {"system_fingerprint", "fp_kuai_fake"}};
    out["choices"] = json::array{std::move(choice)};
    out["usage"] = usage_json(prompt_tokens, completion_tokens);
    r.body = json::serialize(out);
    apply_delays(r, prompt_tokens, completion_tokens);
    if (opts_.cut_stream_after >= 0) r.cut_after_events = 0;  // truncated body
    return r;
  }

  bool usage = include_usage(*body);
  r.stream = true;
  r.content_type = "text/event-stream";
  auto chunk = [&](json::object delta, json::value finish) {
    json::object choice{{"index", 0}, {"delta", std::move(delta)}, {"logprobs", nullptr}, {"finish_reason", finish}};
    json::object c{{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", model},
                   {"system_fingerprint", "fp_kuai_fake"}};
    c["choices"] = json::array{std::move(choice)};
    if (usage) c["usage"] = nullptr;
    return json::serialize(c);
  };
  r.events.push_back({chunk({{"role", "assistant"}, {"content", ""}, {"refusal", nullptr}}, nullptr)});
  for (size_t i = 0; i < ans.pieces.size(); ++i) r.events.push_back({chunk({{"content", ans.pieces[i]}}, nullptr), i > 0});
  r.events.push_back({chunk({}, json::value(ans.finish_reason))});
  if (usage) {
    json::object c{{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", model},
                   {"system_fingerprint", "fp_kuai_fake"}, {"choices", json::array{}}};
    c["usage"] = usage_json(prompt_tokens, completion_tokens);
    r.events.push_back({json::serialize(c)});
  }
  r.events.push_back({"[DONE]"});
  if (opts_.stream_error_after >= 0) {
    // As providers do when a stream fails after it started: an error event, then the end of the body.
    size_t keep = std::min(r.events.size(), size_t(1 + opts_.stream_error_after));
    r.events.resize(keep);
    r.events.push_back({R"({"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":"fake_stream_error"}})"});
  }
  if (opts_.cut_stream_after >= 0) r.cut_after_events = 1 + opts_.cut_stream_after;
  apply_delays(r, prompt_tokens, completion_tokens);
  return r;
}

Reply Responder::completion(const Incoming& in, int64_t seq) {
  Reply r;
  auto body = parse_object(in.body, r);
  if (!body) return r;
  auto* p = body->if_contains("prompt");
  std::string prompt;
  if (p && p->is_string()) {
    prompt = p->get_string();
  } else if (p && p->is_array()) {
    for (const auto& e : p->get_array())
      if (e.is_string()) prompt += std::string(e.get_string()) + "\n";
  } else {
    return error_reply(400, "invalid_request_error", "prompt must be a string or an array of strings");
  }
  int64_t prompt_tokens = count_tokens(prompt);
  std::string model = model_of(*body, opts_);
  {
    std::lock_guard lock(stats_.mu);
    ++stats_.by_model[model];
    stats_.last_prompt_tokens = prompt_tokens;
  }
  auto max_tokens = int_field(*body, "max_tokens");
  Answer ans = make_answer(opts_, prompt, json::serialize(json::value(prompt)), max_tokens);
  std::string id = "cmpl-fake" + hex(fnv1a(prompt) ^ opts_.seed).substr(0, 8) + "-" + std::to_string(seq);
  int64_t created = now_s();
  auto* st = body->if_contains("stream");
  bool stream = st && st->is_bool() && st->get_bool();
  if (opts_.garbage) {
    r.body = "<html>this is not JSON {{{";
    apply_delays(r, prompt_tokens, 0);
    return r;
  }
  auto envelope = [&](json::array choices) {
    json::object c{{"id", id}, {"object", "text_completion"}, {"created", created}, {"model", model}};
    c["choices"] = std::move(choices);
    return c;
  };
  auto choice = [&](std::string text, json::value finish) {
    return json::object{{"text", std::move(text)}, {"index", 0}, {"logprobs", nullptr}, {"finish_reason", finish}};
  };
  if (!stream) {
    auto out = envelope(json::array{choice(ans.text(), json::value(ans.finish_reason))});
    out["usage"] = usage_json(prompt_tokens, static_cast<int64_t>(ans.pieces.size()));
    r.body = json::serialize(out);
    apply_delays(r, prompt_tokens, static_cast<int64_t>(ans.pieces.size()));
    return r;
  }
  r.stream = true;
  r.content_type = "text/event-stream";
  for (size_t i = 0; i < ans.pieces.size(); ++i)
    r.events.push_back({json::serialize(envelope(json::array{choice(ans.pieces[i], nullptr)})), i > 0});
  r.events.push_back({json::serialize(envelope(json::array{choice("", json::value(ans.finish_reason))}))});
  if (include_usage(*body)) {
    auto u = envelope(json::array{});
    u["usage"] = usage_json(prompt_tokens, static_cast<int64_t>(ans.pieces.size()));
    r.events.push_back({json::serialize(u)});
  }
  r.events.push_back({"[DONE]"});
  if (opts_.cut_stream_after >= 0) r.cut_after_events = opts_.cut_stream_after;
  apply_delays(r, prompt_tokens, static_cast<int64_t>(ans.pieces.size()));
  return r;
}

Reply Responder::embeddings(const Incoming& in, int64_t seq) {
  (void)seq;
  Reply r;
  auto body = parse_object(in.body, r);
  if (!body) return r;
  auto* input = body->if_contains("input");
  std::vector<std::string> texts;  // token-id inputs are hashed as their JSON text
  int64_t prompt_tokens = 0;
  if (input && input->is_string()) {
    texts.emplace_back(input->get_string());
    prompt_tokens += count_tokens(texts.back());
  } else if (input && input->is_array() && !input->get_array().empty()) {
    const auto& arr = input->get_array();
    if (arr[0].is_number()) {
      texts.push_back(json::serialize(arr));
      prompt_tokens += static_cast<int64_t>(arr.size());
    } else {
      for (const auto& e : arr) {
        if (e.is_string()) {
          texts.emplace_back(e.get_string());
          prompt_tokens += count_tokens(texts.back());
        } else if (e.is_array()) {
          texts.push_back(json::serialize(e));
          prompt_tokens += static_cast<int64_t>(e.get_array().size());
        } else {
          return error_reply(400, "invalid_request_error", "input must be strings or token arrays", {});
        }
      }
    }
  } else {
    return error_reply(400, "invalid_request_error", "input must be a string or a non-empty array");
  }
  std::string model = model_of(*body, opts_);
  {
    std::lock_guard lock(stats_.mu);
    ++stats_.by_model[model];
    stats_.last_prompt_tokens = prompt_tokens;
  }
  if (opts_.garbage) {
    r.body = "<html>this is not JSON {{{";
    return r;
  }
  int dim = std::max(1, opts_.embedding_dim);
  if (auto d = int_field(*body, "dimensions"); d && *d > 0 && *d <= 4096) dim = static_cast<int>(*d);
  json::array data;
  for (size_t i = 0; i < texts.size(); ++i) {
    const auto at = opts_.embedding_pairs.find(texts[i]);
    const std::vector<double> v = at != opts_.embedding_pairs.end()
                                      ? pair_embedding(at->second, dim, opts_.seed)
                                      : random_unit_vector(fnv1a(texts[i]) ^ (opts_.seed * 0x9E3779B97F4A7C15ull), dim);
    json::array vec;
    vec.reserve(dim);
    for (double x : v) vec.emplace_back(static_cast<double>(static_cast<float>(x)));
    data.push_back(json::object{{"object", "embedding"}, {"index", i}, {"embedding", std::move(vec)}});
  }
  json::object out{{"object", "list"}, {"data", std::move(data)}, {"model", model}};
  out["usage"] = json::object{{"prompt_tokens", prompt_tokens}, {"total_tokens", prompt_tokens}};
  r.body = json::serialize(out);
  apply_delays(r, prompt_tokens, 0);
  return r;
}

Reply Responder::models() const {
  json::array data;
  std::string_view names = opts_.model_name;
  while (!names.empty()) {
    auto comma = names.find(',');
    auto name = names.substr(0, comma);
    if (!name.empty())
      data.push_back(json::object{{"id", name}, {"object", "model"}, {"created", 0}, {"owned_by", "kuai-fake"}});
    names = comma == std::string_view::npos ? std::string_view{} : names.substr(comma + 1);
  }
  Reply r;
  r.body = json::serialize(json::object{{"object", "list"}, {"data", std::move(data)}});
  return r;
}

}  // namespace kuai::fakeup
