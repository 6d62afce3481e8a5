// Stage `cache`: the semantic cache. Never serves a wrong answer it could have caught.
//   on_request   exact match (hash of the normalised query in its namespace) → HNSW neighbours in the
//                namespace above the threshold → guards (negation, numbers, entities, key words);
//                a hit answers now (ChatResponse.cached = true; usage counts the prompt as cached
//                tokens); the server replays it as SSE chunks to a streaming client.
//                Probabilistic miss: with probability min(max_miss, slope × temperature) a hit is
//                skipped on purpose and the fresh answer is added to that entry (up to K answers).
//   on_response  stores a complete answer (finish_reason "stop", text only; the server never calls
//                it for a cut stream) for the query that missed.
//                With `verifier_model`, the nearest candidate only the content guard refused (above
//                verifier_min_similarity) is shown to that model with the query (cache_verifier.h):
//                "yes" within verifier_budget_ms serves it, anything else is the miss or refusal it was.
//   headers      x-kuai-cache: hit | miss | refused; x-kuai-cache-guard: <guard> when refused;
//                x-kuai-cache-entry / x-kuai-cache-similarity on a hit or refusal;
//                x-kuai-cache-verifier: yes | no | unclear | error | timeout (and "; remembered") when asked.
//   metrics      kuai_cache_lookups_total{result}, kuai_cache_refusals_total{guard},
//                kuai_cache_latency_saved_seconds_total, kuai_cache_stores_total, kuai_cache_entries,
//                kuai_cache_verifier_total{outcome}.
//   admin        GET stats | GET entries/<id> | DELETE entries/<id> (wrong answer: drops it and
//                tightens that entry's threshold) | DELETE entries (all) | DELETE namespaces/<ns> |
//                PUT namespaces/<ns>/threshold {"threshold": x}.
// Namespace = hash of tenant, model, system prompt and earlier turns, tools/tool_choice,
// response_format, sampling (temperature bucket, top_p, max_tokens, seed, stop, penalties, n).
// Per request: what a miss will store on_response (namespace, query, features, vector) lives in the
// request's Context::stage_state, so it dies with the request (a failed or cut request leaves nothing).
// Thread-safety: all hooks from any I/O thread; shared state is in cache::Store (locked), the served-hit
// table (locked) and the sampling RNG (locked). Redis I/O (when configured) runs on the share's own
// threads, never here.
#pragma once

#include "cache/embedder.h"
#include "cache/store.h"
#include "stages/cache_verifier.h"
#include "pipeline/pipeline.h"

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>

namespace kuai::cache { class RedisShare; }
namespace prometheus { class Counter; class Gauge; }

namespace kuai::stages {

struct CacheStageConfig {
  std::string embedder = "hash";        // hash | remote | local
  std::string embedder_model;           // public model for remote/local (models.<name>)
  size_t hash_dim = 512;
  double embedder_trust = 0.85;         // remote/local: cosine at which the content guard's coverage test is skipped
  cache::StoreConfig store;
  double temperature_miss_slope = 0.2;  // P(deliberate miss) = slope × temperature …
  double max_miss_probability = 0.8;    // … capped here
  double default_temperature = 0.0;     // used when a request sends none
  size_t max_query_bytes = 16384;       // longer last messages are neither looked up nor stored
  double max_false_hit_rate = 0.01;     // reported wrong hits per namespace hit, before its threshold rises
  std::map<std::string, double> model_thresholds;   // public model → threshold
  std::map<std::string, double> tenant_thresholds;  // tenant name → threshold
  std::string redis;                    // redis://host:port[/db]; empty: in-process only
  std::string redis_prefix = "kuai:cache:";
  CacheVerifierConfig verifier;         // verifier_model, verifier_budget_ms, verifier_min_similarity
};

class SemanticCacheStage : public pipeline::Stage {
 public:
  SemanticCacheStage(CacheStageConfig cfg, std::unique_ptr<cache::Embedder> embedder, pipeline::Services& services);
  ~SemanticCacheStage() override;

