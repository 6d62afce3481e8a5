#include "stages/semantic_cache.h"

#include "api/error.h"
#include "cache/cedict.h"
#include "cache/redis_share.h"
#include "cache/wordnet.h"
#include "obs/metrics.h"
#include "text/estimate.h"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cmath>
#include <cstdio>

namespace kuai::stages {
namespace json = boost::json;
using cache::LookupResult;

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

pipeline::AdminReply reply(int status, json::object body) { return {status, json::serialize(body)}; }
pipeline::AdminReply error_reply(int status, std::string msg) {
  return reply(status, json::object{{"error", json::object{{"message", msg}, {"type", "invalid_request_error"}}}});
}

}  // namespace

SemanticCacheStage::SemanticCacheStage(CacheStageConfig cfg, std::unique_ptr<cache::Embedder> embedder,
                                       pipeline::Services& services)
    : cfg_(std::move(cfg)), embedder_(std::move(embedder)), services_(services), store_(cfg_.store),
      rng_(std::random_device{}()) {
  if (!cfg_.verifier.model.empty()) verifier_ = std::make_unique<CacheVerifier>(cfg_.verifier);
}

boost::asio::awaitable<std::optional<LookupResult>> SemanticCacheStage::verified_hit(pipeline::Context& ctx, const Pending& p,
                                                                                     const LookupResult& r, double pick) {
  auto entry = store_.get(r.grey_entry_id);
  if (!entry) co_return std::nullopt;
  bool remembered = false;
  const VerifyOutcome o = co_await verifier_->verify(entry->query, p.query, services_, ctx.tenant, &remembered);
  ++verified_[static_cast<int>(o)];
  const std::string outcome(verify_outcome_name(o));
  ctx.add_header("x-kuai-cache-verifier", remembered ? outcome + "; remembered" : outcome);
  if (services_.metrics)
    services_.metrics->counter("kuai_cache_verifier_total", "Grey-zone cache candidates shown to the verifier model, by outcome")
        .Add({{"outcome", outcome}})
        .Increment();
  if (o != VerifyOutcome::Yes) co_return std::nullopt;
  co_return store_.serve(r.grey_entry_id, r.grey_similarity, now_ms(), pick);
}

SemanticCacheStage::~SemanticCacheStage() = default;

std::string SemanticCacheStage::start_share() {
  if (cfg_.redis.empty()) return {};
  auto r = cache::RedisShare::start(cfg_.redis, cfg_.redis_prefix, store_);
  if (auto* err = std::get_if<std::string>(&r)) return *err;
  share_ = std::move(std::get<std::unique_ptr<cache::RedisShare>>(r));
  return {};
}

bool SemanticCacheStage::cacheable(const api::ChatRequest& req) {
  if (req.messages.empty()) return false;
  const auto& last = req.messages.back();
  if (last.role != "user" || last.content.empty()) return false;
  if (auto it = req.raw.find("n"); it != req.raw.end() && it->value().is_int64() && it->value().as_int64() > 1) return false;
  if (req.raw.contains("logprobs") && req.raw.at("logprobs").is_bool() && req.raw.at("logprobs").as_bool()) return false;
  return true;
}

std::string SemanticCacheStage::namespace_of(const pipeline::Context& ctx, double temperature) {
  const auto& req = ctx.request;
  std::string key;
  auto field = [&](std::string_view name, std::string_view value) {
    key += name;
    key += '=';
    key += std::to_string(value.size());  // length-prefixed: no ambiguity between fields
    key += ':';
    key += value;
    key += '\n';
  };
  field("tenant", ctx.tenant.name);
  field("model", req.model);
  // Everything before the last user message (system prompt, earlier turns) changes the answer.
  for (size_t i = 0; i + 1 < req.messages.size(); ++i) {
    const auto& m = req.messages[i];
    field("role", m.role);
    field("content", m.content);
    for (const char* extra : {"tool_calls", "tool_call_id", "name"})
      if (auto it = m.raw.find(extra); it != m.raw.end()) field(extra, json::serialize(it->value()));
  }
  for (const char* name : {"tools", "tool_choice", "functions", "function_call", "response_format", "top_p",
                           "seed", "stop", "presence_penalty", "frequency_penalty", "logit_bias", "n"})
    if (auto it = req.raw.find(name); it != req.raw.end()) field(name, json::serialize(it->value()));
  if (req.max_tokens) field("max_tokens", std::to_string(*req.max_tokens));
  // Sampling bucket: greedy, then steps of 0.5 (0.1 and 0.4 share answers; 0 and 0.7 do not).
  char bucket[32];
  std::snprintf(bucket, sizeof bucket, "%d", temperature <= 0 ? 0 : 1 + int(std::floor(temperature * 2)));
  field("temperature_bucket", bucket);
  return cache::hex_id(cache::hash64(key, 0x6b756169));
}

