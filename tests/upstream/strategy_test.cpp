// Backend order per strategy (upstream/strategy.h), on slots with set moving averages.
#include "upstream/strategy.h"

#include <gtest/gtest.h>

#include <map>

namespace kuai::upstream {
namespace {

class Named : public Backend {
 public:
  explicit Named(std::string n) : name_(std::move(n)) {}
  std::string describe() const override { return name_; }
  boost::asio::awaitable<api::ChatResponse> complete(const api::ChatRequest&) override { co_return api::ChatResponse{}; }
  boost::asio::awaitable<void> stream(const api::ChatRequest&, ChunkSink&) override { co_return; }
  boost::asio::awaitable<api::Embeddings> embed(const api::EmbeddingRequest&) override { co_return api::Embeddings{}; }

 private:
  std::string name_;
};

std::vector<std::shared_ptr<BackendSlot>> slots(std::vector<double> weights) {
  std::vector<std::shared_ptr<BackendSlot>> v;
  for (size_t i = 0; i < weights.size(); ++i)
    v.push_back(std::make_shared<BackendSlot>(std::make_shared<Named>("b" + std::to_string(i)), weights[i]));
  return v;
}

std::string names(const std::vector<BackendSlot*>& v) {
  std::string s;
  for (auto* b : v) s += b->label();
  return s;
}

TEST(Strategy, NamesParse) {
  EXPECT_EQ(parse_strategy("ordered"), Strategy::ordered);
  EXPECT_EQ(parse_strategy("fastest"), Strategy::fastest);
  EXPECT_EQ(parse_strategy("weighted"), Strategy::weighted);
  EXPECT_FALSE(parse_strategy("random"));
}

TEST(Strategy, OrderedKeepsTheListedOrder) {
  auto b = slots({1, 1, 1});
  for (uint64_t n = 0; n < 40; ++n) EXPECT_EQ(names(order_backends(b, Strategy::ordered, n, false)), "b0b1b2");
}

TEST(Strategy, FastestPutsUnmeasuredFirstThenTheLowestAverageAndExploresEvery20th) {
  auto b = slots({1, 1, 1});
  b[0]->observe_latency(50);
  b[1]->observe_latency(10);
  EXPECT_EQ(names(order_backends(b, Strategy::fastest, 0, false)), "b2b1b0");  // b2 has no sample
  b[2]->observe_latency(30);
  EXPECT_EQ(names(order_backends(b, Strategy::fastest, 1, false)), "b1b2b0");
  EXPECT_EQ(names(order_backends(b, Strategy::fastest, 19, false)), "b2b1b0");  // explore
  // Streams sort by time to first token, which only b0 has.
  b[0]->observe_ttft(5);
  EXPECT_EQ(names(order_backends(b, Strategy::fastest, 1, true)).substr(4), "b0");
}

TEST(Strategy, WeightedDrawsTheFirstByWeight) {
  auto b = slots({3, 1, 0});
  std::map<std::string, int> first;
  for (uint64_t n = 0; n < 4000; ++n) {
    auto v = order_backends(b, Strategy::weighted, n, false);
    ASSERT_EQ(v.size(), 3u);
    first[v[0]->label()]++;
  }
  EXPECT_EQ(first["b2"], 0);  // weight 0 never goes first
  EXPECT_NEAR(first["b0"] / 4000.0, 0.75, 0.05);
}

}  // namespace
}  // namespace kuai::upstream
