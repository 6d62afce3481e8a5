// The small endpoints (embeddings, models, admin) and helpers shared by the request handlers.
#include "api/error.h"
#include "api/parse.h"
#include "http/head_format.h"
#include "server/gateway_state.h"

#include <boost/json.hpp>

#include <algorithm>

namespace kuai::server {
namespace net = boost::asio;

void require_json(const http::Request& req) {
  const std::string* ct = req.header("content-type");
  if (!ct || ct->empty()) return;
  std::string_view v(*ct);
  auto semi = v.find(';');
  if (semi != std::string_view::npos) v = v.substr(0, semi);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  using http::head::iequals;  // (no lower-cased copy)
  if (iequals(v, "application/json") || (v.size() > 5 && iequals(v.substr(v.size() - 5), "+json"))) return;
  throw api::Error(415, "invalid_request_error",
                   "Unsupported Content-Type '" + *ct + "': send the body as JSON with 'Content-Type: application/json'.",
                   "unsupported_media_type");
}

void require_method(const http::Request& req, std::string_view method) {
  if (req.method != method) {
    throw api::Error(405, "invalid_request_error",
                     "Method " + req.method + " is not allowed on " + std::string(req.path()) + " (use " +
                         std::string(method) + ").",
                     "method_not_allowed");
  }
}

void add_error_headers(http::Headers& headers, const api::Error& e) {
  if (e.retry_after_ms <= 0) return;
  headers.emplace_back("Retry-After", std::to_string((e.retry_after_ms + 999) / 1000));
  headers.emplace_back("retry-after-ms", std::to_string(e.retry_after_ms));
}

const std::string& dispatch_model(const State& s, const std::string& model) {
  if (s.fallback_model.empty()) return model;
  if (s.known_models.count(model)) return model;
  return s.fallback_model;
}

net::awaitable<int> handle_embeddings(State& s, const pipeline::Tenant& tenant, http::Request& req,
                                     http::ResponseWriter& w) {
  require_method(req, "POST");
  require_json(req);
  api::EmbeddingRequest er = api::parse_embedding_request(req.body);
  er.model = dispatch_model(s, er.model);
  api::Embeddings out = co_await s.dispatcher->embed(er, &tenant);
  std::string text = boost::json::serialize(out.to_json());
  co_await w.send(200, "application/json", std::move(text), http::Headers{});
  co_return 200;
}

net::awaitable<int> handle_models(State& s, const pipeline::Tenant&, http::Request& req,
                                     http::ResponseWriter& w) {
  require_method(req, "GET");
  boost::json::array data;
  for (const auto& name : s.dispatcher->model_names()) {
    data.push_back(boost::json::object{{"id", name}, {"object", "model"}, {"created", 0}, {"owned_by", "kuai"}});
  }
  boost::json::object body{{"object", "list"}, {"data", std::move(data)}};
  std::string text = boost::json::serialize(body);
  co_await w.send(200, "application/json", std::move(text), http::Headers{});
  co_return 200;
}

// METHOD /v1/admin/stages/<name>/<path> → Stage::on_admin(method, "/<path>", body).
net::awaitable<int> handle_admin(State& s, http::Request& req, http::ResponseWriter& w) {
  s.tenants.check_admin(req.header("authorization"));
  constexpr std::string_view kPrefix = "/v1/admin/stages/";
  std::string_view rest = req.path().substr(kPrefix.size());
  auto slash = rest.find('/');
  std::string_view name = rest.substr(0, slash);
  std::string_view sub = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
  pipeline::Stage* stage = s.pipeline->find(name);
  if (!stage) throw api::Error::not_found("No stage named '" + std::string(name) + "' in the pipeline.", "stage_not_found");
  auto reply = stage->on_admin(req.method, sub, req.body);
  if (!reply) {
    throw api::Error::not_found("Stage '" + std::string(name) + "' has no admin endpoint " + req.method + " " +
                                    std::string(sub) + ".",
                                "not_found");
  }
  co_await w.send(reply->status, "application/json", std::move(reply->body), http::Headers{});
  co_return reply->status;
}

net::awaitable<int> handle_stage_client(State& s, const pipeline::Tenant& tenant, http::Request& req,
                                        http::ResponseWriter& w) {
  std::string_view rest = req.path().substr(4);  // after "/v1/"
  auto slash = rest.find('/');
  std::string_view name = rest.substr(0, slash);
  std::string_view sub = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
  pipeline::Stage* stage = s.pipeline->find(name);
  std::optional<pipeline::AdminReply> reply;
  if (stage) reply = stage->on_client(req.method, sub, req.body, tenant);
  if (!reply) {
    throw api::Error::not_found("Unknown request URL: " + req.method + " " + std::string(req.path()) +
                                    (stage ? "" : " (is '" + std::string(name) + "' in the pipeline?)"),
                                "unknown_url");
  }
  co_await w.send(reply->status, "application/json", std::move(reply->body), http::Headers{});
  co_return reply->status;
}

}  // namespace kuai::server