double SemanticCacheStage::threshold_for(const pipeline::Context& ctx) const {
  if (auto it = cfg_.tenant_thresholds.find(ctx.tenant.name); it != cfg_.tenant_thresholds.end()) return it->second;
  if (auto it = cfg_.model_thresholds.find(ctx.request.model); it != cfg_.model_thresholds.end()) return it->second;
  return 0;
}

void SemanticCacheStage::count(const char* result, const char* guard) {
  if (!services_.metrics) return;
  services_.metrics->counter("kuai_cache_lookups_total", "Semantic cache lookups by result").Add({{"result", result}}).Increment();
  if (guard)
    services_.metrics->counter("kuai_cache_refusals_total", "Semantic cache hits refused by a guard").Add({{"guard", guard}}).Increment();
}

api::ChatResponse SemanticCacheStage::answer_from(const pipeline::Context& ctx, const LookupResult& r) const {
  api::ChatResponse resp;
  resp.id = ctx.request_id.empty() ? "chatcmpl-cache-" + cache::hex_id(r.entry_id) : ctx.request_id;
  resp.model = ctx.request.model;
  resp.created = now_ms() / 1000;
  api::Choice c;
  c.content = r.answer.content;
  c.finish_reason = r.answer.finish_reason.empty() ? "stop" : r.answer.finish_reason;
  resp.choices.push_back(std::move(c));
  int64_t prompt = 0;
  for (const auto& m : ctx.request.messages) {
    prompt += services_.count_tokens(ctx.request.model, m.content);
  }
  resp.usage = api::Usage{prompt, r.answer.completion_tokens};
  resp.cached = true;  // usage.prompt_tokens_details.cached_tokens = prompt_tokens
  resp.raw["system_fingerprint"] = "kuai-cache";
  return resp;
}

boost::asio::awaitable<pipeline::Verdict> SemanticCacheStage::on_request(pipeline::Context& ctx) {
  if (!cacheable(ctx.request)) {
    ctx.add_header("x-kuai-cache", "miss");
    count("miss");
    ++misses_;
    co_return pipeline::Verdict::next();
  }
  if (ctx.request.messages.back().content.size() > cfg_.max_query_bytes) {
    // A huge query is almost never asked twice, and features/embedding of it cost CPU and memory.
    ctx.add_header("x-kuai-cache", "skipped; reason=too_long");
    count("skipped");
    ++misses_;
    co_return pipeline::Verdict::next();
  }
  double temperature = ctx.request.temperature.value_or(cfg_.default_temperature);
  Pending p;
  p.ns = namespace_of(ctx, temperature);
  p.query = ctx.request.messages.back().content;
  p.features = cache::query_features(p.query);
  if (!embedder_->embed_sync(p.query, p.features, p.vec)) {
    try {
      p.vec = co_await embedder_->embed(p.query, p.features, ctx.tenant);
    } catch (const std::exception& e) {
      // No vector: the exact-match path still works; the answer is stored for exact matches only.
      spdlog::warn("cache: embedder {} failed: {}", embedder_->kind(), e.what());
      p.vec.clear();
    }
  }
  if (double t = threshold_for(ctx); t > 0) store_.set_namespace_threshold(p.ns, t);
  double pick, coin;
  {
    std::lock_guard lock(rng_mu_);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    pick = u(rng_);
    coin = u(rng_);
  }
  LookupResult r = store_.lookup(p.ns, p.features, p.vec.empty() ? nullptr : &p.vec, now_ms(), pick);
  if (verifier_ && in_grey_zone(r, cfg_.verifier)) {
    if (auto verified = co_await verified_hit(ctx, p, r, pick)) r = std::move(*verified);
  }

  if (r.kind == LookupResult::Kind::Hit) {
    double p_miss = std::min(cfg_.max_miss_probability, std::max(0.0, cfg_.temperature_miss_slope * temperature));
    if (coin >= p_miss) {
      ctx.add_header("x-kuai-cache", "hit");
      ctx.add_header("x-kuai-cache-entry", cache::hex_id(r.entry_id));
      char sim[16];
      std::snprintf(sim, sizeof sim, "%.4f", r.similarity);
      ctx.add_header("x-kuai-cache-similarity", sim);
      count("hit");
      ++hits_;
      double elapsed = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - ctx.trace.started).count();
      double saved = std::max(0.0, r.cost_ms - elapsed);
      saved_ms_.fetch_add(saved);
      if (services_.metrics)
        services_.metrics->counter("kuai_cache_latency_saved_seconds_total", "Upstream time saved by cache hits").Add({}).Increment(saved / 1000.0);
      remember_hit(ctx, p.ns, r.entry_id);
      co_return pipeline::Verdict::respond(answer_from(ctx, r));
    }
    // Deliberate miss: the fresh answer joins this entry's answers.
    p.add_to = r.entry_id;
    ctx.add_header("x-kuai-cache", "miss");
    ctx.add_header("x-kuai-cache-reason", "sampled");
    count("miss");
    ++misses_;
  } else if (r.kind == LookupResult::Kind::Refused) {
    std::string guard(cache::guard_name(r.guard));
    ctx.add_header("x-kuai-cache", "refused");
    ctx.add_header("x-kuai-cache-guard", guard);
    ctx.add_header("x-kuai-cache-entry", cache::hex_id(r.entry_id));
    count("refused", guard.c_str());
    ++refused_;
    ++refused_by_[static_cast<int>(r.guard)];
  } else {
    ctx.add_header("x-kuai-cache", "miss");
    count("miss");
    ++misses_;
  }
  ctx.stage_state.emplace<Pending>(this, std::move(p));
  co_return pipeline::Verdict::next();
}

