#include "upstream/http_backend.h"

#include "api/error.h"
#include "http/client.h"
#include "http/sse_parser.h"
#include "upstream/wire.h"

#include <boost/json.hpp>

namespace kuai::upstream {
namespace json = boost::json;
using http::ClientError;
namespace {

api::Error to_api_error(const ClientError& e, const std::string& backend) {
  std::string msg = "upstream " + backend + ": " + e.what();
  switch (e.kind()) {
    case ClientError::Kind::connect: return api::Error(503, "upstream_error", msg, "upstream_unreachable");
    case ClientError::Kind::timeout: return api::Error::timeout(msg);
    case ClientError::Kind::cancelled: return api::Error(499, "request_cancelled", msg, "cancelled");
    case ClientError::Kind::bad_url: return api::Error::internal(msg);
    default: return api::Error::bad_gateway(msg);
  }
}

// The exception in flight (call inside a catch block) as the api::Error the client should see: a
// ClientError is translated, any other exception is rethrown unchanged. A plain function, so that
// coroutines can catch (...) instead of binding a reference (g++ 12 can leave it dangling).
api::Error in_flight_as_api_error(const std::string& backend) {
  try {
    throw;
  } catch (const ClientError& e) {
    return to_api_error(e, backend);
  }
}

}  // namespace

HttpBackend::HttpBackend(std::shared_ptr<http::Client> client, HttpBackendOptions options)
    : client_(std::move(client)), options_(std::move(options)) {
  while (!options_.url.empty() && options_.url.back() == '/') options_.url.pop_back();
  label_ = options_.url + (options_.model.empty() ? "" : " (" + options_.model + ")");
}

std::string HttpBackend::endpoint(std::string_view path) const {
  const std::string& base = options_.url;
  bool has_v1 = base.size() >= 3 && base.compare(base.size() - 3, 3, "/v1") == 0;
  return base + (has_v1 ? "/" : "/v1/") + std::string(path);
}

namespace {

http::ClientRequest make_request(const HttpBackend& b, std::string_view path, std::string body, bool stream) {
  http::ClientRequest r;
  r.method = "POST";
  r.url = b.endpoint(path);
  r.headers.emplace_back("Content-Type", "application/json");
  r.headers.emplace_back("Accept", stream ? "text/event-stream" : "application/json");
  if (!b.options().api_key.empty()) r.headers.emplace_back("Authorization", "Bearer " + b.options().api_key);
  r.body = std::move(body);
  r.first_byte_timeout = b.options().first_token_timeout;
  r.total_timeout = b.options().total_timeout;
  return r;
}

// Reads a non-2xx answer (bounded) and turns it into the api::Error the client should see.
boost::asio::awaitable<api::Error> error_of(http::ResponseStream& s, const std::string& label) {
  std::string body;
  try {
    body = co_await s.read_all(1u << 20);
  } catch (const ClientError&) {
  }
  co_return error_from_status(s.status(), body, s.header("retry-after"), s.header("retry-after-ms"), label);
}

}  // namespace

// The chat body to send: the client's bytes when the server marked them sendable and this backend
// keeps the model name, else the request re-serialised with this backend's model and `stream`.
std::string HttpBackend::chat_body(const api::ChatRequest& req, bool stream) const {
  if (!req.wire_body.empty() && req.stream == stream && (options_.model.empty() || options_.model == req.model))
    return req.wire_body;
  json::object body = req.to_json();
  if (!options_.model.empty()) body["model"] = options_.model;
  if (stream) {
    body["stream"] = true;
  } else {
    body.erase("stream");
    body.erase("stream_options");
  }
  return json::serialize(body);
}

boost::asio::awaitable<std::string> HttpBackend::post_for_body(std::string_view path, std::string body) const {
  std::string text;
  try {
    auto s = co_await client_->open(make_request(*this, path, std::move(body), false));
    if (s->status() / 100 != 2) {
      api::Error err = co_await error_of(*s, label_);  // (not `throw co_await …`: g++ 12 mishandles it)
      throw err;
    }
    text = co_await s->read_all(options_.max_body_bytes);
  } catch (...) {
    throw in_flight_as_api_error(label_);
  }
  co_return text;
}

boost::asio::awaitable<api::ChatResponse> HttpBackend::complete(const api::ChatRequest& req) {
  std::string text = co_await post_for_body("chat/completions", chat_body(req, false));
  api::ChatResponse r;
  if (req.forward_answer_bytes) check_chat_response(text);  // only forwarded: check, build nothing
  else r = parse_chat_response(text);
  r.wire_body = std::move(text);
  co_return r;
}

boost::asio::awaitable<void> HttpBackend::stream(const api::ChatRequest& req, ChunkSink& sink) {
  auto started = http::Clock::now();
  std::unique_ptr<http::ResponseStream> s;
  try {
    s = co_await client_->open(make_request(*this, "chat/completions", chat_body(req, true), true));
  } catch (const ClientError& e) {
    throw to_api_error(e, label_);
  }
  if (s->status() / 100 != 2) {
    api::Error err = co_await error_of(*s, label_);
    throw err;
  }
  std::string ctype = s->header("content-type");
  if (ctype.find("text/event-stream") == std::string::npos) {
    // Some servers answer a stream request with one JSON body: accept it only if it is a completion.
    std::string text;
    try {
      text = co_await s->read_all(options_.max_body_bytes);
    } catch (const ClientError& e) {
      throw to_api_error(e, label_);
    }
    (void)parse_chat_response(text);  // throws 502 on garbage
    throw api::Error::bad_gateway("upstream " + label_ + " answered a stream request without an event stream");
  }
  http::SseParser parser;
  std::vector<http::SseEvent> events;
  auto first_deadline = started + options_.first_token_timeout;
  bool got_data = false, done = false;
  for (;;) {
    std::optional<std::string_view> piece;
    try {
      piece = co_await s->next(got_data ? http::Clock::time_point::max() : first_deadline);
    } catch (const ClientError& e) {
      throw to_api_error(e, label_);
    }
    if (!piece) break;
    if (done) continue;  // read to the end after [DONE] so the connection can be reused
    if (!parser.feed(*piece, events)) throw api::Error::bad_gateway("upstream " + label_ + " sent an oversized event");
    for (auto& ev : events) {
      if (done) break;
      got_data = true;
      if (ev.data == "[DONE]") {
        done = true;
        break;
      }
      api::ChatChunk chunk = parse_chat_chunk(ev.data);
      if (!co_await sink.on_chunk(chunk)) {
        s->close();  // the client is gone: the upstream sees its request go away
        co_return;
      }
    }
    events.clear();
  }
  if (!done)
    throw api::Error(502, "upstream_error", "upstream " + label_ + " ended the stream before [DONE]", "stream_cut");
}

boost::asio::awaitable<api::Embeddings> HttpBackend::embed(const api::EmbeddingRequest& req) {
  json::object body = req.to_json();
  if (!options_.model.empty()) body["model"] = options_.model;
  std::string text = co_await post_for_body("embeddings", json::serialize(body));
  co_return parse_embeddings(text);
}

}  // namespace kuai::upstream
