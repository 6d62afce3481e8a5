// Stage `cache` on its own (no server): lookup → answer/continue, store on a complete answer, headers,
// guards, namespaces, probabilistic miss with several answers, admin API, config errors; and through
// `kuai serve` with a fake embedding model: the embedder's calls count against the request's tier.
#include "obs/metrics.h"
#include "stages/semantic_cache.h"
#include "stage_harness.h"
#include "stages/two_model_gateway.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <optional>
#include <thread>
#include <vector>

namespace kuai::stages {
namespace {

using testing::header;
using testing::msg;
using testing::request;
using testing::TwoModelGateway;

struct Harness {
  obs::Metrics metrics;
  pipeline::Services services;
  std::unique_ptr<pipeline::Stage> stage;
  boost::asio::io_context io;

  explicit Harness(const std::string& yaml = "{}") {
    services.metrics = &metrics;
    services.executor = io.get_executor();
    std::string error;
    stage = make_cache_stage(YAML::Load(yaml), services, error);
    if (!stage) throw std::runtime_error(error);
  }
  SemanticCacheStage& cache() { return static_cast<SemanticCacheStage&>(*stage); }

  // Runs on_request; returns the verdict. `ctx` must outlive a later respond().
  pipeline::Verdict ask(pipeline::Context& ctx) {
    ctx.services = &services;
    if (ctx.request_id.empty()) ctx.request_id = "chatcmpl-" + std::to_string(++n_);
    auto fut = boost::asio::co_spawn(io, stage->on_request(ctx), boost::asio::use_future);
    io.restart();
    io.run();
    return fut.get();
  }
  // The upstream's answer arriving for ctx.
  void respond(pipeline::Context& ctx, std::string text, std::string finish = "stop") {
    api::ChatResponse r;
    r.id = ctx.request_id;
    r.model = ctx.request.model;
    api::Choice c;
    c.content = std::move(text);
    c.finish_reason = std::move(finish);
    r.choices.push_back(std::move(c));
    r.usage = api::Usage{10, 7};
    stage->on_response(ctx, r);
  }
  int n_ = 0;
};

pipeline::Context user(const std::string& text, std::vector<api::Message> before = {}) {
  pipeline::Context ctx;
  before.push_back(msg("user", text));
  ctx.request = request(std::move(before));
  return ctx;
}

TEST(SemanticCacheStageTest, MissStoresThenParaphraseHits) {
  Harness h;
  auto first = user("How do I reset my password?");
  auto v = h.ask(first);
  EXPECT_EQ(v.kind, pipeline::Verdict::Kind::Continue);
  EXPECT_EQ(header(first, "x-kuai-cache"), "miss");
  h.respond(first, "Use the 'forgot password' link.");

  auto second = user("how can I reset my passwords");
  v = h.ask(second);
  ASSERT_EQ(v.kind, pipeline::Verdict::Kind::Answer);
  EXPECT_EQ(header(second, "x-kuai-cache"), "hit");
  EXPECT_FALSE(header(second, "x-kuai-cache-entry").empty());
  ASSERT_TRUE(v.answer);
  EXPECT_TRUE(v.answer->cached);
  EXPECT_EQ(v.answer->text(), "Use the 'forgot password' link.");
  EXPECT_EQ(v.answer->id, second.request_id);
  ASSERT_TRUE(v.answer->usage);
  EXPECT_EQ(v.answer->usage->completion_tokens, 7);
  auto body = v.answer->to_json();
  EXPECT_EQ(body.at("usage").at("prompt_tokens_details").at("cached_tokens"), body.at("usage").at("prompt_tokens"));
  // The hit's own on_response call (the runner calls every stage that ran) stores nothing new.
  h.stage->on_response(second, *v.answer);
  EXPECT_EQ(h.cache().store().stats().entries, 1u);
  EXPECT_NE(h.metrics.serialize().find("kuai_cache_lookups_total{result=\"hit\"} 1"), std::string::npos);
}

// What a miss keeps for on_response lives in the request's Context (stage_state), not in the stage:
// it goes with the request, and a later request (even one at the same address with the same id) never
// stores its answer under an earlier request's query.
TEST(SemanticCacheStageTest, PendingQueryLivesAndDiesWithTheRequest) {
  Harness h;
  // hit, then miss, then store: the store-on-response path through the request's slot.
  auto a = user("How many moons does Mars have?");
  EXPECT_EQ(h.ask(a).kind, pipeline::Verdict::Kind::Continue);
  EXPECT_FALSE(a.stage_state.empty()) << "a miss keeps its query in the request for on_response";
  h.respond(a, "Two: Phobos and Deimos.");
  EXPECT_TRUE(a.stage_state.empty()) << "on_response takes it";
  h.respond(a, "A second answer for the same request.");  // stored at most once per request
  EXPECT_EQ(h.cache().store().stats().entries, 1u);
  auto hit = user("How many moons does Mars have?");
  ASSERT_EQ(h.ask(hit).kind, pipeline::Verdict::Kind::Answer);
  EXPECT_TRUE(hit.stage_state.empty()) << "a hit keeps nothing";
  auto miss = user("How many moons does Jupiter have?");
  EXPECT_EQ(h.ask(miss).kind, pipeline::Verdict::Kind::Continue);
  h.respond(miss, "Ninety-five known moons.");
  EXPECT_EQ(h.cache().store().stats().entries, 2u);
  auto again = user("How many moons does Jupiter have?");
  auto v = h.ask(again);
  ASSERT_EQ(v.kind, pipeline::Verdict::Kind::Answer);
  EXPECT_EQ(v.answer->text(), "Ninety-five known moons.");

  // A request that never gets an answer (failed upstream, cut stream) takes its query with it: a new
  // request built in the same place with the same id, answered without a lookup, stores nothing.
  std::optional<pipeline::Context> ctx;
  ctx.emplace(user("What is the boiling point of water on Everest?"));
  ctx->request_id = "chatcmpl-reused";
  EXPECT_EQ(h.ask(*ctx).kind, pipeline::Verdict::Kind::Continue);
  const pipeline::Context* where = &*ctx;
  ctx.reset();
  ctx.emplace(user("Tell me about something else entirely"));
  ctx->request_id = "chatcmpl-reused";
  ctx->services = &h.services;
  ASSERT_EQ(&*ctx, where);
  h.respond(*ctx, "About 71 degrees Celsius.");
  EXPECT_EQ(h.cache().store().stats().entries, 2u);
  auto everest = user("What is the boiling point of water on Everest?");
  EXPECT_EQ(h.ask(everest).kind, pipeline::Verdict::Kind::Continue);
}

// A `remote` embedder's call is the request's: it waits for the request's tenant's tier (issue 17).
// Three requests at once from a tenant limited to one call at a time never have two embedding calls
// at the (slow) embedding model; a tenant without a limit has them all at once.
TEST(SemanticCacheStageTest, EmbedderCallsRespectTheTenantsTier) {
  TwoModelGateway gw({"--ttft-ms", "300", "--embedding-dim", "32"}, {"--answer-tokens", "4"},
                     "tenants:\n  k-free: {name: f, tier: free}\n  k-pro: {name: p, tier: pro}\n"
                     "tiers:\n  free: {max_concurrency: 1}\n  pro: {max_concurrency: 0}\n"
                     "stages:\n  cache: {embedder: remote, embedder_model: small}\n");
  auto in_flight_max = [&](const std::string& key) {
    test::HttpClient(gw.small.port).post("/stats/reset", "");
    std::vector<int> status(3, 0);
    std::vector<std::thread> clients;
    for (int i = 0; i < 3; ++i)
      clients.emplace_back([&, i] {
        boost::json::object body{
            {"model", "large"},
            {"messages", boost::json::array{boost::json::object{
                             {"role", "user"}, {"content", key + " question number " + std::to_string(i) + " about tiers"}}}}};
        test::HttpClient c(gw.gateway->port, test::Ms(30000));
        status[i] = c.post("/v1/chat/completions", boost::json::serialize(body), {{"Authorization", "Bearer " + key}}).status;
      });
    for (auto& t : clients) t.join();
    for (int s : status) EXPECT_EQ(s, 200) << key;
    EXPECT_EQ(gw.small.model_requests(), 3) << "each request embeds its query once";
    return gw.small.stats().at("model_in_flight_max").to_number<int64_t>();
  };
  EXPECT_EQ(in_flight_max("k-free"), 1);
  EXPECT_GT(in_flight_max("k-pro"), 1);
}

// A sentence embedder through the gateway (`remote`; the fake's --embedding-pairs puts each pair's b at
// cosine 0.95 to its a when they are paraphrases, 0.92 when they are look-alikes): a paraphrase worded
// so that the content guard would refuse it hits above embedder_trust, and the hard guards still refuse
// the look-alike the embedder put as close.
TEST(SemanticCacheStageTest, ASentenceEmbedderHitsRewordedParaphrasesAndTheHardGuardsHold) {
  const std::string pairs = ::testing::TempDir() + "kuai_embedding_pairs_" + std::to_string(::getpid()) + ".jsonl";
  std::ofstream(pairs) << "{\"a\": \"What's the penalty for filing taxes late?\", \"b\": \"fine for missing the tax filing "
                          "deadline\", \"same\": true}\n"
                          "{\"a\": \"Is coffee bad for you?\", \"b\": \"Is coffee not bad for you?\", \"same\": false}\n";
  for (const double trust : {0.85, 0.99}) {
    TwoModelGateway gw({"--embedding-dim", "64", "--embedding-pairs", pairs}, {"--answer-tokens", "4"},
                       "stages:\n  cache: {embedder: remote, embedder_model: small, embedder_trust: " + std::to_string(trust) + "}\n");
    ASSERT_EQ(gw.chat("What's the penalty for filing taxes late?").status, 200);
    auto b = gw.chat("fine for missing the tax filing deadline");
    ASSERT_EQ(b.status, 200);
    if (trust < 0.95) {
      EXPECT_EQ(b.header("x-kuai-cache"), "hit") << "cosine 0.95 is above embedder_trust " << trust;
    } else {
      EXPECT_EQ(b.header("x-kuai-cache"), "refused");
      EXPECT_EQ(b.header("x-kuai-cache-guard"), "content");
    }
    ASSERT_EQ(gw.chat("Is coffee bad for you?").status, 200);
    auto neg = gw.chat("Is coffee not bad for you?");
    EXPECT_EQ(neg.header("x-kuai-cache"), "refused");
    EXPECT_EQ(neg.header("x-kuai-cache-guard"), "negation");
  }
  std::remove(pairs.c_str());
}

TEST(SemanticCacheStageTest, GuardRefusalIsReportedInHeaders) {
  Harness h("{threshold: 0.3}");  // let the embedding propose them; the guards must say no
  auto a = user("Can dogs eat chocolate?");
  h.ask(a);
  h.respond(a, "No, chocolate is toxic to dogs.");
  auto b = user("Can dogs not eat chocolate?");
  auto v = h.ask(b);
  EXPECT_EQ(v.kind, pipeline::Verdict::Kind::Continue);
  EXPECT_EQ(header(b, "x-kuai-cache"), "refused");
  EXPECT_EQ(header(b, "x-kuai-cache-guard"), "negation");
  auto c = user("Best restaurants in Tokyo");
  h.ask(c);
  h.respond(c, "Sushi places.");
  auto d = user("Best restaurants in Osaka");
  h.ask(d);
  EXPECT_EQ(header(d, "x-kuai-cache"), "refused");
  EXPECT_EQ(header(d, "x-kuai-cache-guard"), "entity");
  auto stats = boost::json::parse(h.stage->on_admin("GET", "stats", "")->body).as_object();
  EXPECT_EQ(stats.at("refused").to_number<uint64_t>(), 2u);
  EXPECT_EQ(stats.at("refused_by_guard").at("negation").to_number<uint64_t>(), 1u);
}

TEST(SemanticCacheStageTest, LanguageGuardKeepsAnswersInTheLanguageAsked) {
  Harness h("{threshold: 0.1, guards: {language: true}}");
  auto a = user("How do I get a refund for a game on Steam?");
  h.ask(a);
  h.respond(a, "Request it on help.steampowered.com within 14 days.");
  auto b = user("Steam 游戏怎么退款");
  EXPECT_EQ(h.ask(b).kind, pipeline::Verdict::Kind::Continue);
  EXPECT_EQ(header(b, "x-kuai-cache"), "refused");
  EXPECT_EQ(header(b, "x-kuai-cache-guard"), "language");
  auto c = user("how do I get a refund for a Steam game");  // the same language still hits
  EXPECT_EQ(h.ask(c).kind, pipeline::Verdict::Kind::Answer);
  auto stats = boost::json::parse(h.stage->on_admin("GET", "stats", "")->body).as_object();
  EXPECT_EQ(stats.at("refused_by_guard").at("language").to_number<uint64_t>(), 1u);
}

TEST(SemanticCacheStageTest, NamespaceSeparatesSystemPromptModelAndTemperature) {
  Harness h;
  auto a = user("Write a haiku about autumn", {msg("system", "You are a poet.")});
  h.ask(a);
  h.respond(a, "leaves fall");
  auto same = user("Write a haiku about autumn", {msg("system", "You are a poet.")});
  EXPECT_EQ(h.ask(same).kind, pipeline::Verdict::Kind::Answer);
  auto other_system = user("Write a haiku about autumn", {msg("system", "You are a lawyer.")});
  EXPECT_EQ(h.ask(other_system).kind, pipeline::Verdict::Kind::Continue);
  auto other_model = user("Write a haiku about autumn", {msg("system", "You are a poet.")});
  other_model.request.model = "other-model";
  EXPECT_EQ(h.ask(other_model).kind, pipeline::Verdict::Kind::Continue);
  auto hot = user("Write a haiku about autumn", {msg("system", "You are a poet.")});
  hot.request.temperature = 1.5;
  EXPECT_EQ(h.ask(hot).kind, pipeline::Verdict::Kind::Continue);
  auto other_tenant = user("Write a haiku about autumn", {msg("system", "You are a poet.")});
  other_tenant.tenant.name = "bob";
  EXPECT_EQ(h.ask(other_tenant).kind, pipeline::Verdict::Kind::Continue);
}

TEST(SemanticCacheStageTest, OnlyCompleteTextAnswersAreStored) {
  Harness h;
  auto a = user("Summarize the plot of Hamlet");
  h.ask(a);
  h.respond(a, "The prince hesit", "length");  // cut by max_tokens: not stored
  auto b = user("Summarize the plot of Hamlet");
  EXPECT_EQ(h.ask(b).kind, pipeline::Verdict::Kind::Continue);
  h.respond(b, "");  // empty: not stored
  EXPECT_EQ(h.cache().store().stats().entries, 0u);
  // Not cacheable at all: the last message is not the user's, or n > 1.
  auto tool = user("x");
  tool.request.messages.back().role = "tool";
  EXPECT_EQ(h.ask(tool).kind, pipeline::Verdict::Kind::Continue);
  EXPECT_EQ(header(tool, "x-kuai-cache"), "miss");
  h.respond(tool, "whatever");
  EXPECT_EQ(h.cache().store().stats().entries, 0u);
}

TEST(SemanticCacheStageTest, HighTemperatureMissesOnPurposeAndCollectsAnswers) {
  Harness h("{answers_per_entry: 3, temperature_miss_slope: 1.0, max_miss_probability: 1.0}");
  auto a = user("Tell me a joke about cats");
  a.request.temperature = 1.2;
  h.ask(a);
  h.respond(a, "joke A");
  for (const char* joke : {"joke B", "joke C"}) {
    auto again = user("Tell me a joke about cats");
    again.request.temperature = 1.2;  // P(miss) = min(1, 1.0 × 1.2) = 1
    EXPECT_EQ(h.ask(again).kind, pipeline::Verdict::Kind::Continue);
    EXPECT_EQ(header(again, "x-kuai-cache-reason"), "sampled");
    h.respond(again, joke);
  }
  auto ids = h.cache().store().ids();
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(h.cache().store().get(ids[0])->answers.size(), 3u);
  // Greedy requests (temperature 0 by default) in the same bucket would hit; here the bucket differs,
  // so check with the stage's own store: each answer is reachable.
  std::set<std::string> seen;
  auto f = cache::query_features("Tell me a joke about cats");
  for (double r : {0.1, 0.5, 0.9}) {
    auto ns = h.cache().store().get(ids[0])->ns;
    seen.insert(h.cache().store().lookup(ns, f, nullptr, 0, r).answer.content);
  }
  EXPECT_EQ(seen.size(), 3u);
}

TEST(SemanticCacheStageTest, AdminDeleteMarksWrongAndTightens) {
  Harness h;
  auto a = user("What is the capital of Australia?");
  h.ask(a);
  h.respond(a, "Sydney");  // wrong
  auto b = user("What is the capital of Australia");
  ASSERT_EQ(h.ask(b).kind, pipeline::Verdict::Kind::Answer);
  std::string id = header(b, "x-kuai-cache-entry");
  auto got = h.stage->on_admin("GET", "entries/" + id, "");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 200);
  EXPECT_NE(got->body.find("Sydney"), std::string::npos);
  auto del = h.stage->on_admin("DELETE", "/entries/" + id, "");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 200);
  auto c = user("What is the capital of Australia?");
  EXPECT_EQ(h.ask(c).kind, pipeline::Verdict::Kind::Continue);
  h.respond(c, "Canberra");
  auto d = user("what is the capital of australia");
  auto v = h.ask(d);
  ASSERT_EQ(v.kind, pipeline::Verdict::Kind::Answer);
  EXPECT_EQ(v.answer->text(), "Canberra");