void SemanticCacheStage::on_response(pipeline::Context& ctx, const api::ChatResponse& response) {
  if (response.cached) return;  // our own hit
  Pending* found = ctx.stage_state.find<Pending>(this);
  if (!found) return;
  Pending p = std::move(*found);
  ctx.stage_state.erase(this);  // stored at most once per request
  if (response.choices.size() != 1) return;
  const auto& c = response.choices.front();
  if (c.finish_reason != "stop" || c.content.empty() || c.message_raw.contains("tool_calls")) return;
  cache::Answer a;
  a.content = c.content;
  a.finish_reason = c.finish_reason;
  a.completion_tokens = response.usage ? response.usage->completion_tokens : text::estimate_tokens(c.content);
  double cost_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - ctx.trace.started).count();
  auto stored = store_.insert(p.ns, p.query, p.features, std::move(p.vec), std::move(a), cost_ms, now_ms(), p.add_to);
  if (!stored) return;
  ++stores_;
  if (services_.metrics) {
    services_.metrics->counter("kuai_cache_stores_total", "Answers stored in the semantic cache").Add({}).Increment();
    services_.metrics->gauge("kuai_cache_entries", "Entries in the semantic cache").Add({}).Set(double(store_.stats().entries));
  }
  if (share_) share_->put(*stored);
}

