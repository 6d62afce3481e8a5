// Sharing through a real redis-server (started here on a free port, killed on teardown): entries,
// deletions and flushes reach other instances; a new instance loads everything; losing an instance
// loses nothing. Plus the entry codec and URL parsing.
#include "cache/embedder.h"
#include "cache/entry_codec.h"
#include "cache/redis_share.h"

#include "support/process.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace kuai::cache {
namespace {

using namespace std::chrono_literals;

struct Q {
  std::string text;
  QueryFeatures f;
  std::vector<float> v;
  explicit Q(std::string t) : text(std::move(t)), f(query_features(text)), v(HashEmbedder().embed_words(f.terms)) {}
};

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 5000ms) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

class RedisShareTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = test::free_port();
    redis_.start("/usr/bin/redis-server", {"--port", std::to_string(port_), "--save", "", "--appendonly", "no",
                                           "--daemonize", "no", "--bind", "127.0.0.1"});
    ASSERT_TRUE(test::wait_for_port(port_)) << redis_.output();
    url_ = "redis://127.0.0.1:" + std::to_string(port_);
  }
  std::unique_ptr<RedisShare> share(Store& s) {
    auto r = RedisShare::start(url_, "kuai:test:", s);
    if (auto* e = std::get_if<std::string>(&r)) {
      ADD_FAILURE() << *e;
      return nullptr;
    }
    return std::move(std::get<std::unique_ptr<RedisShare>>(r));
  }
  uint16_t port_ = 0;
  test::ChildProcess redis_;
  std::string url_;
};

int64_t now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

TEST_F(RedisShareTest, TwoInstancesShareAndALostInstanceLosesNothing) {
  Store a_store(StoreConfig{}), b_store(StoreConfig{});
  auto a = share(a_store);
  auto b = share(b_store);
  ASSERT_TRUE(a && b);
  Q q("How do I reset my password?");
  auto e = a_store.insert("ns", q.text, q.f, q.v, Answer{"Use the reset link.", "stop", 5}, 900, now());
  ASSERT_TRUE(e);
  a->put(*e);
  Q para("how can I reset my passwords");
  ASSERT_TRUE(eventually([&] { return b_store.lookup("ns", para.f, &para.v, now(), 0).kind == LookupResult::Kind::Hit; }));
  EXPECT_EQ(b_store.lookup("ns", para.f, &para.v, now(), 0).answer.content, "Use the reset link.");
  EXPECT_TRUE(eventually([&] { return b->stats().applied >= 1; }));  // counted just after the put

  // Instance A goes away (its share and store destroyed): B still hits, and a new instance C loads it.
  a.reset();
  EXPECT_EQ(b_store.lookup("ns", para.f, &para.v, now(), 0).kind, LookupResult::Kind::Hit);
  Store c_store(StoreConfig{});
  auto c = share(c_store);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->stats().loaded, 1u);
  auto hit = c_store.lookup("ns", para.f, &para.v, now(), 0);
  ASSERT_EQ(hit.kind, LookupResult::Kind::Hit);
  EXPECT_EQ(hit.answer.content, "Use the reset link.");
  EXPECT_DOUBLE_EQ(hit.cost_ms, 900);

  // A wrong answer marked on C reaches B; a flush on B reaches C.
  auto marked = c_store.mark_wrong(e->id);
  ASSERT_TRUE(marked);
  c->put(*marked);
  ASSERT_TRUE(eventually([&] { return b_store.lookup("ns", q.f, &q.v, now(), 0).kind == LookupResult::Kind::Miss; }));
  EXPECT_GT(b_store.get(e->id)->threshold, 0.85);
  Q other("Who wrote Hamlet?");
  auto e2 = b_store.insert("ns2", other.text, other.f, other.v, Answer{"Shakespeare", "stop", 2}, 10, now());
  b->put(*e2);
  ASSERT_TRUE(eventually([&] { return c_store.get(e2->id).has_value(); }));
  b_store.flush_namespace("ns2");
  b->flush("ns2");
  ASSERT_TRUE(eventually([&] { return !c_store.get(e2->id).has_value(); }));
  b->erase(e->id);
  b_store.erase(e->id);
  ASSERT_TRUE(eventually([&] { return !c_store.get(e->id).has_value(); }));
  // Nothing of the flushed/erased entries is left for a newcomer.
  Store d_store(StoreConfig{});
  auto d = share(d_store);
  EXPECT_EQ(d->stats().loaded, 0u);
}

TEST_F(RedisShareTest, ExpiredEntriesAreNotLoaded) {
  StoreConfig cfg;
  cfg.ttl_ms = 300;
  Store a_store(cfg);
  auto a = share(a_store);
  Q q("What is the speed of light?");
  auto e = a_store.insert("ns", q.text, q.f, q.v, Answer{"c", "stop", 1}, 1, now());
  a->put(*e);
  std::this_thread::sleep_for(600ms);
  Store b_store(cfg);
  auto b = share(b_store);
  EXPECT_EQ(b->stats().loaded, 0u);
}

TEST(RedisShareUnitTest, UnreachableRedisIsAnError) {
  Store s(StoreConfig{});
  auto r = RedisShare::start("redis://127.0.0.1:" + std::to_string(test::free_port()), "p:", s);
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_NE(std::get<std::string>(r).find("cannot connect"), std::string::npos);
}

TEST(RedisShareUnitTest, ParsesUrls) {
  auto a = std::get<RedisAddress>(parse_redis_url("redis://:secret@example:6380/2"));
  EXPECT_EQ(a.host, "example");
  EXPECT_EQ(a.port, 6380);
  EXPECT_EQ(a.db, 2);
  EXPECT_EQ(a.password, "secret");
  auto b = std::get<RedisAddress>(parse_redis_url("redis://localhost"));
  EXPECT_EQ(b.port, 6379);
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_redis_url("http://x")));
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_redis_url("redis://h:notaport")));
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_redis_url("redis://h:99999")));
}

TEST(EntryCodecTest, RoundTripAndMalformedInput) {
  Q q("北京今天天气怎么样？");
  Entry e;
  e.id = 0x1234abcd;
  e.ns = "ns";
  e.query = q.text;
  e.vec = q.v;
  e.answers = {Answer{"晴", "stop", 1}, Answer{"多云", "stop", 2}};
  e.threshold = 0.93;
  e.cost_ms = 812.5;
  e.created_ms = 1;
  e.expires_ms = 2;
  auto d = decode_entry(encode_entry(e));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->id, e.id);
  EXPECT_EQ(d->query, e.query);
  EXPECT_EQ(d->vec, e.vec);
  ASSERT_EQ(d->answers.size(), 2u);
  EXPECT_EQ(d->answers[1].content, "多云");
  EXPECT_EQ(d->features.normalized, q.f.normalized);
  EXPECT_DOUBLE_EQ(d->threshold, 0.93);
  EXPECT_FALSE(decode_entry("not json"));
  EXPECT_FALSE(decode_entry("{\"id\": 1}"));
  EXPECT_FALSE(decode_entry(""));
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) EXPECT_EQ(base64_decode(base64_encode(s)), s);
  EXPECT_FALSE(base64_decode("abc"));
  EXPECT_FALSE(base64_decode("ab=c"));
}

}  // namespace
}  // namespace kuai::cache
