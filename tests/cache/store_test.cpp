#include "cache/embedder.h"
#include "cache/store.h"

#include <gtest/gtest.h>

#include <cmath>

namespace kuai::cache {
namespace {

struct Q {
  std::string text;
  QueryFeatures f;
  std::vector<float> v;
  explicit Q(std::string t) : text(std::move(t)), f(query_features(text)), v(HashEmbedder().embed_words(f.terms)) {}
};

Answer ans(std::string s) { return Answer{std::move(s), "stop", 5}; }

TEST(StoreTest, ExactHitSemanticHitAndMiss) {
  Store store(StoreConfig{});
  Q a("How do I reset my password?");
  ASSERT_TRUE(store.insert("ns", a.text, a.f, a.v, ans("Click 'forgot password'."), 800, 1000));
  Q same("how do I reset my password");  // same normalised text: exact
  auto r = store.lookup("ns", same.f, nullptr, 1001, 0.0);
  EXPECT_EQ(r.kind, LookupResult::Kind::Hit);
  EXPECT_TRUE(r.exact);
  EXPECT_EQ(r.answer.content, "Click 'forgot password'.");
  EXPECT_DOUBLE_EQ(r.cost_ms, 800);
  Q para("How can I reset my passwords?");
  r = store.lookup("ns", para.f, &para.v, 1001, 0.0);
  EXPECT_EQ(r.kind, LookupResult::Kind::Hit);
  EXPECT_FALSE(r.exact);
  EXPECT_GE(r.similarity, store.config().threshold);
  Q other("What is the capital of Peru?");
  EXPECT_EQ(store.lookup("ns", other.f, &other.v, 1001, 0.0).kind, LookupResult::Kind::Miss);
  // Another namespace never sees the entry.
  EXPECT_EQ(store.lookup("ns2", para.f, &para.v, 1001, 0.0).kind, LookupResult::Kind::Miss);
}

TEST(StoreTest, GuardsRefuseCloseButDifferentQueries) {
  StoreConfig cfg;
  cfg.threshold = 0.5;  // let the embedding propose them; the guards must say no
  Store store(cfg);
  Q a("Is coffee bad for you?");
  store.insert("ns", a.text, a.f, a.v, ans("In moderation, no."), 1, 1000);
  Q neg("Is coffee not bad for you?");
  auto r = store.lookup("ns", neg.f, &neg.v, 1001, 0.0);
  EXPECT_EQ(r.kind, LookupResult::Kind::Refused);
  EXPECT_EQ(r.guard, Guard::Negation);
  Q b("How many calories are in 2 eggs?");
  store.insert("ns", b.text, b.f, b.v, ans("About 140."), 1, 1000);
  Q num("How many calories are in 3 eggs?");
  r = store.lookup("ns", num.f, &num.v, 1001, 0.0);
  EXPECT_EQ(r.kind, LookupResult::Kind::Refused);
  EXPECT_EQ(r.guard, Guard::Number);
}

// The grey zone a model verifier looks at: only a candidate that nothing but the content guard refused.
TEST(StoreTest, ReportsTheCandidateOnlyTheContentGuardRefusedAndServesItOnRequest) {
  Store store(StoreConfig{});
  Q a("What's the penalty for filing taxes late?");
  const auto stored = store.insert("ns", a.text, a.f, a.v, ans("5% a month."), 1, 1000);
  ASSERT_TRUE(stored);
  Q para("fine for missing the tax filing deadline");
  auto r = store.lookup("ns", para.f, &para.v, 1001, 0.0);
  ASSERT_EQ(r.kind, LookupResult::Kind::Refused);
  EXPECT_EQ(r.guard, Guard::Content);
  EXPECT_EQ(r.grey_entry_id, stored->id);
  EXPECT_GT(r.grey_similarity, 0.3);
  auto served = store.serve(r.grey_entry_id, r.grey_similarity, 1002, 0.0);
  ASSERT_TRUE(served);
  EXPECT_EQ(served->kind, LookupResult::Kind::Hit);
  EXPECT_EQ(served->answer.content, "5% a month.");
  EXPECT_FALSE(store.serve(stored->id + 12345, 0.5, 1002, 0.0)) << "no such entry";
  Q neg("What's not the penalty for filing taxes late?");  // a hard guard: not grey
  r = store.lookup("ns", neg.f, &neg.v, 1001, 0.0);
  EXPECT_EQ(r.kind, LookupResult::Kind::Refused);
  EXPECT_EQ(r.guard, Guard::Negation);
  EXPECT_EQ(r.grey_entry_id, 0u);
}

// A sentence embedder (here a stand-in that maps the paraphrase next to the stored query, as a trained
// one does) decides rewording on its own above embedder_trust; the hard guards and the one-word-swap
// test still refuse.
TEST(StoreTest, ATrustedEmbedderSimilaritySkipsOnlyTheContentGuard) {
  StoreConfig cfg;
  cfg.guards.content_trusted_similarity = 0.85;
  Store store(cfg);
  std::vector<float> v(8, 0.0f), close(8, 0.0f), far(8, 0.0f);
  v[0] = 1.0f;
  close[0] = 0.95f, close[1] = std::sqrt(1.0f - 0.95f * 0.95f);  // cosine 0.95
  far[0] = 0.6f, far[1] = 0.8f;                                   // cosine 0.6
  Q a("What's the penalty for filing taxes late?");
  ASSERT_TRUE(store.insert("ns", a.text, a.f, v, ans("5% a month."), 1, 1000));
  Q para("fine for missing the tax filing deadline");  // words the content guard does not match
  auto r = store.lookup("ns", para.f, &close, 1001, 0.0);
  EXPECT_EQ(r.kind, LookupResult::Kind::Hit);
  EXPECT_NEAR(r.similarity, 0.95, 1e-4);
  // Below the trusted similarity, the words decide.
  r = store.lookup("ns", para.f, &far, 1001, 0.0);
  EXPECT_EQ(r.kind, LookupResult::Kind::Refused);
  EXPECT_EQ(r.guard, Guard::Content);
  // A negation or a name the embedder put as close is still another question.
  Q neg("What's not the penalty for filing taxes late?");
  r = store.lookup("ns", neg.f, &close, 1001, 0.0);
  EXPECT_EQ(r.kind, LookupResult::Kind::Refused);
  EXPECT_EQ(r.guard, Guard::Negation);
  Q entity("What's the penalty for filing taxes late in Canada?");
  r = store.lookup("ns", entity.f, &close, 1001, 0.0);
  EXPECT_EQ(r.kind, LookupResult::Kind::Refused);
  EXPECT_EQ(r.guard, Guard::Entity);
  // One thing swapped in the same frame: still refused, however close (embedders put these closest).
  Q dogs("Can dogs eat blueberries?");
  store.insert("ns", dogs.text, dogs.f, far, ans("Yes, in moderation."), 1, 1000);
  Q grapes("Can dogs eat grapes?");
  r = store.lookup("ns", grapes.f, &far, 1001, 0.0);  // `far` is the stored vector itself here: cosine 1
  EXPECT_EQ(r.kind, LookupResult::Kind::Refused);
  EXPECT_EQ(r.guard, Guard::Content);
  // The hash embedder's setting (never trusted) keeps the content guard at any similarity.
  Store lexical(StoreConfig{});
  lexical.insert("ns", a.text, a.f, v, ans("5% a month."), 1, 1000);
  r = lexical.lookup("ns", para.f, &close, 1001, 0.0);
  EXPECT_EQ(r.kind, LookupResult::Kind::Refused);
  EXPECT_EQ(r.guard, Guard::Content);
}

TEST(StoreTest, TtlExpires) {
  StoreConfig cfg;
  cfg.ttl_ms = 1000;
  Store store(cfg);
  Q a("What is the speed of light?");
  store.insert("ns", a.text, a.f, a.v, ans("c"), 1, 5000);
  EXPECT_EQ(store.lookup("ns", a.f, &a.v, 5999, 0.0).kind, LookupResult::Kind::Hit);
  EXPECT_EQ(store.lookup("ns", a.f, &a.v, 6000, 0.0).kind, LookupResult::Kind::Miss);
  EXPECT_EQ(store.stats().entries, 0u);
  EXPECT_EQ(store.stats().expirations, 1u);
}

TEST(StoreTest, LruEvictsLeastRecentlyUsed) {
  StoreConfig cfg;
  cfg.max_entries = 2;
  Store store(cfg);
  std::vector<uint64_t> evicted;
  store.on_evict([&](uint64_t id) { evicted.push_back(id); });
  Q a("Who wrote Hamlet?"), b("What is the tallest mountain?"), c("How do vaccines work?");
  auto ea = store.insert("ns", a.text, a.f, a.v, ans("Shakespeare"), 1, 1000);
  auto eb = store.insert("ns", b.text, b.f, b.v, ans("Everest"), 1, 1000);
  ASSERT_EQ(store.lookup("ns", a.f, nullptr, 1001, 0).kind, LookupResult::Kind::Hit);  // a is now recent
  store.insert("ns", c.text, c.f, c.v, ans("Immune memory"), 1, 1002);
  EXPECT_EQ(store.stats().entries, 2u);
  ASSERT_EQ(evicted.size(), 1u);
  EXPECT_EQ(evicted[0], eb->id);
  EXPECT_EQ(store.lookup("ns", b.f, &b.v, 1003, 0).kind, LookupResult::Kind::Miss);
  EXPECT_EQ(store.lookup("ns", a.f, &a.v, 1003, 0).kind, LookupResult::Kind::Hit);
  EXPECT_TRUE(ea.has_value());
}

TEST(StoreTest, SeveralAnswersPerEntryAndRandomPick) {
  StoreConfig cfg;
  cfg.answers_per_entry = 2;
  Store store(cfg);
  Q a("Tell me a joke about cats");
  auto e1 = store.insert("ns", a.text, a.f, a.v, ans("joke 1"), 1, 1000);
  auto e2 = store.insert("ns", a.text, a.f, a.v, ans("joke 2"), 1, 1000);
  ASSERT_TRUE(e1 && e2);
  EXPECT_EQ(e1->id, e2->id);
  EXPECT_EQ(e2->answers.size(), 2u);
  store.insert("ns", a.text, a.f, a.v, ans("joke 2"), 1, 1000);  // duplicate: not added
  EXPECT_EQ(store.get(e1->id)->answers.size(), 2u);
  auto r0 = store.lookup("ns", a.f, nullptr, 1001, 0.1);
  auto r1 = store.lookup("ns", a.f, nullptr, 1001, 0.9);
  EXPECT_EQ(r0.answer.content, "joke 1");
  EXPECT_EQ(r1.answer.content, "joke 2");
  EXPECT_EQ(r1.answers, 2u);
  store.insert("ns", a.text, a.f, a.v, ans("joke 3"), 1, 1000);  // full: replaces the oldest slot
  auto e = store.get(e1->id);
  EXPECT_EQ(e->answers.size(), 2u);
  EXPECT_EQ(e->answers[0].content, "joke 3");
  // A deliberate miss on a similar query adds to the entry it skipped.
  Q b("Tell me a joke about cats please");
  store.insert("ns", b.text, b.f, b.v, ans("joke 4"), 1, 1000, e1->id);
  EXPECT_EQ(store.get(e1->id)->answers[1].content, "joke 4");
  EXPECT_EQ(store.stats().entries, 1u);
}

TEST(StoreTest, MarkWrongDropsAnswersAndTightensThreshold) {
  Store store(StoreConfig{});
  Q a("How do I reset my password?");
  auto e = store.insert("ns", a.text, a.f, a.v, ans("wrong"), 1, 1000);
  Q para("How can I reset my passwords?");
  auto hit = store.lookup("ns", para.f, &para.v, 1001, 0);
  ASSERT_EQ(hit.kind, LookupResult::Kind::Hit);
  auto marked = store.mark_wrong(e->id);
  ASSERT_TRUE(marked);
  EXPECT_TRUE(marked->answers.empty());
  EXPECT_GT(marked->threshold, hit.similarity);
  EXPECT_EQ(store.lookup("ns", a.f, &a.v, 1002, 0).kind, LookupResult::Kind::Miss);
  // A new answer for the same query keeps the tighter threshold: the paraphrase no longer hits.
  store.insert("ns", a.text, a.f, a.v, ans("right"), 1, 1003);
  EXPECT_EQ(store.lookup("ns", a.f, &a.v, 1004, 0).answer.content, "right");
  if (hit.similarity < 0.999) {
    EXPECT_NE(store.lookup("ns", para.f, &para.v, 1004, 0).kind, LookupResult::Kind::Hit);
  }
  EXPECT_FALSE(store.mark_wrong(42));
}

TEST(StoreTest, FlushNamespaceAndThresholdOverride) {
  Store store(StoreConfig{});
  Q a("What causes rainbows?"), b("Who painted the Mona Lisa?");
  store.insert("one", a.text, a.f, a.v, ans("light"), 1, 1000);
  store.insert("two", b.text, b.f, b.v, ans("da Vinci"), 1, 1000);
  EXPECT_EQ(store.flush_namespace("one"), 1u);
  EXPECT_EQ(store.lookup("one", a.f, &a.v, 1001, 0).kind, LookupResult::Kind::Miss);
  EXPECT_EQ(store.lookup("two", b.f, &b.v, 1001, 0).kind, LookupResult::Kind::Hit);
  Q para("Who painted the Mona Lisa");
  store.set_namespace_threshold("two", 0.9999);
  // Exact still hits (same normalised text); any semantic neighbour now needs ≥ 0.9999.
  EXPECT_EQ(store.lookup("two", para.f, &para.v, 1001, 0).kind, LookupResult::Kind::Hit);
  Q near("Who painted the Mona Lisa painting?");
  EXPECT_NE(store.lookup("two", near.f, &near.v, 1001, 0).kind, LookupResult::Kind::Hit);
  EXPECT_EQ(store.flush_all(), 1u);
  EXPECT_EQ(store.stats().entries, 0u);
}

TEST(StoreTest, PutReplacesById) {
  Store store(StoreConfig{});
  Q a("Define entropy");
  auto e = store.insert("ns", a.text, a.f, a.v, ans("disorder"), 1, 1000);
  Entry copy = *e;
  copy.answers = {ans("a measure of disorder")};
  store.put(copy, 1001);
  EXPECT_EQ(store.stats().entries, 1u);
  EXPECT_EQ(store.lookup("ns", a.f, &a.v, 1002, 0).answer.content, "a measure of disorder");
  EXPECT_TRUE(store.erase(e->id));
  EXPECT_FALSE(store.erase(e->id));
}

TEST(HexId, RoundTripsAndRejectsWhatIsNotAnId) {
  EXPECT_EQ(hex_id(0x1f), "000000000000001f");
  EXPECT_EQ(parse_hex_id(hex_id(0xdeadbeefcafef00dULL)), 0xdeadbeefcafef00dULL);
  EXPECT_EQ(parse_hex_id("1F"), 0x1fu);
  EXPECT_FALSE(parse_hex_id(""));
  EXPECT_FALSE(parse_hex_id("12345678901234567"));  // 17 digits
  EXPECT_FALSE(parse_hex_id("12g4"));
  EXPECT_FALSE(parse_hex_id("-1"));
}

}  // namespace
}  // namespace kuai::cache