std::optional<pipeline::AdminReply> SemanticCacheStage::on_admin(std::string_view method, std::string_view path,
                                                                 std::string_view body) {
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);

  if (method == "GET" && path == "stats") {
    auto s = store_.stats();
    json::object refused;
    for (int g = 1; g < cache::kGuardKinds; ++g)  // every guard but None
      refused[cache::guard_name(static_cast<cache::Guard>(g))] = refused_by_[g].load();
    json::object out{{"entries", s.entries}, {"namespaces", s.namespaces}, {"vectors", s.vectors},
                     {"index_bytes", s.index_bytes}, {"bytes", s.bytes}, {"evictions", s.evictions}, {"expirations", s.expirations},
                     {"hits", hits_.load()}, {"misses", misses_.load()}, {"refused", refused_.load()},
                     {"refused_by_guard", std::move(refused)}, {"stores", stores_.load()},
                     {"latency_saved_ms", saved_ms_.load()}, {"embedder", embedder_->kind()},
                     {"threshold", cfg_.store.threshold}};
    if (verifier_) {
      json::object verdicts;
      for (auto o : {VerifyOutcome::Yes, VerifyOutcome::No, VerifyOutcome::Unclear, VerifyOutcome::Error, VerifyOutcome::Timeout})
        verdicts[verify_outcome_name(o)] = verified_[static_cast<int>(o)].load();
      out["verifier"] = json::object{{"model", cfg_.verifier.model}, {"outcomes", std::move(verdicts)}};
    }
    if (share_) {
      auto rs = share_->stats();
      out["redis"] = json::object{{"connected", rs.connected}, {"loaded", rs.loaded}, {"applied", rs.applied},
                                  {"published", rs.published}, {"errors", rs.errors}};
    }
    return reply(200, std::move(out));
  }
  if (path == "entries" && method == "DELETE") {
    size_t n = store_.flush_all();
    if (share_) share_->flush("");
    return reply(200, json::object{{"flushed", n}});
  }
  if (path.starts_with("entries/")) {
    auto id = cache::parse_hex_id(path.substr(8));
    if (!id) return error_reply(400, "entry id must be hex, as in x-kuai-cache-entry");
    if (method == "GET") {
      auto e = store_.get(*id);
      if (!e) return error_reply(404, "no such entry");
      json::array answers;
      for (const auto& a : e->answers) answers.push_back(json::object{{"content", a.content}, {"finish_reason", a.finish_reason}});
      return reply(200, json::object{{"id", cache::hex_id(e->id)}, {"namespace", e->ns}, {"query", e->query},
                                     {"answers", std::move(answers)}, {"threshold", e->threshold},
                                     {"expires_ms", e->expires_ms}});
    }
    if (method == "DELETE") {
      auto e = store_.mark_wrong(*id);
      if (!e) return error_reply(404, "no such entry");
      if (share_) share_->put(*e);
      return reply(200, json::object{{"deleted", cache::hex_id(*id)}, {"threshold", e->threshold}});
    }
  }
  if (path.starts_with("namespaces/")) {
    std::string_view rest = path.substr(11);
    if (method == "DELETE" && rest.find('/') == std::string_view::npos && !rest.empty()) {
      size_t n = store_.flush_namespace(std::string(rest));
      if (share_) share_->flush(std::string(rest));
      return reply(200, json::object{{"flushed", n}, {"namespace", std::string(rest)}});
    }
    if (method == "PUT" && rest.ends_with("/threshold")) {
      std::string ns(rest.substr(0, rest.size() - 10));
      json::error_code ec;
      json::value v = json::parse(body, ec);
      if (ec || !v.is_object() || !v.as_object().contains("threshold") || !v.as_object().at("threshold").is_number())
        return error_reply(400, "body must be {\"threshold\": number}");
      double t = v.as_object().at("threshold").to_number<double>();
      if (!(t > 0 && t <= 1)) return error_reply(400, "threshold must be in (0, 1]");
      store_.set_namespace_threshold(ns, t);
      return reply(200, json::object{{"namespace", ns}, {"threshold", t}});
    }
  }
  return std::nullopt;
}

void SemanticCacheStage::remember_hit(const pipeline::Context& ctx, const std::string& ns, uint64_t entry_id) {
  if (ctx.request_id.empty()) return;
  constexpr size_t kRemembered = 10000;
  std::lock_guard lock(served_mu_);
  ++budgets_[ns].hits;
  if (served_.emplace(ctx.request_id, ServedHit{entry_id, ns, ctx.tenant.name}).second) served_order_.push_back(ctx.request_id);
  while (served_order_.size() > kRemembered) {
    served_.erase(served_order_.front());
    served_order_.pop_front();
  }
}