  std::string_view name() const override { return "cache"; }
  boost::asio::awaitable<pipeline::Verdict> on_request(pipeline::Context& ctx) override;
  void on_response(pipeline::Context& ctx, const api::ChatResponse& response) override;
  std::optional<pipeline::AdminReply> on_admin(std::string_view method, std::string_view path,
                                               std::string_view body) override;
  // POST /v1/cache/feedback {"request_id", "wrong": true}: the tenant that got a cached answer says it
  // was wrong. The entry is dropped (as the admin DELETE does), and when a namespace's reported false
  // hits pass `max_false_hit_rate` of its hits, its threshold moves halfway to 1.
  std::optional<pipeline::AdminReply> on_client(std::string_view method, std::string_view path, std::string_view body,
                                                const pipeline::Tenant& tenant) override;

  // Connects the Redis share (loads entries, subscribes). Empty string on success.
  std::string start_share();
  cache::Store& store() { return store_; }

  // The namespace id of a request (hex), and whether the request can be cached at all.
  static std::string namespace_of(const pipeline::Context& ctx, double temperature);
  static bool cacheable(const api::ChatRequest& req);

 private:
  // A missed query, waiting in the request's stage_state for the answer to store.
  struct Pending {
    std::string ns, query;
    cache::QueryFeatures features;
    std::vector<float> vec;
    std::optional<uint64_t> add_to;  // a deliberate miss: the answer joins this entry
  };

  // A hit served recently, for feedback (bounded: the oldest are forgotten).
  struct ServedHit {
    uint64_t entry_id;
    std::string ns, tenant;
  };
  struct NamespaceBudget {
    uint64_t hits = 0, wrong = 0;
  };
  void remember_hit(const pipeline::Context& ctx, const std::string& ns, uint64_t entry_id);

  double threshold_for(const pipeline::Context& ctx) const;
  api::ChatResponse answer_from(const pipeline::Context& ctx, const cache::LookupResult& r) const;
  void count(const char* result, const char* guard = nullptr);
  // The verifier's verdict on r's grey candidate, when there is one to ask about (headers and metric set).
  boost::asio::awaitable<std::optional<cache::LookupResult>> verified_hit(pipeline::Context& ctx, const Pending& p,
                                                                   const cache::LookupResult& r, double pick);

  CacheStageConfig cfg_;
  std::unique_ptr<cache::Embedder> embedder_;
  pipeline::Services& services_;
  cache::Store store_;
  std::unique_ptr<cache::RedisShare> share_;
  std::unique_ptr<CacheVerifier> verifier_;  // null without verifier_model

  std::mutex served_mu_;  // served_, served_order_, budgets_
  std::unordered_map<std::string, ServedHit> served_;  // request id → the hit it got
  std::deque<std::string> served_order_;
  std::unordered_map<std::string, NamespaceBudget> budgets_;

  std::mutex rng_mu_;  // rng_
  std::mt19937_64 rng_;

  std::atomic<uint64_t> hits_{0}, misses_{0}, refused_{0}, stores_{0};
  std::atomic<uint64_t> refused_by_[cache::kGuardKinds] = {};  // by cache::Guard
  std::atomic<uint64_t> verified_[5] = {};                       // by VerifyOutcome
  std::atomic<double> saved_ms_{0};
};

// Reads `stages.cache` into `out` (defaults for what is absent); the error names the key.
std::optional<std::string> read_cache_config(const YAML::Node& cfg, CacheStageConfig& out);
// Factory for the registry: `stages.cache` → stage (see docs/CONFIG.md, "Semantic cache").
std::unique_ptr<pipeline::Stage> make_cache_stage(const YAML::Node& cfg, pipeline::Services& services, std::string& error);

}  // namespace kuai::stages