  EXPECT_EQ(h.stage->on_admin("DELETE", "entries/zzz", "")->status, 400);
  EXPECT_EQ(h.stage->on_admin("DELETE", "entries/12345", "")->status, 404);
  EXPECT_FALSE(h.stage->on_admin("GET", "nothing-here", ""));
  EXPECT_EQ(h.stage->on_admin("PUT", "namespaces/abc/threshold", "{\"threshold\": 2}")->status, 400);
  EXPECT_EQ(h.stage->on_admin("PUT", "namespaces/abc/threshold", "{\"threshold\": 0.97}")->status, 200);
  EXPECT_EQ(h.stage->on_admin("DELETE", "entries", "")->status, 200);
  EXPECT_EQ(h.cache().store().stats().entries, 0u);
}

TEST(SemanticCacheStageTest, FlushNamespace) {
  Harness h;
  auto a = user("Who painted the Mona Lisa?");
  h.ask(a);
  h.respond(a, "Leonardo da Vinci");
  auto b = user("Who painted the Mona Lisa?");
  ASSERT_EQ(h.ask(b).kind, pipeline::Verdict::Kind::Answer);
  auto ns = h.cache().store().get(h.cache().store().ids()[0])->ns;
  auto r = h.stage->on_admin("DELETE", "namespaces/" + ns, "");
  ASSERT_TRUE(r);
  EXPECT_NE(r->body.find("\"flushed\":1"), std::string::npos);
  auto c = user("Who painted the Mona Lisa?");
  EXPECT_EQ(h.ask(c).kind, pipeline::Verdict::Kind::Continue);
}

TEST(SemanticCacheStageTest, ConfigErrors) {
  pipeline::Services services;
  std::string error;
  EXPECT_FALSE(make_cache_stage(YAML::Load("{threshold: 1.5}"), services, error));
  EXPECT_NE(error.find("threshold"), std::string::npos);
  EXPECT_FALSE(make_cache_stage(YAML::Load("{embedder: magic}"), services, error));
  EXPECT_NE(error.find("embedder"), std::string::npos);
  EXPECT_FALSE(make_cache_stage(YAML::Load("{embedder: remote}"), services, error));
  EXPECT_NE(error.find("embedder_model"), std::string::npos);
  EXPECT_FALSE(make_cache_stage(YAML::Load("{ttl_s: [1]}"), services, error));
  EXPECT_FALSE(make_cache_stage(YAML::Load("{redis: 'http://nope'}"), services, error));
  EXPECT_NE(error.find("redis"), std::string::npos);
  EXPECT_TRUE(make_cache_stage(YAML::Load("{threshold: 0.9, ttl_s: 60, max_entries: 10, guards: {number: false}}"), services, error)) << error;
}

}  // namespace
}  // namespace kuai::stages