std::optional<pipeline::AdminReply> SemanticCacheStage::on_client(std::string_view method, std::string_view path,
                                                                  std::string_view body, const pipeline::Tenant& tenant) {
  if (path != "/feedback") return std::nullopt;
  auto error = [](int status, const std::string& message, const char* param = nullptr) {
    return pipeline::AdminReply{status, api::Error(status, "invalid_request_error", message, {}, param ? param : "").body()};
  };
  if (method != "POST") return error(405, "Use POST /v1/cache/feedback.");
  json::error_code ec;
  auto v = json::parse(body, ec);
  if (ec || !v.is_object()) return error(400, "The body must be a JSON object {\"request_id\", \"wrong\"}.");
  const auto& o = v.as_object();
  auto* id = o.if_contains("request_id");
  auto* wrong = o.if_contains("wrong");
  if (!id || !id->is_string()) return error(400, "'request_id' must be the id of a cached answer.", "request_id");
  if (!wrong || !wrong->is_bool()) return error(400, "'wrong' must be true or false.", "wrong");
  ServedHit hit;
  {
    std::lock_guard lock(served_mu_);
    auto it = served_.find(std::string(id->as_string()));
    // Another tenant's request is as unknown as a missing one: ids are not a way to probe others' traffic.
    if (it == served_.end() || it->second.tenant != tenant.name)
      return error(404, "No recent cached answer has this request_id.", "request_id");
    hit = it->second;
    served_.erase(it);
  }
  json::object out{{"request_id", id->as_string()}, {"entry", cache::hex_id(hit.entry_id)}, {"wrong", wrong->as_bool()}};
  if (!wrong->as_bool()) return pipeline::AdminReply{200, json::serialize(out)};
  if (auto e = store_.mark_wrong(hit.entry_id); e && share_) share_->put(*e);
  double rate;
  {
    std::lock_guard lock(served_mu_);
    auto& b = budgets_[hit.ns];
    ++b.wrong;
    rate = double(b.wrong) / double(std::max<uint64_t>(b.hits, 1));
  }
  if (rate > cfg_.max_false_hit_rate) {
    // Over budget: this namespace needs closer neighbours from now on.
    double t = store_.namespace_threshold(hit.ns);
    t = std::min(0.999, t + (1.0 - t) / 2);
    store_.set_namespace_threshold(hit.ns, t);
    out["namespace_threshold"] = t;
  }
  out["false_hit_rate"] = rate;
  return pipeline::AdminReply{200, json::serialize(out)};
}

// ---- factory -------------------------------------------------------------------------------------

namespace {

template <typename T>
bool read(const YAML::Node& cfg, const char* key, T& out, std::string& error) {
  if (!cfg[key] || cfg[key].IsNull()) return true;
  try {
    out = cfg[key].as<T>();
    return true;
  } catch (const YAML::Exception&) {
    error = std::string("stages.cache.") + key + " has the wrong type";
    return false;
  }
}

}  // namespace

std::optional<std::string> read_cache_config(const YAML::Node& cfg, CacheStageConfig& c) {
  std::string error;
  double ttl_s = double(c.store.ttl_ms) / 1000.0;
  bool ok = read(cfg, "embedder", c.embedder, error) && read(cfg, "embedder_model", c.embedder_model, error) &&
            read(cfg, "hash_dim", c.hash_dim, error) && read(cfg, "embedder_trust", c.embedder_trust, error) &&
            read(cfg, "threshold", c.store.threshold, error) &&
            read(cfg, "ttl_s", ttl_s, error) && read(cfg, "max_entries", c.store.max_entries, error) &&
            read(cfg, "max_bytes", c.store.max_bytes, error) && read(cfg, "max_query_bytes", c.max_query_bytes, error) &&
            read(cfg, "max_false_hit_rate", c.max_false_hit_rate, error) &&
            read(cfg, "answers_per_entry", c.store.answers_per_entry, error) &&
            read(cfg, "candidates", c.store.candidates, error) &&
            read(cfg, "temperature_miss_slope", c.temperature_miss_slope, error) &&
            read(cfg, "max_miss_probability", c.max_miss_probability, error) &&
            read(cfg, "default_temperature", c.default_temperature, error) && read(cfg, "redis", c.redis, error) &&
            read(cfg, "redis_prefix", c.redis_prefix, error) &&
            read(cfg, "model_thresholds", c.model_thresholds, error) &&
            read(cfg, "tenant_thresholds", c.tenant_thresholds, error) &&
            read(cfg, "verifier_model", c.verifier.model, error) &&
            read(cfg, "verifier_budget_ms", c.verifier.budget_ms, error) &&
            read(cfg, "verifier_min_similarity", c.verifier.min_similarity, error);
  if (ok && cfg["guards"] && cfg["guards"].IsMap()) {
    const YAML::Node g = cfg["guards"];
    ok = read(g, "negation", c.store.guards.negation, error) && read(g, "number", c.store.guards.number, error) &&
         read(g, "entity", c.store.guards.entity, error) && read(g, "direction", c.store.guards.direction, error) &&
         read(g, "polarity", c.store.guards.polarity, error) && read(g, "scope", c.store.guards.scope, error) &&
         read(g, "content", c.store.guards.content, error) && read(g, "language", c.store.guards.language, error) &&
         read(g, "content_min_coverage", c.store.guards.content_min_coverage, error);
  }
  if (ok && cfg["index"] && cfg["index"].IsMap()) {
    const YAML::Node i = cfg["index"];
    ok = read(i, "m", c.store.index.m, error) && read(i, "ef_construction", c.store.index.ef_construction, error) &&
         read(i, "ef_search", c.store.index.ef_search, error);
  }
  if (!ok) return error;
  if (!(c.store.threshold > 0 && c.store.threshold <= 1)) return std::string("stages.cache.threshold must be in (0, 1]");
  if (!(c.embedder_trust > 0 && c.embedder_trust <= 1)) return std::string("stages.cache.embedder_trust must be in (0, 1]");
  // A sentence embedder's cosine already tells paraphrases from other questions; the hash embedder's
  // only counts shared words, so it never stands in for the content guard.
  c.store.guards.content_trusted_similarity = c.embedder == "hash" ? 2.0 : c.embedder_trust;
  if (ttl_s < 0) return std::string("stages.cache.ttl_s must be >= 0 (0: never expire)");
  if (c.store.max_entries == 0) return std::string("stages.cache.max_entries must be > 0");
  if (c.hash_dim < 16 || c.hash_dim > 8192) return std::string("stages.cache.hash_dim must be in 16..8192");
  if (c.verifier.budget_ms < 1 || c.verifier.budget_ms > 60000)
    return std::string("stages.cache.verifier_budget_ms must be in 1..60000");
  if (!(c.verifier.min_similarity >= 0 && c.verifier.min_similarity <= 1))
    return std::string("stages.cache.verifier_min_similarity must be in [0, 1]");
  c.store.ttl_ms = static_cast<int64_t>(ttl_s * 1000.0);
  return std::nullopt;
}

std::unique_ptr<pipeline::Stage> make_cache_stage(const YAML::Node& cfg, pipeline::Services& services, std::string& error) {
  CacheStageConfig c;
  if (auto err = read_cache_config(cfg, c)) {
    error = *err;
    return nullptr;
  }
  // English paraphrases are matched through WordNet (loaded once, here, not on the first request).
  if (!cache::WordNet::shared()) {
    error = "stages.cache: " + cache::WordNet::shared_error();
    return nullptr;
  }
  // Chinese and English meet through CC-CEDICT's glosses (also loaded here); without them the two
  // languages are matched apart, as before.
  if (!cache::Cedict::shared())
    spdlog::warn("stages.cache: {}; Chinese and English queries are matched apart", cache::Cedict::shared_error());
  std::unique_ptr<cache::Embedder> embedder;
  if (c.embedder == "hash") {
    embedder = std::make_unique<cache::HashEmbedder>(c.hash_dim);
  } else if (c.embedder == "remote" || c.embedder == "local") {
    if (c.embedder_model.empty()) {
      error = "stages.cache.embedder '" + c.embedder + "' needs stages.cache.embedder_model (a model in `models`)";
      return nullptr;
    }
    if (services.models && !services.models->has_model(c.embedder_model)) {
      error = "stages.cache.embedder_model '" + c.embedder_model + "' is not a configured model";
      return nullptr;
    }
    embedder = std::make_unique<cache::ModelEmbedder>(services.models, c.embedder_model, c.embedder);
  } else {
    error = "stages.cache.embedder must be hash, remote or local (got '" + c.embedder + "')";
    return nullptr;
  }
  if (!c.verifier.model.empty() && services.models && !services.models->has_model(c.verifier.model)) {
    error = "stages.cache.verifier_model '" + c.verifier.model + "' is not a configured model";
    return nullptr;
  }
  auto stage = std::make_unique<SemanticCacheStage>(std::move(c), std::move(embedder), services);
  if (std::string err = stage->start_share(); !err.empty()) {
    error = "stages.cache.redis: " + err;
    return nullptr;
  }
  return stage;
}

}  // namespace kuai::stages
